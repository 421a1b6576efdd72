"""Turning two-factor login on and off, and new recovery codes, for the signed-in user."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from urllib.parse import parse_qs, urlparse
from xml.etree import ElementTree

import httpx
import pyotp
import pytest

from tests.fixtures.mail import Mailbox
from tests.fixtures.mfa import LOGIN_MFA, enrol, mfa_token, totp_code
from tests.fixtures.roles import user_row
from tests.fixtures.users import PASSWORD, UserFactory, bearer

START = "/api/v1/user/me/mfa/totp"
CONFIRM = "/api/v1/user/me/mfa/totp/confirm"
RECOVERY = "/api/v1/user/me/mfa/recovery-codes"
MFA = "/api/v1/user/me/mfa"


async def test_enrolment_gives_a_secret_its_uri_and_a_qr_svg_but_mfa_stays_off_until_confirmed(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    me = await users.sign_up()
    response = await client.post(START, headers=me.headers, json={"password": PASSWORD})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"secret", "otpauth_uri", "qr_svg"}
    uri = urlparse(body["otpauth_uri"])
    assert (uri.scheme, uri.netloc) == ("otpauth", "totp")
    assert parse_qs(uri.query)["secret"] == [body["secret"]]
    assert me.email in uri.path.replace("%40", "@")
    assert pyotp.parse_uri(body["otpauth_uri"]).secret == body["secret"]
    svg = ElementTree.fromstring(body["qr_svg"])
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    # Not in force yet: the password alone still logs in.
    assert (await client.get("/api/v1/user/me", headers=me.headers)).json()["mfa_enabled"] is False
    assert (await users.login(me.username)).status_code == 200


async def test_enrolment_needs_the_right_password(client: httpx.AsyncClient, users: UserFactory) -> None:
    me = await users.sign_up()
    response = await client.post(START, headers=me.headers, json={"password": "not my password"})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_password"
    assert (await user_row(me.email) or {})["totp_secret_encrypted"] is None
    assert (await client.post(START, json={"password": PASSWORD})).status_code == 401


async def test_confirming_needs_a_right_code_and_a_started_enrolment(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    me = await users.sign_up()
    nothing = await client.post(CONFIRM, headers=me.headers, json={"code": "123456"})
    assert nothing.status_code == 400
    assert nothing.json()["code"] == "mfa_not_enrolling"
    secret = (await client.post(START, headers=me.headers, json={"password": PASSWORD})).json()["secret"]
    wrong = await client.post(CONFIRM, headers=me.headers, json={"code": totp_code(secret, 5)})
    assert wrong.status_code == 400
    assert wrong.json()["code"] == "wrong_mfa_code"
    assert (await users.login(me.username)).status_code == 200  # still off


async def test_enrolling_again_once_on_is_a_conflict(client: httpx.AsyncClient, users: UserFactory) -> None:
    me = await users.sign_up()
    await enrol(client, me)
    response = await client.post(START, headers=me.headers, json={"password": PASSWORD})
    assert response.status_code == 409
    assert response.json()["code"] == "mfa_already_enabled"


async def test_turning_mfa_on_ends_other_sessions_keeps_the_callers_and_sends_a_notice(
    client: httpx.AsyncClient, users: UserFactory, settings_env: Callable[..., None], smtp_server: Mailbox
) -> None:
    settings_env(SINGLE_SESSION="false")
    me = await users.sign_up()
    other = (await users.login(me.username)).json()
    await enrol(client, me)
    assert (await client.get("/api/v1/user/me", headers=bearer(other["access_token"]))).status_code == 401
    assert (await client.post("/api/v1/refresh", json={"refresh_token": other["refresh_token"]})).status_code == 401
    mine = await client.get("/api/v1/user/me", headers=me.headers)
    assert mine.status_code == 200
    assert mine.json()["mfa_enabled"] is True
    assert (await client.post("/api/v1/refresh", json={"refresh_token": me.refresh_token})).status_code == 200
    notice = smtp_server.last(me.email, "Two-factor login was turned on")
    assert "turned on" in notice.text
    assert "turned on" in notice.html


async def test_new_recovery_codes_replace_the_old_ones(
    client: httpx.AsyncClient, users: UserFactory, smtp_server: Mailbox
) -> None:
    me = await users.sign_up()
    enrolled = await enrol(client, me)
    response = await client.post(
        RECOVERY, headers=me.headers, json={"password": PASSWORD, "code": totp_code(enrolled.secret)}
    )
    assert response.status_code == 200, response.text
    codes = response.json()["recovery_codes"]
    assert len(codes) == 10
    assert not set(codes) & set(enrolled.recovery_codes)
    old = await client.post(
        LOGIN_MFA, json={"mfa_token": await mfa_token(client, me.username), "code": enrolled.recovery_codes[0]}
    )
    assert old.status_code == 401
    new = await client.post(LOGIN_MFA, json={"mfa_token": await mfa_token(client, me.username), "code": codes[0]})
    assert new.status_code == 200
    assert "New recovery codes" in smtp_server.last(me.email, "recovery codes").subject


async def test_changes_need_both_the_password_and_a_code(client: httpx.AsyncClient, users: UserFactory) -> None:
    me = await users.sign_up()
    enrolled = await enrol(client, me)
    for path, method in ((RECOVERY, "POST"), (MFA, "DELETE")):
        wrong_password = await client.request(
            method, path, headers=me.headers, json={"password": "not it", "code": totp_code(enrolled.secret)}
        )
        assert wrong_password.status_code == 400
        assert wrong_password.json()["code"] == "invalid_password"
        wrong_code = await client.request(
            method, path, headers=me.headers, json={"password": PASSWORD, "code": "000000"}
        )
        assert wrong_code.status_code == 400
        assert wrong_code.json()["code"] == "wrong_mfa_code"
        assert (await client.request(method, path, json={"password": PASSWORD, "code": "000000"})).status_code == 401
    assert (await client.get("/api/v1/user/me", headers=me.headers)).json()["mfa_enabled"] is True


async def test_wrong_codes_of_changes_count_toward_the_throttle(
    client: httpx.AsyncClient, users: UserFactory, settings_env: Callable[..., None]
) -> None:
    settings_env(LOGIN_MAX_FAILURES="3", LOGIN_FAILURE_WINDOW_SECONDS="600")
    me = await users.sign_up()
    enrolled = await enrol(client, me)
    for _ in range(3):
        response = await client.request(
            "DELETE", MFA, headers=me.headers, json={"password": PASSWORD, "code": "000000"}
        )
        assert response.status_code == 400
    throttled = await client.request(
        "DELETE", MFA, headers=me.headers, json={"password": PASSWORD, "code": totp_code(enrolled.secret)}
    )
    assert throttled.status_code == 429
    assert "retry-after" in throttled.headers


async def test_wrong_codes_at_enrolment_confirmation_count_toward_the_login_throttle(
    client: httpx.AsyncClient, users: UserFactory, settings_env: Callable[..., None]
) -> None:
    """Whoever stole a session cannot guess a pending enrolment's code (and take its recovery codes)."""
    settings_env(LOGIN_MAX_FAILURES="3", LOGIN_FAILURE_WINDOW_SECONDS="600")
    me = await users.sign_up()
    secret = (await client.post(START, headers=me.headers, json={"password": PASSWORD})).json()["secret"]
    for offset in (5, 6, 7):
        wrong = await client.post(CONFIRM, headers=me.headers, json={"code": totp_code(secret, offset)})
        assert wrong.status_code == 400
        assert wrong.json()["code"] == "wrong_mfa_code"
    throttled = await client.post(CONFIRM, headers=me.headers, json={"code": totp_code(secret)})
    assert throttled.status_code == 429
    assert int(throttled.headers["retry-after"]) > 0
    assert (await client.get("/api/v1/user/me", headers=me.headers)).json()["mfa_enabled"] is False
    assert (await users.login(me.username)).status_code == 429  # the account's count


async def test_turning_mfa_off_with_a_recovery_code(
    client: httpx.AsyncClient, users: UserFactory, smtp_server: Mailbox
) -> None:
    me = await users.sign_up()
    enrolled = await enrol(client, me)
    response = await client.request(
        "DELETE", MFA, headers=me.headers, json={"password": PASSWORD, "code": enrolled.recovery_codes[9]}
    )
    assert response.status_code == 204
    assert (await client.get("/api/v1/user/me", headers=me.headers)).json()["mfa_enabled"] is False
    row = await user_row(me.email)
    assert row is not None
    assert row["totp_secret_encrypted"] is None
    login = await users.login(me.username)
    assert login.status_code == 200
    assert "Two-factor login was turned off" in smtp_server.last(me.email, "turned off").subject
    again = await client.request(
        "DELETE", MFA, headers=bearer(login.json()["access_token"]), json={"password": PASSWORD, "code": "123456"}
    )
    assert again.status_code == 400
    assert again.json()["code"] == "mfa_not_enabled"


async def test_enrol_confirms_when_a_time_step_ends_while_its_request_is_on_its_way(
    client: httpx.AsyncClient, users: UserFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The enrolment fixture computes its code at the moment of use: when a 30 s step is about to
    end, it waits for the next one, so that a slow confirmation (here 1 s on its way) still
    carries a code of the server's window. Server and test read the same shifted clock."""
    member = await users.sign_up()
    real_time = time.time
    shift = 29.4 - real_time() % 30  # 0.6 s left in the current step
    monkeypatch.setattr(time, "time", lambda: real_time() + shift)

    async def slow_confirmation(request: httpx.Request) -> None:
        if request.url.path.endswith("/mfa/totp/confirm"):
            await asyncio.sleep(1.0)

    client.event_hooks["request"].append(slow_confirmation)
    enrolled = await enrol(client, member)
    client.event_hooks["request"].remove(slow_confirmation)
    token = await mfa_token(client, member.username)
    signed_in = await client.post(LOGIN_MFA, json={"mfa_token": token, "code": totp_code(enrolled.secret, 1)})
    assert signed_in.status_code == 200, signed_in.text
