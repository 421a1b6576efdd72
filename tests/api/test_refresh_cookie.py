"""Browser sessions: with `X-Refresh-Token-Transport: cookie` the refresh token travels in an
HttpOnly `__Host-` cookie, never in a body; the cookie is read only by a body-less refresh that
passes the CSRF checks; logout and revoke clear it; without the header nothing changes. The
former `__Secure-` cookie (Path=/api/v1) is still read alone, and cleared when the new one is set."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import pytest

from api._local import create_local_app
from tests.fixtures.roles import user_row
from tests.fixtures.tokens import issued_before_client_ids, unverified_claims
from tests.fixtures.users import PASSWORD, UserFactory, bearer

COOKIE = "__Host-refresh_token"
LEGACY_COOKIE = "__Secure-refresh_token"  # the former name, Path=/api/v1
BROWSER = {"X-Refresh-Token-Transport": "cookie"}
LISTED_ORIGIN = "http://localhost:3000"  # in the default CORS_ORIGINS
WEEK = 7 * 24 * 3600


@dataclass
class SetCookie:
    """One Set-Cookie header: its value and its attributes (names lower-cased; flags map to "")."""

    value: str
    attributes: dict[str, str]

    def __getitem__(self, name: str) -> str | None:
        return self.attributes.get(name)


def set_cookies(response: httpx.Response, name: str) -> list[SetCookie]:
    """Every Set-Cookie of `response` for the cookie `name`, parsed by hand (http.cookies before
    Python 3.14 does not know `Partitioned`)."""
    found = []
    for header in response.headers.get_list("set-cookie"):
        pair, *attributes = (part.strip() for part in header.split(";"))
        cookie_name, _, value = pair.partition("=")
        if cookie_name == name:
            parsed = dict(attribute.partition("=")[::2] for attribute in attributes)
            found.append(SetCookie(value.strip('"'), {key.lower(): item for key, item in parsed.items()}))
    return found


def refresh_cookie(response: httpx.Response) -> SetCookie | None:
    """The refresh cookie that `response` sets (None when it sets none); fails on two of them."""
    found = set_cookies(response, COOKIE)
    assert len(found) <= 1, response.headers.get_list("set-cookie")
    return found[0] if found else None


def assert_cookie_attributes(cookie: SetCookie, *, max_age: int, samesite: str = "lax") -> None:
    assert "httponly" in cookie.attributes
    assert "secure" in cookie.attributes
    assert cookie["samesite"] == samesite
    assert cookie["path"] == "/"  # `__Host-`: Path=/ and no Domain, or the browser refuses it
    assert cookie["max-age"] == str(max_age)
    assert "domain" not in cookie.attributes  # host-only: the API's host, no other
    # CHIPS: a SameSite=None cookie is partitioned, when set and when cleared.
    assert ("partitioned" in cookie.attributes) == (samesite == "none")


def issued_cookie(response: httpx.Response, *, samesite: str = "lax") -> str:
    """The refresh token a cookie-transport answer set, after checking the answer's shape."""
    assert response.status_code in (200, 201), response.text
    assert set(response.json()) == {"access_token", "token_type", "expires_in"}
    assert response.headers["cache-control"] == "no-store"
    cookie = refresh_cookie(response)
    assert cookie is not None
    assert_cookie_attributes(cookie, max_age=WEEK, samesite=samesite)
    assert unverified_claims(cookie.value)["type"] == "refresh"
    return cookie.value


async def cookie_refresh(client: httpx.AsyncClient, token: str, **headers: str) -> httpx.Response:
    return await client.post("/api/v1/refresh", headers={**BROWSER, **headers, "Cookie": f"{COOKIE}={token}"})


async def browser_login(client: httpx.AsyncClient, users: UserFactory, *, samesite: str = "lax") -> str:
    user = await users.sign_up()
    response = await client.post(
        "/api/v1/login", headers=BROWSER, data={"username": user.username, "password": PASSWORD}
    )
    return issued_cookie(response, samesite=samesite)


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
        assert browser.cookies.get(COOKIE, path="/")
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
    [
        {},
        {"X-Refresh-Token-Transport": "cookie", "Origin": "https://evil.example"},
        {**BROWSER, "Origin": "null"},
        # the API is http://testserver: a host that merely ends like it is another origin
        {**BROWSER, "Origin": "https://eviltestserver"},
        {**BROWSER, "Origin": "https://testserver.evil.example"},
    ],
    ids=["without-header", "unlisted-origin", "opaque-origin", "suffix-of-host", "prefix-of-host"],
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


async def test_a_partitioned_cookie_is_cleared_partitioned(
    client: httpx.AsyncClient, users: UserFactory, settings_env: Callable[..., None]
) -> None:
    """A browser clears a partitioned cookie only with a Set-Cookie that is Partitioned too."""
    settings_env(REFRESH_COOKIE_SAMESITE="none")
    token = await browser_login(client, users, samesite="none")
    refreshed = await cookie_refresh(client, token)
    assert_cookie_attributes(refresh_cookie(refreshed) or SetCookie("", {}), max_age=WEEK, samesite="none")
    access = refreshed.json()["access_token"]
    logout = await client.post("/api/v1/logout", headers={**bearer(access), "Cookie": f"{COOKIE}=x"})
    cleared = refresh_cookie(logout)
    assert cleared is not None
    assert_cookie_attributes(cleared, max_age=0, samesite="none")


async def test_two_host_cookies_are_refused_and_consume_nothing(client: httpx.AsyncClient, users: UserFactory) -> None:
    token = await browser_login(client, users)
    other = await browser_login(client, users)
    for pair in ((token, other), (other, token), (token, token)):
        cookies = f"{COOKIE}={pair[0]}; {COOKIE}={pair[1]}"
        response = await client.post("/api/v1/refresh", headers={**BROWSER, "Cookie": cookies})
        assert response.status_code == 403
        assert response.json()["code"] == "csrf_failed"
        assert refresh_cookie(response) is None
    assert (await cookie_refresh(client, token)).status_code == 200, "the refused requests consumed nothing"
    assert (await cookie_refresh(client, other)).status_code == 200


async def test_the_former_cookie_alone_is_read_once_and_replaced(client: httpx.AsyncClient, users: UserFactory) -> None:
    """A browser signed in before the rename sends only `__Secure-refresh_token`: it refreshes, gets
    the `__Host-` cookie, and the former one is cleared with its own path."""
    token = issued_before_client_ids(await browser_login(client, users))
    response = await client.post("/api/v1/refresh", headers={**BROWSER, "Cookie": f"{LEGACY_COOKIE}={token}"})
    new_token = issued_cookie(response)
    assert new_token != token
    [cleared] = set_cookies(response, LEGACY_COOKIE)
    assert (cleared.value, cleared["path"], cleared["max-age"]) == ("", "/api/v1", "0")
    assert "secure" in cleared.attributes  # a `__Secure-` cookie is only ever set, and so cleared, Secure
    assert (await cookie_refresh(client, new_token)).status_code == 200


async def test_a_former_cookie_with_a_token_issued_since_is_not_read(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    """Any subdomain can plant a `__Secure-` cookie (with `Domain=`): one holding a token issued
    since the rename (the planter's own) is no session, and stays unconsumed."""
    planted = await browser_login(client, users)
    response = await client.post("/api/v1/refresh", headers={**BROWSER, "Cookie": f"{LEGACY_COOKIE}={planted}"})
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert (await cookie_refresh(client, planted)).status_code == 200


async def test_two_former_cookies_are_refused(client: httpx.AsyncClient, users: UserFactory) -> None:
    mine = issued_before_client_ids(await browser_login(client, users))
    theirs = issued_before_client_ids(await browser_login(client, users))
    cookies = f"{LEGACY_COOKIE}={theirs}; {LEGACY_COOKIE}={mine}"
    response = await client.post("/api/v1/refresh", headers={**BROWSER, "Cookie": cookies})
    assert response.status_code == 403
    assert response.json()["code"] == "csrf_failed"


async def test_the_former_cookie_beside_a_host_cookie_is_ignored(client: httpx.AsyncClient, users: UserFactory) -> None:
    token = await browser_login(client, users)
    cookies = f"{LEGACY_COOKIE}=not-a-token; {COOKIE}={token}; {LEGACY_COOKIE}=another"
    response = await client.post("/api/v1/refresh", headers={**BROWSER, "Cookie": cookies})
    issued_cookie(response)
    [cleared] = set_cookies(response, LEGACY_COOKIE)
    assert cleared.value == ""


async def test_a_token_answer_clears_the_former_cookie_only_when_it_was_sent(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    user = await users.sign_up()
    credentials = {"username": user.username, "password": PASSWORD}
    plain = await client.post("/api/v1/login", headers=BROWSER, data=credentials)
    assert set_cookies(plain, LEGACY_COOKIE) == []
    with_former = await client.post(
        "/api/v1/login", headers={**BROWSER, "Cookie": f"{LEGACY_COOKIE}=old"}, data=credentials
    )
    issued_cookie(with_former)
    [cleared] = set_cookies(with_former, LEGACY_COOKIE)
    assert (cleared.value, cleared["path"], cleared["max-age"]) == ("", "/api/v1", "0")


async def test_logout_clears_the_former_cookie_too(client: httpx.AsyncClient, users: UserFactory) -> None:
    user = await users.sign_up()
    response = await client.post("/api/v1/logout", headers={**user.headers, "Cookie": f"{LEGACY_COOKIE}=old"})
    assert response.status_code == 204
    [cleared] = set_cookies(response, LEGACY_COOKIE)
    assert (cleared.value, cleared["path"], cleared["max-age"]) == ("", "/api/v1", "0")


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
    cookie = refresh_cookie(response)
    assert cookie is not None
    assert_cookie_attributes(cookie, max_age=WEEK, samesite=expected)


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
