"""/docs in real Chromium with no internet: every request off the service's own origin is
aborted, and Swagger UI still renders, logs in through its "Authorize" dialog (the OAuth 2.0
password flow) and calls an authenticated operation."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.async_api import Browser, Route, expect

from api._local import create_local_app
from tests.fixtures.live import serve
from tests.fixtures.users import PASSWORD


@pytest.fixture
def live_api() -> Iterator[str]:
    with serve(create_local_app()) as base_url:
        yield base_url


async def test_docs_render_offline_and_authorize_logs_in(browser: Browser, live_api: str) -> None:
    async with httpx.AsyncClient(base_url=live_api) as http:
        signed_up = await http.post(
            "/api/v1/sign-up", json={"email": "docs@example.com", "username": "docsuser", "password": PASSWORD}
        )
        assert signed_up.status_code == 201, signed_up.text
        operations = sum(len(methods) for methods in (await http.get("/openapi.json")).json()["paths"].values())

    context = await browser.new_context(viewport={"width": 1200, "height": 900})
    context.set_default_timeout(15_000)
    blocked: list[str] = []

    async def only_the_service(route: Route) -> None:
        if route.request.url.startswith(f"{live_api}/"):
            await route.continue_()
        else:
            blocked.append(route.request.url)
            await route.abort("internetdisconnected")

    await context.route("**/*", only_the_service)
    page = await context.new_page()
    page_errors: list[str] = []
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    try:
        await page.goto(f"{live_api}/docs", wait_until="load")
        assert blocked == []  # its scripts and styles are the service's own, not a CDN's
        await expect(page.locator("#operations-auth-login")).to_be_visible()
        await expect(page.locator(".opblock")).to_have_count(operations)

        # "Authorize": the OAuth2 password flow posts the form to the tokenUrl, /api/v1/login.
        await page.locator(".auth-wrapper button.authorize").click()
        dialog = page.locator(".auth-container").filter(has_text="OAuth2PasswordBearer")
        await dialog.locator("#oauth_username").fill("docsuser")
        await dialog.locator("#oauth_password").fill(PASSWORD)
        async with page.expect_response(lambda response: response.url.endswith("/api/v1/login")) as login:
            await dialog.locator("button.modal-btn.authorize").click()
        assert (await login.value).status == 200
        await expect(dialog.get_by_role("heading", name="Authorized")).to_be_visible()
        await dialog.locator("button.btn-done").click()

        # "Try it out" of GET /api/v1/user/me sends the token the dialog obtained.
        me = page.locator("#operations-user-get_me")
        await me.locator(".opblock-summary").click()
        await me.get_by_role("button", name="Try it out").click()
        async with page.expect_response(lambda response: response.url.endswith("/api/v1/user/me")) as answer:
            await me.get_by_role("button", name="Execute").click()
        response = await answer.value
        assert response.status == 200
        assert (await response.request.header_value("authorization") or "").startswith("Bearer ")
        await expect(me.locator(".live-responses-table tbody .response-col_status")).to_have_text("200")
        await expect(me.locator(".live-responses-table")).to_contain_text('"username": "docsuser"')
    finally:
        await context.close()
    assert blocked == []  # nor did Swagger UI ask for anything outside the service later
    assert page_errors == []
