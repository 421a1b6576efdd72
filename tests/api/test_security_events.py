"""Security events: each flow writes its event once, in the request that causes it, with the
right user, actor, session, address and details; and nothing secret is ever stored."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import update
from sqlmodel import col

from lib.db import get_engine
from lib.models import User
from tests.fixtures.app import SettingsEnv
from tests.fixtures.events import all_events, sid, subject, table_text, types_written_by, written_by
from tests.fixtures.mail import Mailbox
from tests.fixtures.mfa import LOGIN_MFA, mfa_token, totp_code
from tests.fixtures.roles import RoleFactory
from tests.fixtures.users import PASSWORD, UserFactory, bearer

AGENT = {"User-Agent": "events-test/1.0"}


def only(events: list[dict[str, Any]]) -> dict[str, Any]:
    assert len(events) == 1, events
    return events[0]


async def test_sign_up_and_login_record_their_sessions(client: httpx.AsyncClient, users: UserFactory) -> None:
    payload = {"email": "events@example.com", "username": "events", "password": PASSWORD}
    signed_up = await client.post("/api/v1/sign-up", json=payload, headers=AGENT)
    assert signed_up.status_code == 201, signed_up.text
    token = signed_up.json()["access_token"]
    event = only(await written_by(signed_up))
    assert event["type"] == "sign_up"
    assert event["user_id"] == subject(token)
    assert event["session_id"] == sid(token)
    assert event["actor_id"] is None
    assert (event["ip_address"], event["user_agent"]) == ("127.0.0.1", "events-test/1.0")
    assert event["details"] == {"amr": ["pwd"]}

    logged_in = await client.post("/api/v1/login", data={"username": "events", "password": PASSWORD}, headers=AGENT)
    assert logged_in.status_code == 200, logged_in.text
    event = only(await written_by(logged_in))
    assert event["type"] == "login_succeeded"
    assert (event["user_id"], event["session_id"]) == (subject(token), sid(logged_in.json()["access_token"]))
    assert event["user_agent"] == "events-test/1.0"


async def test_failed_logins_record_their_reason(
    client: httpx.AsyncClient, users: UserFactory, settings_env: SettingsEnv
) -> None:
    settings_env(LOGIN_MAX_FAILURES="2")
    member = await users.sign_up()
    wrong = await users.login(member.username, "not the password")
    assert wrong.status_code == 401
    event = only(await written_by(wrong))
    assert (event["type"], event["user_id"], event["details"]) == (
        "login_failed",
        subject(member.access_token),
        {"reason": "invalid_credentials"},
    )
    assert event["session_id"] is None

    unknown = await users.login("Nobody.Here@Example.com", "whatever it is")
    again = await users.login("nobody.here@example.com", "something else")
    assert (unknown.status_code, again.status_code) == (401, 401)
    first, second = only(await written_by(unknown)), only(await written_by(again))
    assert first["user_id"] is None
    assert first["details"]["reason"] == "unknown_account"
    # Every spelling of an identifier gives one keyed digest, and the digest is not the text's.
    assert first["details"]["identifier_digest"] == second["details"]["identifier_digest"]
    assert "nobody" not in await table_text()

    assert (await users.login(member.username, "another wrong one")).status_code == 401
    throttled = await users.login(member.username, "a third wrong one")
    assert throttled.status_code == 429
    assert only(await written_by(throttled))["details"] == {"reason": "throttled"}


async def test_an_inactive_or_unverified_account_is_recorded_as_such(
    client: httpx.AsyncClient, users: UserFactory, settings_env: SettingsEnv
) -> None:
    member = await users.sign_up()
    async with get_engine().begin() as connection:
        await connection.execute(update(User).where(col(User.email) == member.email).values(is_active=False))
    inactive = await users.login(member.username)
    assert inactive.status_code == 401
    assert only(await written_by(inactive))["details"] == {"reason": "inactive"}

    settings_env(REQUIRE_VERIFIED_EMAIL="true")
    unverified = await client.post(
        "/api/v1/sign-up", json={"email": "unverified@example.com", "username": "unverified", "password": PASSWORD}
    )
    assert unverified.status_code == 202
    sign_up = only(await written_by(unverified))
    assert (sign_up["type"], sign_up["session_id"]) == ("sign_up", None)
    refused = await users.login("unverified")
    assert refused.status_code == 403
    event = only(await written_by(refused))
    assert (event["type"], event["user_id"], event["details"]) == (
        "login_failed",
        sign_up["user_id"],
        {"reason": "email_not_verified"},
    )


async def test_requests_that_fail_validation_write_nothing(client: httpx.AsyncClient, users: UserFactory) -> None:
    member = await users.sign_up()
    before = len(await all_events())
    answers = [
        await client.post("/api/v1/login", data={"username": member.username}),
        await client.post("/api/v1/sign-up", json={"email": "not an address", "username": "x", "password": "p"}),
        await client.post("/api/v1/reset-password", json={"token": "t", "new_password": "short"}),
        await client.post("/api/v1/forgot-password", json={"email": "not an address"}),
        await client.post("/api/v1/user/me/password", headers=member.headers, json={"current_password": PASSWORD}),
        await client.post("/api/v1/verify-email", json={}),
    ]
    assert [answer.status_code for answer in answers] == [400] + [422] * (len(answers) - 1)  # the token request's 400
    assert len(await all_events()) == before


async def test_password_and_email_flows_write_their_events(
    client: httpx.AsyncClient, users: UserFactory, smtp_server: Mailbox
) -> None:
    member = await users.sign_up()
    user_id = subject(member.access_token)
    secrets = [member.password, member.access_token, member.refresh_token]

    verify_token = smtp_server.last(member.email, "Confirm").token("verify-email")
    verified = await client.post("/api/v1/verify-email", json={"token": verify_token})
    assert verified.status_code == 204
    assert only(await written_by(verified))["type"] == "email_verified"
    assert only(await written_by(verified))["user_id"] == user_id

    changed = await client.post(
        "/api/v1/user/me/password",
        headers=member.headers,
        json={"current_password": PASSWORD, "new_password": "a new password 1"},
    )
    assert changed.status_code == 200, changed.text
    event = only(await written_by(changed))
    assert (event["type"], event["user_id"], event["session_id"]) == (
        "password_changed",
        user_id,
        sid(changed.json()["access_token"]),
    )
    wrong_current = await client.post(
        "/api/v1/user/me/password",
        headers=bearer(changed.json()["access_token"]),
        json={"current_password": "not it at all", "new_password": "another password 2"},
    )
    assert wrong_current.status_code == 400
    event = only(await written_by(wrong_current))
    assert event["details"] == {"reason": "invalid_credentials", "during": "password_change"}
    assert event["session_id"] == sid(changed.json()["access_token"])

    requested = await client.post("/api/v1/forgot-password", json={"email": member.email})
    unknown = await client.post("/api/v1/forgot-password", json={"email": "stranger@example.com"})
    assert (requested.status_code, unknown.status_code) == (202, 202)
    assert only(await written_by(requested))["user_id"] == user_id
    assert only(await written_by(requested))["type"] == "password_reset_requested"
    stranger = only(await written_by(unknown))
    assert stranger["user_id"] is None
    assert set(stranger["details"]) == {"identifier_digest"}

    reset_token = smtp_server.last(member.email, "Reset").token("reset-password")
    reset = await client.post("/api/v1/reset-password", json={"token": reset_token, "new_password": "reset password 3"})
    assert reset.status_code == 204
    assert [(e["type"], e["user_id"]) for e in await written_by(reset)] == [("password_reset", user_id)]

    secrets += [verify_token, reset_token, changed.json()["access_token"], changed.json()["refresh_token"]]
    secrets += ["a new password 1", "not it at all", "reset password 3", "stranger@example.com", member.email]
    stored = await table_text()
    assert [secret for secret in secrets if secret in stored] == []


async def test_mfa_flows_write_their_events(client: httpx.AsyncClient, users: UserFactory) -> None:
    member = await users.sign_up()
    user_id = subject(member.access_token)
    started = await client.post("/api/v1/user/me/mfa/totp", headers=member.headers, json={"password": PASSWORD})
    secret = started.json()["secret"]
    wrong = await client.post("/api/v1/user/me/mfa/totp/confirm", headers=member.headers, json={"code": "000000"})
    assert wrong.status_code == 400
    assert only(await written_by(wrong))["details"] == {"reason": "invalid_code", "during": "mfa_enrolment"}
    confirmed = await client.post(
        "/api/v1/user/me/mfa/totp/confirm", headers=member.headers, json={"code": totp_code(secret, -1)}
    )
    assert confirmed.status_code == 200
    event = only(await written_by(confirmed))
    assert (event["type"], event["user_id"], event["session_id"]) == ("mfa_enabled", user_id, sid(member.access_token))
    codes = confirmed.json()["recovery_codes"]

    token = await mfa_token(client, member.username)
    bad = await client.post(
        LOGIN_MFA, json={"mfa_token": token, "code": "123456" if totp_code(secret) != "123456" else "654321"}
    )
    assert bad.status_code == 401
    assert only(await written_by(bad))["details"] == {"reason": "invalid_code", "factor": "totp"}
    good = await client.post(LOGIN_MFA, json={"mfa_token": token, "code": totp_code(secret)})
    assert good.status_code == 200, good.text
    event = only(await written_by(good))
    assert (event["type"], event["session_id"]) == ("mfa_succeeded", sid(good.json()["access_token"]))
    assert event["details"] == {"amr": ["pwd", "otp"]}

    with_code = await client.post(
        LOGIN_MFA, json={"mfa_token": await mfa_token(client, member.username), "code": codes[0]}
    )
    assert with_code.status_code == 200, with_code.text
    assert await types_written_by(with_code) == ["recovery_code_used", "mfa_succeeded"]
    headers = bearer(with_code.json()["access_token"])

    renewed = await client.post(
        "/api/v1/user/me/mfa/recovery-codes", headers=headers, json={"password": PASSWORD, "code": codes[1]}
    )
    assert renewed.status_code == 200, renewed.text
    assert await types_written_by(renewed) == ["recovery_code_used", "recovery_codes_renewed"]
    disabled = await client.request(
        "DELETE",
        "/api/v1/user/me/mfa",
        headers=headers,
        json={"password": PASSWORD, "code": renewed.json()["recovery_codes"][0]},
    )
    assert disabled.status_code == 204, disabled.text
    assert await types_written_by(disabled) == ["recovery_code_used", "mfa_disabled"]
    assert {event["user_id"] for event in await all_events()} == {user_id}

    stored = await table_text()
    used = [secret, token, *codes, *renewed.json()["recovery_codes"], good.json()["refresh_token"]]
    assert [value for value in used if value in stored] == []


async def test_session_endings_record_who_ended_them(
    client: httpx.AsyncClient, users: UserFactory, settings_env: SettingsEnv
) -> None:
    settings_env(SINGLE_SESSION="false", REFRESH_REUSE_GRACE_SECONDS="0")
    member = await users.sign_up()
    user_id = subject(member.access_token)
    second = (await users.login(member.username)).json()
    third = (await users.login(member.username)).json()

    ended = await client.delete(f"/api/v1/user/me/sessions/{sid(second['access_token'])}", headers=member.headers)
    assert ended.status_code == 204
    event = only(await written_by(ended))
    assert (event["type"], event["user_id"], event["session_id"], event["details"]) == (
        "session_ended",
        user_id,
        sid(second["access_token"]),
        {"by": "user"},
    )

    revoked = await client.post("/api/v1/revoke", data={"token": third["refresh_token"]})
    assert revoked.status_code == 200
    assert only(await written_by(revoked))["details"] == {"by": "revoke"}
    revoked_again = await client.post("/api/v1/revoke", data={"token": third["refresh_token"]})
    assert await written_by(revoked_again) == []  # nothing was live to end

    rotated = await client.post("/api/v1/refresh", json={"refresh_token": member.refresh_token})
    assert rotated.status_code == 200
    assert await written_by(rotated) == []
    reused = await client.post("/api/v1/refresh", json={"refresh_token": member.refresh_token})
    assert reused.status_code == 401
    event = only(await written_by(reused))
    assert (event["type"], event["user_id"], event["session_id"]) == (
        "refresh_reuse_detected",
        user_id,
        sid(member.access_token),
    )

    fresh = (await users.login(member.username)).json()
    logged_out = await client.post("/api/v1/logout", headers=bearer(fresh["access_token"]))
    assert logged_out.status_code == 204
    event = only(await written_by(logged_out))
    assert (event["type"], event["session_id"], event["details"]) == (
        "session_ended",
        sid(fresh["access_token"]),
        {"by": "logout"},
    )

    again = (await users.login(member.username)).json()
    deactivated = await client.delete("/api/v1/user/me", headers=bearer(again["access_token"]))
    assert deactivated.status_code == 204
    assert only(await written_by(deactivated))["type"] == "account_deactivated"


async def test_admin_changes_record_the_admin_and_before_and_after(
    client: httpx.AsyncClient, accounts: RoleFactory
) -> None:
    admin = await accounts.create("admin")
    member = await accounts.create("moderator")
    member_id, admin_id = subject(member.access_token), subject(admin.access_token)
    changed = await client.patch(
        f"/api/v1/admin/users/{member_id}", headers=admin.headers, json={"role": "user", "is_verified": True}
    )
    assert changed.status_code == 200, changed.text
    ended, updated = await written_by(changed)
    assert (ended["type"], ended["user_id"], ended["actor_id"], ended["details"]) == (
        "session_ended",
        member_id,
        admin_id,
        {"by": "admin"},
    )
    assert (updated["type"], updated["user_id"], updated["actor_id"]) == ("user_updated_by_admin", member_id, admin_id)
    assert updated["details"] == {
        "before": {"role": "moderator", "is_verified": False},
        "after": {"role": "user", "is_verified": True},
    }
    assert updated["session_id"] == sid(admin.access_token)  # the session the admin acted in

    unchanged = await client.patch(f"/api/v1/admin/users/{member_id}", headers=admin.headers, json={"role": "user"})
    assert unchanged.status_code == 200
    assert await written_by(unchanged) == []

    deleted = await client.delete(f"/api/v1/admin/users/{member_id}", headers=admin.headers)
    assert deleted.status_code == 204
    event = only(await written_by(deleted))
    assert (event["type"], event["user_id"], event["actor_id"]) == ("account_deleted", member_id, admin_id)
    # The account is gone; its history stays, for the admins to read.
    history = await client.get(f"/api/v1/admin/security-events?user_id={member_id}", headers=admin.headers)
    assert history.status_code == 200
    assert [item["type"] for item in history.json()["items"]][:3] == [
        "account_deleted",
        "user_updated_by_admin",
        "session_ended",
    ]
    assert uuid.UUID(history.json()["items"][0]["actor_id"]) == admin_id
