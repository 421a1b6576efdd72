"""A frontend on another site, in Chromium that blocks third-party cookies: the demo page on
http://localhost:<p2> uses the API on http://127.0.0.1:<p1> with REFRESH_COOKIE_SAMESITE=none and
credentialed CORS. The refresh cookie is Partitioned (CHIPS), so the browser keeps it for that
frontend: sign-in, reload, two tabs and logout work. (Chromium treats both loopback origins as
secure contexts, so it stores the Secure, `__Host-` cookie over plain http.)"""

from __future__ import annotations

import asyncio
import json

from playwright.async_api import Browser, BrowserContext, Cookie, Page, expect
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from tests.fixtures.browser import REFRESH_PATH, CrossSite, watch
from tests.fixtures.live import serve
from tests.fixtures.tokens import unverified_claims
from tests.public.test_demo_page import assert_clean, profile_field, sign_up, storage

COOKIE = "__Host-refresh_token"


async def refresh_cookies(context: BrowserContext, cross_site: CrossSite) -> list[Cookie]:
    host = cross_site.api.split("://")[1].split(":")[0]
    return [
        cookie for cookie in await context.cookies() if (cookie.get("name"), cookie.get("domain")) == (COOKIE, host)
    ]


async def the_cookie(context: BrowserContext, cross_site: CrossSite) -> Cookie:
    cookies = await refresh_cookies(context, cross_site)
    assert len(cookies) == 1, cookies
    return cookies[0]


async def test_sign_in_reload_and_logout_keep_and_clear_the_partitioned_cookie(
    strict_page: Page, cross_site: CrossSite
) -> None:
    page = strict_page
    traffic = watch(page)
    await page.goto(cross_site.page_url)
    async with page.expect_response(lambda r: r.url.endswith("/api/v1/sign-up")) as answered:
        await sign_up(page, email="grace@example.com", username="grace")
    await expect(profile_field(page, "username")).to_have_text("grace")
    assert set(await (await answered.value).json()) == {"access_token", "token_type", "expires_in"}

    cookie = await the_cookie(page.context, cross_site)
    assert (cookie.get("httpOnly"), cookie.get("secure"), cookie.get("sameSite")) == (True, True, "None")
    assert (cookie.get("path"), cookie.get("partitionKey")) == ("/", "http://localhost")
    assert unverified_claims(cookie.get("value", ""))["type"] == "refresh"

    async with page.expect_request(lambda r: r.url.endswith(REFRESH_PATH)) as sent:
        await page.reload()
    await expect(profile_field(page, "username")).to_have_text("grace")
    headers = await (await sent.value).all_headers()
    assert headers["cookie"] == f"{COOKIE}={cookie.get('value')}", "the browser sent the partitioned cookie"
    assert traffic.refreshes() == 1
    assert (await the_cookie(page.context, cross_site)).get("value") != cookie.get("value")

    await page.get_by_role("button", name="Log out").click()
    await expect(page.locator("#message")).to_have_text("You are logged out.")
    assert await refresh_cookies(page.context, cross_site) == []
    assert await storage(page) == {"session": {}, "local": {}}
    await page.reload()
    await expect(page.locator("#login-form")).to_be_visible()
    assert_clean(traffic)


async def test_two_tabs_share_the_partitioned_session(strict_page: Page, cross_site: CrossSite) -> None:
    page = strict_page
    traffic = watch(page)
    await page.goto(cross_site.page_url)
    await sign_up(page, email="barbara@example.com", username="barbara")
    await expect(profile_field(page, "username")).to_have_text("barbara")

    second = await page.context.new_page()
    second_traffic = watch(second)
    await second.goto(cross_site.page_url)  # the same partition: the cookie signs the new tab in
    await expect(profile_field(second, "username")).to_have_text("barbara")
    tabs = (page, second)
    await asyncio.gather(*(tab.get_by_role("button", name="Refresh tokens now").click() for tab in tabs))
    for tab in tabs:
        await expect(tab.locator("#message")).to_have_text("Tokens renewed.")
    for tab in tabs:
        await tab.reload()
        await expect(profile_field(tab, "username")).to_have_text("barbara")
    await expect(second.locator("#sessions tbody tr")).to_have_count(1)

    await second.get_by_role("button", name="Log out").click()
    await expect(second.locator("#message")).to_have_text("You are logged out.")
    assert await refresh_cookies(page.context, cross_site) == []
    await page.reload()
    await expect(page.locator("#login-form")).to_be_visible()
    assert_clean(traffic)
    assert_clean(second_traffic)


# A stand-in API that sets one SameSite=None cookie, Partitioned or not, and says what it got back.
async def _set(request: Request) -> Response:
    response = JSONResponse({})
    attributes = "; Partitioned" if request.query_params.get("partitioned") else ""
    response.headers.append("set-cookie", f"probe=1; Path=/; Secure; HttpOnly; SameSite=None{attributes}")
    return _cors(request, response)


async def _read(request: Request) -> Response:
    return _cors(request, JSONResponse(dict(request.cookies)))


def _cors(request: Request, response: Response) -> Response:
    response.headers["access-control-allow-origin"] = request.headers.get("origin", "")
    response.headers["access-control-allow-credentials"] = "true"
    return response


async def test_the_browser_blocks_an_unpartitioned_third_party_cookie(strict_browser: Browser) -> None:
    """The set-up above proves something only if this browser does block third-party cookies."""
    probe = Starlette(routes=[Route("/set", _set, methods=["POST"]), Route("/read", _read, methods=["POST"])])
    page_app = Starlette(routes=[Route("/", lambda _request: HTMLResponse("<p>page</p>"))])
    with serve(probe) as api, serve(page_app) as served:
        context = await strict_browser.new_context()
        try:
            page = await context.new_page()
            await page.goto(served.replace("://127.0.0.1:", "://localhost:") + "/")
            seen = {}
            for partitioned in ("", "1"):
                seen[partitioned] = await page.evaluate(
                    """async ([api, partitioned]) => {
                         const options = {method: "POST", credentials: "include"};
                         await fetch(`${api}/set?partitioned=${partitioned}`, options);
                         return (await fetch(`${api}/read`, options)).json();
                       }""",
                    [api, partitioned],
                )
        finally:
            await context.close()
    assert seen == {"": {}, "1": {"probe": "1"}}, json.dumps(seen)
