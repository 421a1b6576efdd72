"""Logging in to an account with two-factor login on: the password step, then /api/v1/login/mfa."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from jose import jwt

from tests.fixtures.mail import Mailbox
from tests.fixtures.mfa import LOGIN_MFA, enrol, mfa_token, totp_code
from tests.fixtures.users import PASSWORD, UserFactory, bearer


def claims(token: str) -> dict[str, Any]:
    return dict(jwt.get_unverified_claims(token))


async def exchange(client: httpx.AsyncClient, token: str, code: str) -> httpx.Response:
    return await client.post(LOGIN_MFA, json={"mfa_token": token, "code": code})


async def test_password_login_answers_mfa_required_with_an_oauth_error_and_no_tokens(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    me = await users.sign_up()
    await enrol(client, me)
    response = await client.post("/api/v1/login", data={"username": me.username, "password": PASSWORD})
    assert response.status_code == 403
    body = response.json()
    assert body["code"] == "mfa_required"
    assert body["error"] == "mfa_required"
    assert "error_description" in body
    assert "access_token" not in body
    assert "refresh_token" not in body
    assert claims(body["mfa_token"])["type"] == "mfa"
    assert 295 <= claims(body["mfa_token"])["exp"] - claims(body["mfa_token"])["iat"] <= 300
    assert response.headers["cache-control"] == "no-store"


async def test_a_wrong_password_to_an_mfa_account_answers_like_any_wrong_password(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    me = await users.sign_up()
    await enrol(client, me)
    response = await client.post("/api/v1/login", data={"username": me.username, "password": "not it at all"})
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_credentials"
    assert "mfa_token" not in response.json()


async def test_totp_code_exchanges_the_mfa_token_for_a_pair_with_amr_pwd_otp(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    me = await users.sign_up()
    assert claims(me.access_token)["amr"] == ["pwd"]
    enrolled = await enrol(client, me)
    response = await exchange(client, await mfa_token(client, me.username), totp_code(enrolled.secret))
    assert response.status_code == 200, response.text
    pair = response.json()
    assert response.headers["cache-control"] == "no-store"
    assert claims(pair["access_token"])["amr"] == ["pwd", "otp"]
    me_response = await client.get("/api/v1/user/me", headers=bearer(pair["access_token"]))
    assert me_response.json()["mfa_enabled"] is True
    # The refresh keeps the session's methods.
    refreshed = await client.post("/api/v1/refresh", json={"refresh_token": pair["refresh_token"]})
    assert refreshed.status_code == 200
    assert claims(refreshed.json()["access_token"])["amr"] == ["pwd", "otp"]


async def test_a_totp_code_is_accepted_once(client: httpx.AsyncClient, users: UserFactory) -> None:
    me = await users.sign_up()
    enrolled = await enrol(client, me)
    code = totp_code(enrolled.secret)
    assert (await exchange(client, await mfa_token(client, me.username), code)).status_code == 200
    replayed = await exchange(client, await mfa_token(client, me.username), code)
    assert replayed.status_code == 401
    assert replayed.json()["code"] == "invalid_mfa_code"
    assert replayed.json()["error"] == "invalid_grant"
    # An earlier step's code, once a later one was used, is refused too; the next step's works.
    assert (
        await exchange(client, await mfa_token(client, me.username), totp_code(enrolled.secret, -1))
    ).status_code == 401
    assert (
        await exchange(client, await mfa_token(client, me.username), totp_code(enrolled.secret, 1))
    ).status_code == 200


async def test_one_step_of_drift_and_no_more(client: httpx.AsyncClient, users: UserFactory) -> None:
    me = await users.sign_up()
    enrolled = await enrol(client, me)  # spent the previous step's code
    token = await mfa_token(client, me.username)
    for offset in (-3, -2, 2, 3):
        assert (await exchange(client, token, totp_code(enrolled.secret, offset))).status_code == 401
    assert (await exchange(client, token, totp_code(enrolled.secret, 1))).status_code == 200


async def test_a_recovery_code_logs_in_once(client: httpx.AsyncClient, users: UserFactory) -> None:
    me = await users.sign_up()
    enrolled = await enrol(client, me)
    assert len(enrolled.recovery_codes) == 10
    assert len(set(enrolled.recovery_codes)) == 10
    code = enrolled.recovery_codes[3]
    # Typed in capitals and without the dash, it is the same code.
    first = await exchange(client, await mfa_token(client, me.username), code.upper().replace("-", ""))
    assert first.status_code == 200, first.text
    assert claims(first.json()["access_token"])["amr"] == ["pwd", "otp"]
    again = await exchange(client, await mfa_token(client, me.username), code)
    assert again.status_code == 401
    assert again.json()["code"] == "invalid_mfa_code"
    assert (await exchange(client, await mfa_token(client, me.username), enrolled.recovery_codes[4])).status_code == 200


async def test_wrong_codes_count_toward_the_login_throttle_and_a_right_code_gives_them_back(
    client: httpx.AsyncClient, users: UserFactory, settings_env: Callable[..., None]
) -> None:
    settings_env(LOGIN_MAX_FAILURES="3", LOGIN_FAILURE_WINDOW_SECONDS="600")
    me = await users.sign_up()
    enrolled = await enrol(client, me)
    token = await mfa_token(client, me.email)
    for _ in range(2):
        assert (await exchange(client, token, "000000")).status_code == 401
    # The right password in between gives no failure back (or a thief of the password could
    # guess forever): by the same identifier, so that only the password step could clear them.
    token = await mfa_token(client, me.email)
    assert (await exchange(client, token, "111111")).status_code == 401
    throttled = await exchange(client, token, totp_code(enrolled.secret))
    assert throttled.status_code == 429
    assert throttled.json()["error"] == "temporarily_unavailable"
    assert int(throttled.headers["retry-after"]) > 0
    # Logging in by email or by username: the codes were counted against the account.
    assert (await client.post("/api/v1/login", data={"username": me.email, "password": PASSWORD})).status_code == 429
    assert (await client.post("/api/v1/login", data={"username": me.username, "password": PASSWORD})).status_code == 429


async def test_wrong_codes_and_wrong_passwords_by_username_are_one_count(
    client: httpx.AsyncClient, users: UserFactory, settings_env: Callable[..., None]
) -> None:
    settings_env(LOGIN_MAX_FAILURES="3", LOGIN_FAILURE_WINDOW_SECONDS="600")
    me = await users.sign_up()
    enrolled = await enrol(client, me)
    token = await mfa_token(client, me.email)
    for _ in range(2):
        assert (await exchange(client, token, "000000")).status_code == 401
    assert (await client.post("/api/v1/login", data={"username": me.username, "password": "no"})).status_code == 401
    assert (await exchange(client, token, totp_code(enrolled.secret))).status_code == 429


async def test_an_mfa_token_signs_in_once(client: httpx.AsyncClient, users: UserFactory) -> None:
    """One password check, one session: a second code (here a recovery code) with the same
    mfa_token is refused although the code itself is good."""
    me = await users.sign_up()
    enrolled = await enrol(client, me)
    token = await mfa_token(client, me.username)
    assert (await exchange(client, token, totp_code(enrolled.secret))).status_code == 200
    again = await exchange(client, token, enrolled.recovery_codes[0])
    assert again.status_code == 401
    assert again.json()["code"] == "invalid_token"
    # The recovery code was not spent: a new password check takes it.
    assert (await exchange(client, await mfa_token(client, me.username), enrolled.recovery_codes[0])).status_code == 200


async def test_a_logout_voids_an_outstanding_mfa_token(client: httpx.AsyncClient, users: UserFactory) -> None:
    me = await users.sign_up()
    enrolled = await enrol(client, me)  # the enrolling session stays signed in
    token = await mfa_token(client, me.username)
    assert (await client.post("/api/v1/logout", headers=me.headers)).status_code == 204

    response = await exchange(client, token, totp_code(enrolled.secret))

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"


async def test_a_right_code_clears_the_accounts_failures(
    client: httpx.AsyncClient, users: UserFactory, settings_env: Callable[..., None]
) -> None:
    settings_env(LOGIN_MAX_FAILURES="3", LOGIN_FAILURE_WINDOW_SECONDS="600")
    me = await users.sign_up()
    enrolled = await enrol(client, me)
    token = await mfa_token(client, me.email)
    for _ in range(2):
        assert (await exchange(client, token, "000000")).status_code == 401
    assert (await exchange(client, token, totp_code(enrolled.secret))).status_code == 200
    token = await mfa_token(client, me.email)
    for _ in range(2):
        assert (await exchange(client, token, "000000")).status_code == 401
    assert (await exchange(client, token, totp_code(enrolled.secret, 1))).status_code == 200


async def test_the_mfa_token_is_neither_an_access_nor_a_refresh_token(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    me = await users.sign_up()
    await enrol(client, me)
    token = await mfa_token(client, me.username)
    assert (await client.get("/api/v1/user/me", headers=bearer(token))).status_code == 401
    assert (await client.post("/api/v1/refresh", json={"refresh_token": token})).status_code == 401
    # Nor is an access or refresh token an mfa_token.
    for other in (me.access_token, me.refresh_token, "not-a-token"):
        response = await exchange(client, other, "123456")
        assert response.status_code == 401
        assert response.json()["code"] == "invalid_token"
        assert response.json()["error"] == "invalid_grant"


async def test_a_password_reset_voids_the_mfa_token_and_leaves_mfa_on(
    client: httpx.AsyncClient, users: UserFactory, smtp_server: Mailbox
) -> None:
    me = await users.sign_up()
    enrolled = await enrol(client, me)
    token = await mfa_token(client, me.username)
    assert (await client.post("/api/v1/forgot-password", json={"email": me.email})).status_code == 202
    reset = smtp_server.last(me.email, "Reset").token("reset-password")
    new_password = "an entirely new passphrase"
    assert (
        await client.post("/api/v1/reset-password", json={"token": reset, "new_password": new_password})
    ).status_code == 204

    stale = await exchange(client, token, totp_code(enrolled.secret))
    assert stale.status_code == 401
    assert stale.json()["code"] == "invalid_token"
    # The new password alone is not enough: MFA is still on.
    fresh = await mfa_token(client, me.username, new_password)
    response = await exchange(client, fresh, totp_code(enrolled.secret))
    assert response.status_code == 200, response.text
    assert claims(response.json()["access_token"])["amr"] == ["pwd", "otp"]


async def test_bad_mfa_requests_get_clear_errors(client: httpx.AsyncClient) -> None:
    for body in ({}, {"mfa_token": "x"}, {"code": "123456"}, {"mfa_token": "", "code": ""}):
        response = await client.post(LOGIN_MFA, json=body)
        assert response.status_code == 422
        assert response.json()["error"] == "invalid_request"


async def test_digits_of_other_scripts_are_a_wrong_code_not_a_server_error(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    me = await users.sign_up()
    started = await client.post("/api/v1/user/me/mfa/totp", headers=me.headers, json={"password": PASSWORD})
    arabic_indic = "\u0661\u0662\u0663\u0664\u0665\u0666"  # str.isdigit() is true for these
    confirm = await client.post("/api/v1/user/me/mfa/totp/confirm", headers=me.headers, json={"code": arabic_indic})
    assert confirm.status_code == 400
    assert confirm.json()["code"] == "wrong_mfa_code"
    await client.post(
        "/api/v1/user/me/mfa/totp/confirm", headers=me.headers, json={"code": totp_code(started.json()["secret"], -1)}
    )
    response = await exchange(client, await mfa_token(client, me.username), arabic_indic)
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_mfa_code"
