"""Browser sessions: with `X-Refresh-Token-Transport: cookie` the refresh token travels in an
HttpOnly cookie, never in a body; the cookie is read only by a body-less refresh that passes the
CSRF checks; logout and revoke clear it; without the header nothing changes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from http.cookies import Morsel, SimpleCookie

import httpx
import pytest

from api._local import create_local_app
from tests.fixtures.roles import user_row
from tests.fixtures.tokens import unverified_claims
from tests.fixtures.users import PASSWORD, UserFactory, bearer

COOKIE = "__Secure-refresh_token"
BROWSER = {"X-Refresh-Token-Transport": "cookie"}
LISTED_ORIGIN = "http://localhost:3000"  # in the default CORS_ORIGINS
WEEK = 7 * 24 * 3600


def refresh_cookie(response: httpx.Response) -> Morsel[str] | None:
    """The refresh cookie that `response` sets (None when it sets none); fails on two of them."""
    found = []
    for header in response.headers.get_list("set-cookie"):
        jar: SimpleCookie = SimpleCookie()
        jar.load(header)
        found += [morsel for name, morsel in jar.items() if name == COOKIE]
    assert len(found) <= 1, response.headers.get_list("set-cookie")
    return found[0] if found else None


def assert_cookie_attributes(morsel: Morsel[str], *, max_age: int, samesite: str = "lax") -> None:
    assert morsel["httponly"] is True
    assert morsel["secure"] is True
    assert morsel["samesite"] == samesite
    assert morsel["path"] == "/api/v1"
    assert morsel["max-age"] == str(max_age)
    assert morsel["domain"] == ""  # host-only: the API's host, no other


def issued_cookie(response: httpx.Response) -> str:
    """The refresh token a cookie-transport answer set, after checking the answer's shape."""
    assert response.status_code in (200, 201), response.text
    assert set(response.json()) == {"access_token", "token_type", "expires_in"}
    assert response.headers["cache-control"] == "no-store"
    morsel = refresh_cookie(response)
    assert morsel is not None
    assert_cookie_attributes(morsel, max_age=WEEK)
    assert unverified_claims(morsel.value)["type"] == "refresh"
    return morsel.value


async def cookie_refresh(client: httpx.AsyncClient, token: str, **headers: str) -> httpx.Response:
    return await client.post("/api/v1/refresh", headers={**BROWSER, **headers, "Cookie": f"{COOKIE}={token}"})


async def browser_login(client: httpx.AsyncClient, users: UserFactory) -> str:
    user = await users.sign_up()
    response = await client.post(
        "/api/v1/login", headers=BROWSER, data={"username": user.username, "password": PASSWORD}
    )
    return issued_cookie(response)


async def test_sign_up_with_the_header_sets_the_cookie_and_leaves_it_out_of_the_body(
    client: httpx.AsyncClient,
) -> None:
    payload = {"email": "cookie@example.com", "username": "cookie", "password": PASSWORD}
    response = await client.post("/api/v1/sign-up", headers=BROWSER, json=payload)
    assert response.status_code == 201
    token = issued_cookie(response)
    assert token not in response.text
    assert (await client.get("/api/v1/user/me", headers=bearer(response.json()["access_token"]))).status_code == 200


@pytest.mark.parametrize("form", [True, False], ids=["form", "json"])
async def test_login_with_the_header_sets_the_cookie(client: httpx.AsyncClient, users: UserFactory, form: bool) -> None:
    user = await users.sign_up()
    credentials = {"username": user.email, "password": PASSWORD}
    response = await (
        client.post("/api/v1/login", headers=BROWSER, data=credentials)
        if form
        else client.post("/api/v1/login", headers=BROWSER, json=credentials)
    )
    issued_cookie(response)


async def test_refresh_grant_and_body_refresh_with_the_header_answer_with_the_cookie(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    user = await users.sign_up()
    grant = await client.post(
        "/api/v1/login", headers=BROWSER, data={"grant_type": "refresh_token", "refresh_token": user.refresh_token}
    )
    from_grant = issued_cookie(grant)
    body = await client.post("/api/v1/refresh", headers=BROWSER, json={"refresh_token": from_grant})
    issued_cookie(body)


async def test_password_change_with_the_header_sets_the_new_sessions_cookie(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    user = await users.sign_up()
    response = await client.post(
        "/api/v1/user/me/password",
        headers={**BROWSER, **user.headers},
        json={"current_password": PASSWORD, "new_password": "a brand new passphrase"},
    )
    token = issued_cookie(response)
    assert (await cookie_refresh(client, token)).status_code == 200


async def test_refresh_without_a_body_rotates_the_cookie(client: httpx.AsyncClient, users: UserFactory) -> None:
    first = await browser_login(client, users)
    response = await cookie_refresh(client, first)
    second = issued_cookie(response)
    assert second != first
    assert unverified_claims(second)["sid"] == unverified_claims(first)["sid"]
    assert (await client.get("/api/v1/user/me", headers=bearer(response.json()["access_token"]))).status_code == 200
    assert (await cookie_refresh(client, second)).status_code == 200


async def test_cookie_jar_of_a_client_keeps_the_session(client: httpx.AsyncClient, users: UserFactory) -> None:
    """What a browser does: store the cookie, send it back, replace it, and drop it on logout."""
    user = await users.sign_up()
    transport = httpx.ASGITransport(app=create_local_app())
    # https: a cookie jar sends a Secure cookie over https only.
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver", headers=BROWSER) as browser:
        login = await browser.post("/api/v1/login", data={"username": user.username, "password": PASSWORD})
        assert login.status_code == 200
        assert browser.cookies.get(COOKIE, path="/api/v1")
        for _ in range(2):
            refreshed = await browser.post("/api/v1/refresh")
            assert refreshed.status_code == 200, refreshed.text
        logout = await browser.post("/api/v1/logout", headers=bearer(refreshed.json()["access_token"]))
        assert logout.status_code == 204
        assert COOKIE not in browser.cookies
        after = await browser.post("/api/v1/refresh")
        assert after.status_code == 401
        assert after.json()["code"] == "not_authenticated"


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-Refresh-Token-Transport": "cookie", "Origin": "https://evil.example"}, {**BROWSER, "Origin": "null"}],
    ids=["without-header", "unlisted-origin", "opaque-origin"],
)
async def test_cookie_refresh_without_the_csrf_proofs_is_refused_and_consumes_nothing(
    client: httpx.AsyncClient, users: UserFactory, headers: dict[str, str]
) -> None:
    token = await browser_login(client, users)
    response = await client.post("/api/v1/refresh", headers={**headers, "Cookie": f"{COOKIE}={token}"})
    assert response.status_code == 403
    body = response.json()
    assert body["code"] == "csrf_failed"
    assert body["error"] == "invalid_request"
    assert body["error_description"]
    assert refresh_cookie(response) is None
    assert (await cookie_refresh(client, token)).status_code == 200, "the refused request consumed nothing"


@pytest.mark.parametrize("origin", [LISTED_ORIGIN, "http://testserver", "https://testserver"])
async def test_cookie_refresh_from_a_listed_origin_or_the_apis_own_is_allowed(
    client: httpx.AsyncClient, users: UserFactory, origin: str
) -> None:
    token = await browser_login(client, users)
    issued_cookie(await cookie_refresh(client, token, Origin=origin))


async def test_cookie_refresh_without_a_cookie_is_unauthenticated(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/refresh", headers=BROWSER)
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert response.json()["error"] == "invalid_grant"
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_a_failed_cookie_refresh_leaves_the_cookie_alone(
    client: httpx.AsyncClient, users: UserFactory, settings_env: Callable[..., None]
) -> None:
    """The browser may already hold a newer cookie (another tab, a new login) than the one that failed."""
    settings_env(REFRESH_REUSE_GRACE_SECONDS="0")
    token = await browser_login(client, users)
    assert (await cookie_refresh(client, token)).status_code == 200
    reused = await cookie_refresh(client, token)
    assert reused.status_code == 401
    assert reused.headers.get_list("set-cookie") == []


async def test_two_tabs_refreshing_one_cookie_at_once_both_stay_signed_in(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    """Both tabs send the same cookie; the loser is within the grace window and gets a working pair
    in the same session, so whichever Set-Cookie the browser keeps last is alive."""
    shared = await browser_login(client, users)
    first, second = await asyncio.gather(cookie_refresh(client, shared), cookie_refresh(client, shared))
    cookies = [issued_cookie(first), issued_cookie(second)]
    sid = unverified_claims(shared)["sid"]
    assert {unverified_claims(token)["sid"] for token in cookies} == {sid}
    for response in (first, second):
        assert (await client.get("/api/v1/user/me", headers=bearer(response.json()["access_token"]))).status_code == 200
    for kept in cookies:  # either may be the browser's last; each refreshes on
        assert (await cookie_refresh(client, kept)).status_code == 200


async def test_logout_clears_the_cookie(client: httpx.AsyncClient, users: UserFactory) -> None:
    token = await browser_login(client, users)
    access = (await cookie_refresh(client, token)).json()["access_token"]
    response = await client.post("/api/v1/logout", headers={**bearer(access), "Cookie": f"{COOKIE}=anything"})
    assert response.status_code == 204
    cleared = refresh_cookie(response)
    assert cleared is not None
    assert cleared.value == ""
    assert_cookie_attributes(cleared, max_age=0)


async def test_revoke_clears_the_cookie(client: httpx.AsyncClient, users: UserFactory) -> None:
    token = await browser_login(client, users)
    response = await client.post("/api/v1/revoke", headers=BROWSER, data={"token": token})
    assert response.status_code == 200
    cleared = refresh_cookie(response)
    assert cleared is not None
    assert_cookie_attributes(cleared, max_age=0)
    assert (await cookie_refresh(client, token)).status_code == 401


async def test_revoking_another_sessions_token_leaves_the_cookie_alone(
    client: httpx.AsyncClient, users: UserFactory, settings_env: Callable[..., None]
) -> None:
    """A browser that revokes some other session (another device's, listed in its account page)
    stays signed in: only the revocation of the cookie's own session clears it."""
    settings_env(SINGLE_SESSION="false")
    user = await users.sign_up()
    browser = await client.post(
        "/api/v1/login", headers=BROWSER, data={"username": user.username, "password": PASSWORD}
    )
    token = issued_cookie(browser)
    cookie = {**BROWSER, "Cookie": f"{COOKIE}={token}"}
    for other in (user.refresh_token, user.access_token, "not a token at all"):
        response = await client.post("/api/v1/revoke", headers=cookie, data={"token": other})
        assert response.status_code == 200
        assert refresh_cookie(response) is None
    revoked = await client.post("/api/v1/refresh", json={"refresh_token": user.refresh_token})
    assert revoked.status_code == 401
    assert (await cookie_refresh(client, token)).status_code == 200


async def test_without_the_header_nothing_changes(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.sign_up()
    assert set(user.body) == {"access_token", "refresh_token", "token_type", "expires_in"}
    login = await users.login(user.username)
    refreshed = await client.post("/api/v1/refresh", json={"refresh_token": login.json()["refresh_token"]})
    changed = await client.post(
        "/api/v1/user/me/password",
        headers=bearer(refreshed.json()["access_token"]),
        json={"current_password": PASSWORD, "new_password": "a brand new passphrase"},
    )
    revoked = await client.post("/api/v1/revoke", data={"token": changed.json()["refresh_token"]})
    other = await users.sign_up()
    logout = await client.post("/api/v1/logout", headers=other.headers)
    for response in (login, refreshed, changed):
        assert response.status_code == 200
        assert "refresh_token" in response.json()
    assert (revoked.status_code, logout.status_code) == (200, 204)
    for response in (login, refreshed, changed, revoked, logout):
        assert response.headers.get_list("set-cookie") == []


async def test_refresh_without_a_body_or_the_header_says_what_is_missing(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/refresh")
    assert response.status_code == 403
    assert response.json()["code"] == "csrf_failed"
    assert "X-Refresh-Token-Transport" in response.json()["detail"]


async def test_an_unknown_transport_is_refused_and_nothing_is_stored(client: httpx.AsyncClient) -> None:
    payload = {"email": "typo@example.com", "username": "typo", "password": PASSWORD}
    response = await client.post("/api/v1/sign-up", headers={"X-Refresh-Token-Transport": "cookies"}, json=payload)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_request"
    assert "'cookies'" in response.json()["detail"]
    assert await user_row("typo@example.com") is None


@pytest.mark.parametrize(("setting", "expected"), [("Strict", "strict"), ("none", "none")])
async def test_samesite_follows_the_setting(
    client: httpx.AsyncClient, users: UserFactory, settings_env: Callable[..., None], setting: str, expected: str
) -> None:
    settings_env(REFRESH_COOKIE_SAMESITE=setting)
    user = await users.sign_up()
    response = await client.post(
        "/api/v1/login", headers=BROWSER, data={"username": user.username, "password": PASSWORD}
    )
    morsel = refresh_cookie(response)
    assert morsel is not None
    assert_cookie_attributes(morsel, max_age=WEEK, samesite=expected)


async def test_cors_preflight_allows_the_transport_header_with_credentials(client: httpx.AsyncClient) -> None:
    response = await client.options(
        "/api/v1/refresh",
        headers={
            "Origin": LISTED_ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-refresh-token-transport,content-type",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == LISTED_ORIGIN
    assert response.headers["access-control-allow-credentials"] == "true"
    assert "x-refresh-token-transport" in response.headers["access-control-allow-headers"].lower()
