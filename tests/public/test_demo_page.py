"""The demo page in real Chromium, against the API served over HTTP on the suite's database."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from playwright.async_api import Locator, Page, Response, expect

from tests.fixtures.browser import REFRESH_PATH, Site, Traffic, wait_until, watch
from tests.fixtures.roles import user_row
from tests.fixtures.users import PASSWORD, UserFactory

NEW_PASSWORD = "a brand new passphrase"
COOKIE = "__Host-refresh_token"


async def sign_up(page: Page, *, email: str, username: str, password: str = PASSWORD, first_name: str = "") -> None:
    form = page.locator("#sign-up-form")
    await form.get_by_label("Email").fill(email)
    await form.get_by_label("Username").fill(username)
    await form.get_by_label("New password").fill(password)
    await form.get_by_label("First name").fill(first_name)
    await form.get_by_role("button", name="Create account").click()


async def log_in(page: Page, identifier: str, password: str) -> None:
    form = page.locator("#login-form")
    await form.get_by_label("Email or username").fill(identifier)
    await form.get_by_label("Password").fill(password)
    await form.get_by_role("button", name="Sign in").click()


def profile_field(page: Page, name: str) -> Locator:
    return page.locator(f'#profile [data-field="{name}"]')


async def storage(page: Page) -> dict[str, dict[str, str]]:
    text = await page.evaluate("() => JSON.stringify({session: {...sessionStorage}, local: {...localStorage}})")
    return dict(json.loads(text))


def assert_clean(traffic: Traffic, *, expected_statuses: tuple[int, ...] = ()) -> None:
    """No script error, and nothing on the console but the failed responses the test caused."""
    assert traffic.page_errors == []
    expected = tuple(f"the server responded with a status of {status} " for status in expected_statuses)
    assert [error for error in traffic.console_errors if not any(text in error for text in expected)] == []


async def test_sign_up_verify_edit_reload_logout_login(page: Page, site: Site, tmp_path: Path) -> None:
    traffic = watch(page)
    await page.goto(f"{site.api}/")
    await expect(page.locator("[data-api-base]")).to_have_text(site.api)
    async with page.expect_response(lambda r: r.url.endswith("/api/v1/sign-up")) as signed_up:
        await sign_up(page, email="grace@example.com", username="grace", first_name="Grace")
    await expect(page.locator("#message")).to_contain_text("Welcome! We sent a link to grace@example.com")
    await expect(profile_field(page, "username")).to_have_text("grace")
    await expect(profile_field(page, "verified")).to_have_text("not verified")
    await expect(page.locator("#sessions tbody tr")).to_have_count(1)
    await expect(page.locator("#sessions tbody tr")).to_contain_text("this tab")

    # Tokens live where app.js says: the refresh token in the HttpOnly cookie, the access token nowhere.
    pair = await (await signed_up.value).json()
    assert "refresh_token" not in pair
    stored = await storage(page)
    assert stored == {"session": {}, "local": {f"authDemo.signedIn:{site.api}": "cookie"}}
    assert pair["access_token"] not in json.dumps(stored)

    # The verification link from the email, opened in another tab.
    link = site.link(site.mailbox.last("grace@example.com", "Confirm"), "verify-email")
    verify_tab = await page.context.new_page()
    verify_traffic = watch(verify_tab)
    await verify_tab.goto(link)
    await expect(verify_tab.locator("#verify-status")).to_have_text("Your email address is confirmed. Thank you!")
    assert "token=" not in verify_tab.url
    assert_clean(verify_traffic)
    await verify_tab.close()

    await page.get_by_role("button", name="Reload").click()
    await expect(profile_field(page, "verified")).to_have_text("verified")

    form = page.locator("#profile-form")
    await form.get_by_label("Last name").fill("Hopper")
    await form.get_by_label("Background questionnaire").fill('{"team": "compilers"}')
    await form.get_by_role("button", name="Save profile").click()
    await expect(page.locator("#message")).to_have_text("Profile saved.")
    await expect(profile_field(page, "full_name")).to_have_text("Grace Hopper")

    refreshes_before_reload = traffic.refreshes()
    await page.reload()
    await expect(profile_field(page, "full_name")).to_have_text("Grace Hopper")
    await expect(page.locator("#profile-form").get_by_label("Background questionnaire")).to_have_value(
        re.compile(r'"team": "compilers"')
    )
    assert traffic.refreshes() == refreshes_before_reload + 1, "a reload costs exactly one refresh"

    screenshot = tmp_path / "signed-in.png"
    await page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 10_000

    await page.get_by_role("button", name="Log out").click()
    await expect(page.locator("#message")).to_have_text("You are logged out.")
    await expect(page.locator("#login-form")).to_be_visible()
    assert await storage(page) == {"session": {}, "local": {}}
    await page.reload()
    await expect(page.locator("#login-form")).to_be_visible()
    await expect(page.locator("#signed-in")).to_be_hidden()

    await log_in(page, "grace", PASSWORD)
    await expect(page.locator("#message")).to_have_text("You are signed in.")
    await expect(profile_field(page, "full_name")).to_have_text("Grace Hopper")
    await page.get_by_role("button", name="Log out").click()
    await expect(page.locator("#login-form")).to_be_visible()
    assert_clean(traffic)


async def test_forgot_password_link_sets_a_new_password(page: Page, site: Site, users: UserFactory) -> None:
    user = await users.sign_up(first_name="Ada")
    traffic = watch(page)
    await page.goto(f"{site.api}/")
    forgot = page.locator("#forgot-form")
    await forgot.get_by_label("Account email").fill(user.email)
    await forgot.get_by_role("button", name="Email me a reset link").click()
    await expect(page.locator("#message")).to_contain_text("If an account uses this address")

    # The email leaves after the answer: wait for it rather than race it.
    async def reset_email_arrived() -> bool:
        return any("Reset" in received.subject for received in site.mailbox.to(user.email))

    await wait_until(reset_email_arrived, what="the reset email")
    link = site.link(site.mailbox.last(user.email, "Reset"), "reset-password")
    assert link.startswith(f"{site.api}/reset-password?token=")
    await page.goto(link)
    assert "token=" not in page.url, "the token is taken out of the address bar"
    reset = page.locator("#reset-form")
    await reset.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    await reset.get_by_label("Repeat the new password").fill(NEW_PASSWORD + "!")
    await reset.get_by_role("button", name="Set new password").click()
    await expect(page.locator("#message")).to_have_text("Repeated password: does not match the new password.")
    await reset.get_by_label("Repeat the new password").fill(NEW_PASSWORD)
    await reset.get_by_role("button", name="Set new password").click()
    await expect(page.locator("#message")).to_have_text("Your password has been changed. Sign in with the new one.")

    await page.get_by_role("link", name="Back to sign in").click()
    await log_in(page, user.username, user.password)
    await expect(page.locator("#message")).to_have_text("Wrong email/username or password.")
    await log_in(page, user.username, NEW_PASSWORD)
    await expect(profile_field(page, "username")).to_have_text(user.username)

    # The same link a second time: used.
    await page.goto(link)
    await reset.get_by_label("New password", exact=True).fill("yet another passphrase")
    await reset.get_by_label("Repeat the new password").fill("yet another passphrase")
    await reset.get_by_role("button", name="Set new password").click()
    await expect(page.locator("#message")).to_have_text(
        "This link was already used, or a newer one was sent. Ask for a new one."
    )
    assert traffic.page_errors == []


async def test_expired_access_token_is_refreshed_once_for_concurrent_requests(
    page: Page, site: Site, settings_env: Callable[..., None]
) -> None:
    settings_env(ACCESS_TOKEN_EXPIRE_SECONDS="3")
    # The page's clock stands still, so the page cannot see expiry coming: only the API's 401 tells it.
    frozen = datetime.now(UTC)
    await page.clock.set_fixed_time(frozen)
    traffic = watch(page)
    await page.goto(f"{site.api}/")
    async with page.expect_response(lambda r: r.url.endswith("/api/v1/sign-up")) as signed_up:
        await sign_up(page, email="alan@example.com", username="alan")
    await expect(profile_field(page, "username")).to_have_text("alan")
    access_token = (await (await signed_up.value).json())["access_token"]

    async def rejected_as_expired() -> bool:
        async with httpx.AsyncClient() as http:
            response = await http.get(f"{site.api}/api/v1/user/me", headers={"Authorization": f"Bearer {access_token}"})
        return response.status_code == 401 and response.json()["code"] == "token_expired"

    await wait_until(rejected_as_expired, what="the access token to expire")
    assert traffic.refreshes() == 0

    # Reload asks for the profile and the sessions at once: both are refused, one refresh serves both.
    def ok(suffix: str) -> Callable[[Response], bool]:
        return lambda response: response.url.endswith(suffix) and response.status == 200

    async with page.expect_response(ok("/api/v1/user/me")), page.expect_response(ok("/api/v1/user/me/sessions")):
        async with page.expect_response(lambda r: r.url.endswith(REFRESH_PATH)) as refreshed:
            await page.get_by_role("button", name="Reload").click()
    assert traffic.answered(401, "/api/v1/user/me") == 1
    assert traffic.answered(401, "/api/v1/user/me/sessions") == 1
    assert traffic.refreshes() == 1
    await expect(profile_field(page, "username")).to_have_text("alan")
    await expect(page.locator("#message")).to_be_hidden()

    # Five requests in flight with an expired token: five 401s, still one refresh.
    access_token = (await (await refreshed.value).json())["access_token"]
    await wait_until(rejected_as_expired, what="the renewed access token to expire")
    names = await page.evaluate(
        "() => Promise.all(Array.from({length: 5}, () => authDemo.request('/api/v1/user/me').then(u => u.username)))"
    )
    assert names == ["alan"] * 5
    assert traffic.answered(401, "/api/v1/user/me") == 1 + 5
    assert traffic.refreshes() == 2

    # The page's clock moves past the token's lifetime: it renews before sending, once, and no 401.
    await page.clock.set_fixed_time(frozen + timedelta(minutes=5))
    names = await page.evaluate(
        "() => Promise.all(Array.from({length: 5}, () => authDemo.request('/api/v1/user/me').then(u => u.username)))"
    )
    assert names == ["alan"] * 5
    assert traffic.answered(401, "/api/v1/user/me") == 6
    assert traffic.refreshes() == 3
    assert traffic.answered(200, REFRESH_PATH) == 3
    assert_clean(traffic, expected_statuses=(401,))


async def test_page_from_a_listed_origin_uses_the_api(page: Page, site: Site) -> None:
    traffic = watch(page)
    await page.goto(f"{site.listed_origin}/?api={site.api}")
    await expect(page.locator("[data-api-base]")).to_have_text(site.api)
    await sign_up(page, email="barbara@example.com", username="barbara", first_name="Barbara")
    await expect(profile_field(page, "full_name")).to_have_text("Barbara")
    await page.reload()
    await expect(profile_field(page, "full_name")).to_have_text("Barbara")
    api_calls = [request.url for request in traffic.requests if "/api/v1/" in request.url]
    assert api_calls
    assert all(url.startswith(f"{site.api}/api/v1/") for url in api_calls)
    assert_clean(traffic)


async def test_page_from_an_unlisted_origin_is_blocked_and_says_so(page: Page, site: Site) -> None:
    traffic = watch(page)
    await page.goto(f"{site.unlisted_origin}/?api={site.api}")
    await sign_up(page, email="edsger@example.com", username="edsger")
    await expect(page.locator("#message")).to_have_text(
        f"Could not reach the API at {site.api} (blocked by CORS or offline)."
    )
    await expect(page.locator("#sign-up-form")).to_be_visible()
    # The preflight was refused, so the sign-up itself never reached the API.
    assert await user_row("edsger@example.com") is None
    assert any("CORS" in error for error in traffic.console_errors)
    assert traffic.page_errors == []


async def test_error_messages(page: Page, site: Site, users: UserFactory, settings_env: Callable[..., None]) -> None:
    settings_env(REFRESH_REUSE_GRACE_SECONDS="0")  # a stolen copy used just before counts as reuse at once
    taken = await users.sign_up(username="taken")
    traffic = watch(page)
    await page.goto(f"{site.api}/")
    message = page.locator("#message")

    await sign_up(page, email=taken.email, username="someone")
    await expect(message).to_have_text(
        "An account with this email address already exists. Sign in, or reset its password."
    )
    await sign_up(page, email="new@example.com", username="taken")
    await expect(message).to_have_text("This username is taken; choose another one.")
    await sign_up(page, email="new@example.com", username="newcomer", password="short")
    await expect(message).to_have_text(re.compile(r"^Password: .+"))
    await expect(page.locator("#sign-up-form").get_by_label("New password")).to_have_attribute("aria-invalid", "true")

    await log_in(page, taken.username, "wrong password")
    await expect(message).to_have_text("Wrong email/username or password.")

    await sign_up(page, email="new@example.com", username="newcomer")
    await expect(profile_field(page, "username")).to_have_text("newcomer")
    # Sign-up has just sent a verification email: another one so soon is throttled.
    await page.get_by_role("button", name="Resend verification email").click()
    await expect(message).to_have_text(re.compile(r"^Too many requests\. Try again in \d+ seconds\.$"))

    # A copy of the refresh token is used elsewhere: the page's next refresh is reuse, and the session ends.
    stolen = next(cookie["value"] for cookie in await page.context.cookies() if cookie["name"] == COOKIE)
    async with httpx.AsyncClient() as http:
        used_elsewhere = await http.post(f"{site.api}{REFRESH_PATH}", json={"refresh_token": stolen})
    assert used_elsewhere.status_code == 200
    await page.get_by_role("button", name="Refresh tokens now").click()
    await expect(message).to_have_text(
        "Your session was ended because its refresh token was used twice (it may have been copied). Sign in again."
    )
    await expect(page.locator("#login-form")).to_be_visible()
    assert await storage(page) == {"session": {}, "local": {}}
    assert traffic.page_errors == []
