"""The demo page keeps its session in the API's HttpOnly refresh cookie, in real Chromium: for the
page that the API serves itself and for a copy on another origin listed in CORS_ORIGINS. Both run
on http://127.0.0.1, where Chromium stores a Secure cookie (a loopback address is a secure
context): the tests check that it does, rather than assume it."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import pytest
from playwright.async_api import BrowserContext, Cookie, Page, Route, expect
from sqlalchemy import func, select
from sqlmodel import col

from lib.db import get_engine
from lib.models import RefreshToken
from tests.fixtures.browser import REFRESH_PATH, Site, Traffic, watch
from tests.fixtures.tokens import unverified_claims
from tests.public.test_demo_page import assert_clean, profile_field, sign_up, storage

COOKIE = "__Host-refresh_token"
WEEK = 7 * 24 * 3600
ORIGINS = ["api", "listed"]


def page_url(site: Site, origin: str) -> str:
    return f"{site.api}/" if origin == "api" else f"{site.listed_origin}/?api={site.api}"


async def refresh_cookies(context: BrowserContext, site: Site) -> list[Cookie]:
    """The browser's refresh cookies for the API's host (all of them: Playwright's filter by URL
    leaves out Secure cookies of http:// URLs, which is what this checks that Chromium stored)."""
    host = site.api.split("://")[1].split(":")[0]
    return [
        cookie for cookie in await context.cookies() if (cookie.get("name"), cookie.get("domain")) == (COOKIE, host)
    ]


async def the_cookie(context: BrowserContext, site: Site) -> Cookie:
    cookies = await refresh_cookies(context, site)
    assert len(cookies) == 1, cookies
    return cookies[0]


async def successors(token: str) -> int:
    """How many refresh tokens were issued in exchange for `token`."""
    parent = uuid.UUID(unverified_claims(token)["jti"])
    async with get_engine().connect() as connection:
        statement = select(func.count()).select_from(RefreshToken).where(col(RefreshToken.parent_id) == parent)
        return int((await connection.execute(statement)).scalar_one())


async def signed_up(page: Page, site: Site, origin: str, name: str) -> Traffic:
    traffic = watch(page)
    await page.goto(page_url(site, origin))
    await sign_up(page, email=f"{name}@example.com", username=name)
    await expect(profile_field(page, "username")).to_have_text(name)
    return traffic


@pytest.mark.parametrize("origin", ORIGINS)
async def test_the_refresh_token_lives_in_an_httponly_cookie_that_script_cannot_see(
    page: Page, site: Site, origin: str
) -> None:
    traffic = watch(page)
    await page.goto(page_url(site, origin))
    async with page.expect_response(lambda r: r.url.endswith("/api/v1/sign-up")) as answered:
        await sign_up(page, email="hedy@example.com", username="hedy")
    await expect(profile_field(page, "username")).to_have_text("hedy")
    body = await (await answered.value).json()
    assert set(body) == {"access_token", "token_type", "expires_in"}

    cookie = await the_cookie(page.context, site)
    assert (cookie.get("httpOnly"), cookie.get("secure"), cookie.get("sameSite")) == (True, True, "Lax")
    assert (cookie.get("domain"), cookie.get("path")) == ("127.0.0.1", "/")
    assert abs(cookie.get("expires", 0) - (time.time() + WEEK)) < 120
    claims = unverified_claims(cookie.get("value", ""))
    assert claims["type"] == "refresh"
    assert claims["sid"] == unverified_claims(body["access_token"])["sid"]

    assert await page.evaluate("() => document.cookie") == ""
    stored = await storage(page)
    assert stored == {"session": {}, "local": {f"authDemo.signedIn:{site.api}": "cookie"}}
    assert cookie.get("value", "") not in json.dumps(stored)
    assert_clean(traffic)


@pytest.mark.parametrize("origin", ORIGINS)
async def test_a_reload_keeps_the_session_with_one_cookie_refresh_and_logout_clears_the_cookie(
    page: Page, site: Site, origin: str
) -> None:
    traffic = await signed_up(page, site, origin, "katherine")
    first = await the_cookie(page.context, site)

    async with page.expect_request(lambda r: r.url.endswith(REFRESH_PATH)) as sent:
        await page.reload()
    await expect(profile_field(page, "username")).to_have_text("katherine")
    refresh = await sent.value
    assert refresh.post_data is None
    headers = await refresh.all_headers()
    assert headers["x-refresh-token-transport"] == "cookie"
    assert headers["cookie"] == f"{COOKIE}={first.get('value')}", "Chromium sent the Secure cookie over http"
    assert traffic.refreshes() == 1
    rotated = await the_cookie(page.context, site)
    assert rotated.get("value") != first.get("value")

    await page.get_by_role("button", name="Log out").click()
    await expect(page.locator("#message")).to_have_text("You are logged out.")
    assert await refresh_cookies(page.context, site) == []
    assert await storage(page) == {"session": {}, "local": {}}
    await page.reload()
    await expect(page.locator("#login-form")).to_be_visible()
    assert traffic.refreshes() == 1, "a signed-out page does not try the cookie"
    assert_clean(traffic)


@pytest.mark.parametrize("origin", ORIGINS)
async def test_two_tabs_refreshing_at_once_both_stay_signed_in(page: Page, site: Site, origin: str) -> None:
    traffic = await signed_up(page, site, origin, "dorothy")
    second = await page.context.new_page()
    second_traffic = watch(second)
    await second.goto(page_url(site, origin))  # the shared cookie signs the new tab in
    await expect(profile_field(second, "username")).to_have_text("dorothy")
    shared = (await the_cookie(page.context, site)).get("value", "")

    # Both refreshes are held until both are on their way, so that both carry the same cookie.
    held: list[Route] = []
    both_sent = asyncio.Event()

    async def hold(route: Route) -> None:
        held.append(route)
        if len(held) == 2:
            both_sent.set()
        await asyncio.wait_for(both_sent.wait(), timeout=10)
        await route.continue_()

    tabs = (page, second)
    for tab in tabs:
        await tab.route(f"{site.api}{REFRESH_PATH}", hold)
    await asyncio.gather(*(tab.get_by_role("button", name="Refresh tokens now").click() for tab in tabs))
    for tab in tabs:
        await expect(tab.locator("#message")).to_have_text("Tokens renewed.")
        await tab.unroute(f"{site.api}{REFRESH_PATH}")
    # Both presented the shared cookie (none presented its successor, which nothing replaced), and
    # the second, within the grace window, got the very refresh token the first got.
    kept = (await the_cookie(page.context, site)).get("value", "")
    assert await successors(shared) == 1
    assert await successors(kept) == 0
    async with get_engine().connect() as connection:
        kept_id = uuid.UUID(unverified_claims(kept)["jti"])
        parent = await connection.execute(select(col(RefreshToken.parent_id)).where(col(RefreshToken.id) == kept_id))
    assert str(parent.scalar_one()) == unverified_claims(shared)["jti"]

    # The one new cookie is alive: each tab refreshes on, and reloads.
    for tab in tabs:
        await tab.get_by_role("button", name="Refresh tokens now").click()
        await expect(tab.locator("#message")).to_have_text("Tokens renewed.")
        await tab.reload()
        await expect(profile_field(tab, "username")).to_have_text("dorothy")
    await expect(page.locator("#sessions tbody tr")).to_have_count(1)
    assert_clean(traffic)
    assert_clean(second_traffic)


async def test_a_page_on_an_unlisted_origin_cannot_refresh(page: Page, site: Site) -> None:
    await signed_up(page, site, "api", "margaret")
    cookie = await the_cookie(page.context, site)

    other = await page.context.new_page()
    await other.goto(f"{site.unlisted_origin}/?api={site.api}")
    # The page's own refresh (the custom header, with credentials): CORS refuses the preflight.
    outcome = await other.evaluate(
        """api => fetch(api + "/api/v1/refresh", {
             method: "POST", credentials: "include", headers: {"X-Refresh-Token-Transport": "cookie"},
           }).then(() => "answered", () => "blocked")""",
        site.api,
    )
    assert outcome == "blocked"
    # A simple request needs no preflight and carries the cookie (the origins share a site): refused.
    async with other.expect_response(lambda r: r.url.endswith(REFRESH_PATH)) as answered:
        await other.evaluate(
            'api => fetch(api + "/api/v1/refresh", {method: "POST", credentials: "include", mode: "no-cors"})',
            site.api,
        )
    refused = await answered.value
    assert refused.status == 403  # csrf_failed (the body of a no-cors answer is opaque, to the test too)
    # The demo page itself, told that it has a session, cannot use it either.
    await other.evaluate('api => localStorage.setItem("authDemo.signedIn:" + api, "cookie")', site.api)
    await other.reload()
    await expect(other.locator("#message")).to_have_text(
        f"Could not reach the API at {site.api} (blocked by CORS or offline)."
    )

    assert await the_cookie(page.context, site) == cookie
    assert await successors(cookie.get("value", "")) == 0, "the cookie was never consumed"
    await page.get_by_role("button", name="Refresh tokens now").click()
    await expect(page.locator("#message")).to_have_text("Tokens renewed.")
