"""Passkeys through the API, on both databases, with a software authenticator making real
attestations and assertion signatures (tests/fixtures/webauthn.py)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.fixtures.logs import log_lines
from tests.fixtures.mail import Mailbox
from tests.fixtures.mfa import enrol
from tests.fixtures.races import GENEROUS_LIMITS, Findings, send
from tests.fixtures.roles import RoleFactory
from tests.fixtures.tokens import unverified_claims
from tests.fixtures.users import PASSWORD, SignedUp, UserFactory, bearer
from tests.fixtures.webauthn import RP_ID, SoftAuthenticator, b64url, from_b64url

OPTIONS = "/api/v1/user/me/passkeys/options"
PASSKEYS = "/api/v1/user/me/passkeys"
LOGIN_OPTIONS = "/api/v1/login/passkey/options"
LOGIN = "/api/v1/login/passkey"


async def creation_options(client: httpx.AsyncClient, member: SignedUp) -> dict[str, Any]:
    response = await client.post(OPTIONS, headers=member.headers)
    assert response.status_code == 200, response.text
    options: dict[str, Any] = response.json()
    return options


async def add_passkey(
    client: httpx.AsyncClient, member: SignedUp, authenticator: SoftAuthenticator | None = None, **body: Any
) -> tuple[SoftAuthenticator, dict[str, Any]]:
    authenticator = authenticator or SoftAuthenticator()
    credential = authenticator.register(await creation_options(client, member))
    response = await client.post(PASSKEYS, headers=member.headers, json={"credential": credential, **body})
    assert response.status_code == 201, response.text
    return authenticator, response.json()


async def request_options(client: httpx.AsyncClient, **headers: str) -> dict[str, Any]:
    response = await client.post(LOGIN_OPTIONS, headers=headers)
    assert response.status_code == 200, response.text
    options: dict[str, Any] = response.json()
    return options


async def sign_in(
    client: httpx.AsyncClient, authenticator: SoftAuthenticator, *, headers: dict[str, str] | None = None, **knobs: Any
) -> httpx.Response:
    credential = authenticator.assertion(await request_options(client, **(headers or {})), **knobs)
    return await client.post(LOGIN, json={"credential": credential}, headers=headers or {})


def assert_refused(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["code"] == "invalid_passkey"
    assert response.headers["www-authenticate"].startswith("Bearer")


# Registration -------------------------------------------------------------------------------


async def test_creation_options_ask_for_a_discoverable_verified_credential_and_exclude_existing_ones(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    member = await users.sign_up()
    first = await creation_options(client, member)
    assert "publicKey" not in first
    assert first["rp"] == {"id": RP_ID, "name": "Auth Service"}
    assert first["user"]["name"] == member.email
    assert from_b64url(first["user"]["id"]) != member.email.encode()
    assert first["authenticatorSelection"]["residentKey"] == "required"
    assert first["authenticatorSelection"]["requireResidentKey"] is True
    assert first["authenticatorSelection"]["userVerification"] == "required"
    assert first["attestation"] == "none"
    assert {"type": "public-key", "alg": -7} in first["pubKeyCredParams"]
    assert len(from_b64url(first["challenge"])) >= 16
    assert first["excludeCredentials"] == []

    authenticator, _ = await add_passkey(client, member)
    second = await creation_options(client, member)
    assert second["challenge"] != first["challenge"]
    excluded = second["excludeCredentials"]
    assert [entry["id"] for entry in excluded] == [b64url(authenticator.credential_id)]
    assert (await client.post(OPTIONS)).status_code == 401


async def test_register_list_rename_and_delete_with_notices_that_carry_no_name(
    client: httpx.AsyncClient, users: UserFactory, smtp_server: Mailbox
) -> None:
    member = await users.sign_up()
    _, added = await add_passkey(client, member, name="Ada's laptop <b>hi</b>")
    assert added["name"] == "Ada's laptop <b>hi</b>"
    assert added["backed_up"] is True
    assert sorted(added["transports"]) == ["hybrid", "internal"]
    assert added["last_used_at"] is None
    assert set(added) == {"id", "name", "created_at", "last_used_at", "transports", "backed_up"}
    notice = smtp_server.last(member.email, "A passkey was added")
    assert "laptop" not in notice.text
    assert "laptop" not in notice.html

    _, unnamed = await add_passkey(client, member)
    assert unnamed["name"] == "Passkey"
    listed = (await client.get(PASSKEYS, headers=member.headers)).json()
    assert [item["id"] for item in listed] == [added["id"], unnamed["id"]]

    renamed = await client.patch(f"{PASSKEYS}/{unnamed['id']}", headers=member.headers, json={"name": "Phone"})
    assert renamed.status_code == 200
    assert renamed.json()["name"] == "Phone"
    blank = await client.patch(f"{PASSKEYS}/{unnamed['id']}", headers=member.headers, json={"name": ""})
    assert blank.status_code == 422

    deleted = await client.delete(f"{PASSKEYS}/{added['id']}", headers=member.headers)
    assert deleted.status_code == 204
    assert [item["id"] for item in (await client.get(PASSKEYS, headers=member.headers)).json()] == [unnamed["id"]]
    removed = smtp_server.last(member.email, "A passkey was removed")
    assert "laptop" not in removed.text
    assert (await client.delete(f"{PASSKEYS}/{added['id']}", headers=member.headers)).status_code == 404


async def test_another_users_passkey_is_not_found(client: httpx.AsyncClient, users: UserFactory) -> None:
    owner, other = await users.sign_up(), await users.sign_up()
    _, added = await add_passkey(client, owner)
    path = f"{PASSKEYS}/{added['id']}"
    assert (await client.patch(path, headers=other.headers, json={"name": "mine"})).status_code == 404
    assert (await client.delete(path, headers=other.headers)).status_code == 404
    assert (await client.get(PASSKEYS, headers=other.headers)).json() == []
    assert len((await client.get(PASSKEYS, headers=owner.headers)).json()) == 1


async def register(client: httpx.AsyncClient, member: SignedUp, credential: dict[str, Any]) -> httpx.Response:
    return await client.post(PASSKEYS, headers=member.headers, json={"credential": credential})


@pytest.mark.parametrize(
    ("knobs", "reason"),
    [
        ({"origin": "https://evil.example.net"}, "origin"),
        ({"rp_id": "evil.example.net"}, "RP ID"),
        ({"verified": False}, "verif"),
        ({"kind": "webauthn.get"}, "type"),
    ],
)
async def test_a_registration_that_does_not_verify_is_refused_and_spends_its_challenge(
    client: httpx.AsyncClient, users: UserFactory, knobs: dict[str, Any], reason: str
) -> None:
    member = await users.sign_up()
    authenticator = SoftAuthenticator()
    options = await creation_options(client, member)
    response = await register(client, member, authenticator.register(options, **knobs))
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "passkey_rejected"
    assert reason.lower() in response.json()["detail"].lower()
    # The challenge was used: the right answer to it now comes too late.
    retry = await register(client, member, authenticator.register(options))
    assert retry.status_code == 400
    assert retry.json()["code"] == "passkey_challenge_invalid"
    assert (await client.get(PASSKEYS, headers=member.headers)).json() == []


async def test_a_registration_challenge_serves_once_and_only_its_user(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    owner, other = await users.sign_up(), await users.sign_up()
    options = await creation_options(client, owner)
    # Another user's challenge.
    stolen = await register(client, other, SoftAuthenticator().register(options))
    assert stolen.status_code == 400
    assert stolen.json()["code"] == "passkey_challenge_invalid"
    # A sign-in challenge is not a registration challenge.
    sign_in_options = await request_options(client)
    crossed = await register(
        client, owner, SoftAuthenticator().register(options, challenge=sign_in_options["challenge"])
    )
    assert crossed.status_code == 400
    assert crossed.json()["code"] == "passkey_challenge_invalid"
    # The owner's, once.
    assert (await register(client, owner, SoftAuthenticator().register(options))).status_code == 201
    replayed = await register(client, owner, SoftAuthenticator().register(options))
    assert replayed.status_code == 400
    assert replayed.json()["code"] == "passkey_challenge_invalid"


async def test_the_same_credential_cannot_be_registered_twice(client: httpx.AsyncClient, users: UserFactory) -> None:
    first, second = await users.sign_up(), await users.sign_up()
    authenticator, _ = await add_passkey(client, first)
    again = await register(client, second, authenticator.register(await creation_options(client, second)))
    assert again.status_code == 400
    assert again.json()["code"] == "passkey_rejected"


async def test_malformed_credentials_get_400_or_422_never_500(client: httpx.AsyncClient, users: UserFactory) -> None:
    member = await users.sign_up()
    options = await creation_options(client, member)
    good = SoftAuthenticator().register(options)
    broken = [
        {**good, "type": "password"},
        {**good, "response": {**good["response"], "clientDataJSON": "bm90IGpzb24"}},
        {**good, "response": {**good["response"], "attestationObject": "AAAA"}},
        {**good, "rawId": "AAAA"},
        {"id": "x"},
    ]
    for credential in broken:
        response = await register(client, member, credential)
        assert response.status_code in (400, 422), response.text
    signed_in = await client.post(LOGIN, json={"credential": {**good, "response": {"clientDataJSON": "e30"}}})
    assert signed_in.status_code == 422


# Sign-in --------------------------------------------------------------------------------------


async def test_request_options_name_no_credentials_and_require_user_verification(client: httpx.AsyncClient) -> None:
    options = await request_options(client)
    assert options["rpId"] == RP_ID
    assert options["userVerification"] == "required"
    assert options.get("allowCredentials", []) == []
    assert "publicKey" not in options


async def test_sign_in_with_a_passkey_gives_hwk_mfa_tokens_that_keep_their_amr(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    member = await users.sign_up()
    authenticator, added = await add_passkey(client, member)
    response = await sign_in(client, authenticator)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    pair = response.json()
    assert unverified_claims(pair["access_token"])["amr"] == ["hwk", "mfa"]
    me = await client.get("/api/v1/user/me", headers=bearer(pair["access_token"]))
    assert me.json()["email"] == member.email
    refreshed = await client.post("/api/v1/refresh", json={"refresh_token": pair["refresh_token"]})
    assert unverified_claims(refreshed.json()["access_token"])["amr"] == ["hwk", "mfa"]
    listed = (await client.get(PASSKEYS, headers=bearer(refreshed.json()["access_token"]))).json()
    assert listed[0]["id"] == added["id"]
    assert listed[0]["last_used_at"] is not None


async def test_an_mfa_account_needs_no_code_after_a_passkey(client: httpx.AsyncClient, users: UserFactory) -> None:
    member = await users.sign_up()
    authenticator, _ = await add_passkey(client, member)
    await enrol(client, member)
    assert (await users.login(member.username)).json()["code"] == "mfa_required"
    response = await sign_in(client, authenticator)
    assert response.status_code == 200, response.text
    assert unverified_claims(response.json()["access_token"])["amr"] == ["hwk", "mfa"]


async def test_the_cookie_transport_works_as_for_a_password_login(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    member = await users.sign_up()
    authenticator, _ = await add_passkey(client, member)
    response = await sign_in(client, authenticator, headers={"X-Refresh-Token-Transport": "cookie"})
    assert response.status_code == 200, response.text
    assert "refresh_token" not in response.json()
    assert "refresh_token=" in response.headers["set-cookie"]
    assert "HttpOnly" in response.headers["set-cookie"]


async def test_a_replayed_sign_in_is_refused(client: httpx.AsyncClient, users: UserFactory) -> None:
    member = await users.sign_up()
    authenticator, _ = await add_passkey(client, member)
    options = await request_options(client)
    credential = authenticator.assertion(options)
    assert (await client.post(LOGIN, json={"credential": credential})).status_code == 200
    assert_refused(await client.post(LOGIN, json={"credential": credential}))
    # Even re-signed with a higher count, the used challenge stays used.
    assert_refused(await client.post(LOGIN, json={"credential": authenticator.assertion(options)}))


async def test_a_registration_challenge_or_an_unknown_one_cannot_sign_in(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    member = await users.sign_up()
    authenticator, _ = await add_passkey(client, member)
    registration = await creation_options(client, member)
    options = await request_options(client)
    assert_refused(
        await client.post(
            LOGIN, json={"credential": authenticator.assertion(options, challenge=registration["challenge"])}
        )
    )
    made_up = b64url(b"\x01" * 32)
    assert_refused(await client.post(LOGIN, json={"credential": authenticator.assertion(options, challenge=made_up)}))


@pytest.mark.parametrize(
    "knobs",
    [
        {"origin": "https://evil.example.net"},
        {"origin": "http://app.example.com"},
        {"rp_id": "evil.example.net"},
        {"verified": False},
        {"kind": "webauthn.create"},
    ],
    ids=["other-origin", "http-origin", "other-rp-id", "no-user-verification", "wrong-type"],
)
async def test_an_assertion_that_does_not_verify_is_refused(
    client: httpx.AsyncClient, users: UserFactory, knobs: dict[str, Any]
) -> None:
    member = await users.sign_up()
    authenticator, _ = await add_passkey(client, member)
    assert_refused(await sign_in(client, authenticator, **knobs))
    assert (await sign_in(client, authenticator)).status_code == 200


async def test_a_signature_by_another_key_is_refused(client: httpx.AsyncClient, users: UserFactory) -> None:
    member = await users.sign_up()
    authenticator, _ = await add_passkey(client, member)
    impostor = SoftAuthenticator(credential_id=authenticator.credential_id, user_handle=authenticator.user_handle)
    assert_refused(await sign_in(client, impostor))


async def test_a_sign_count_that_goes_backwards_is_refused_and_logged(
    client: httpx.AsyncClient, users: UserFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    member = await users.sign_up()
    authenticator, _ = await add_passkey(client, member)
    assert (await sign_in(client, authenticator, sign_count=5)).status_code == 200
    log_lines(capsys)
    assert_refused(await sign_in(client, authenticator, sign_count=3))
    assert_refused(await sign_in(client, authenticator, sign_count=5))  # not greater is not new either
    regressions = [line for line in log_lines(capsys) if line.get("event") == "passkey_sign_count_regression"]
    assert [(line["stored"], line["presented"]) for line in regressions] == [(5, 3), (5, 5)]
    assert (await sign_in(client, authenticator, sign_count=6)).status_code == 200


async def test_an_authenticator_that_does_not_count_keeps_signing_in(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    member = await users.sign_up()
    authenticator, _ = await add_passkey(client, member, SoftAuthenticator(counts=False))
    for _ in range(3):
        assert (await sign_in(client, authenticator)).status_code == 200


async def test_a_deleted_passkey_cannot_sign_in(client: httpx.AsyncClient, users: UserFactory) -> None:
    member = await users.sign_up()
    authenticator, added = await add_passkey(client, member)
    assert (await client.delete(f"{PASSKEYS}/{added['id']}", headers=member.headers)).status_code == 204
    assert_refused(await sign_in(client, authenticator))


async def test_a_user_handle_of_another_user_is_refused(client: httpx.AsyncClient, users: UserFactory) -> None:
    victim, attacker = await users.sign_up(), await users.sign_up()
    victims_key, _ = await add_passkey(client, victim)
    attackers_key, _ = await add_passkey(client, attacker)
    # The attacker's own valid credential, claiming to be the victim's account.
    assert_refused(await sign_in(client, attackers_key, user_handle=victims_key.user_handle))
    assert_refused(await sign_in(client, attackers_key, without_user_handle=True))
    ok = await sign_in(client, attackers_key)
    assert ok.status_code == 200
    assert unverified_claims(ok.json()["access_token"])["sub"] != unverified_claims(victim.access_token)["sub"]


async def test_a_deactivated_account_cannot_sign_in_with_its_passkey(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    member = await users.sign_up()
    authenticator, _ = await add_passkey(client, member)
    assert (await client.delete("/api/v1/user/me", headers=member.headers)).status_code == 204
    assert_refused(await sign_in(client, authenticator))


async def test_passkey_sessions_end_like_password_sessions_and_passkeys_outlive_a_password_change(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    member = await users.sign_up()
    authenticator, _ = await add_passkey(client, member)
    pair = (await sign_in(client, authenticator)).json()
    assert (await client.post("/api/v1/logout", headers=bearer(pair["access_token"]))).status_code == 204
    assert (await client.get("/api/v1/user/me", headers=bearer(pair["access_token"]))).status_code == 401
    assert (await client.post("/api/v1/refresh", json={"refresh_token": pair["refresh_token"]})).status_code == 401

    pair = (await sign_in(client, authenticator)).json()
    changed = await client.post(
        "/api/v1/user/me/password",
        headers=bearer(pair["access_token"]),
        json={"current_password": PASSWORD, "new_password": "another good passphrase"},
    )
    assert changed.status_code == 200, changed.text
    assert (await client.get("/api/v1/user/me", headers=bearer(pair["access_token"]))).status_code == 401
    assert (await sign_in(client, authenticator)).status_code == 200


async def test_failed_assertions_count_toward_the_address_throttle(
    client: httpx.AsyncClient, users: UserFactory, settings_env: Callable[..., None]
) -> None:
    member = await users.sign_up()
    authenticator, _ = await add_passkey(client, member)
    settings_env(LOGIN_MAX_FAILURES_PER_IP="2", TRUSTED_IP_HEADER="X-Real-IP")
    address = {"X-Real-IP": "203.0.113.9"}
    # A success gives its attempt back.
    for _ in range(3):
        assert (await sign_in(client, authenticator, headers=address)).status_code == 200
    for _ in range(2):
        assert_refused(await sign_in(client, authenticator, headers=address, verified=False))
    throttled = await client.post(LOGIN_OPTIONS, headers=address)
    assert throttled.status_code == 429
    assert int(throttled.headers["retry-after"]) > 0
    options = await request_options(client, **{"X-Real-IP": "203.0.113.10"})
    refused = await client.post(LOGIN, json={"credential": authenticator.assertion(options)}, headers=address)
    assert refused.status_code == 429
    password = await client.post(
        "/api/v1/login", data={"username": member.username, "password": PASSWORD}, headers=address
    )
    assert password.status_code == 429
    assert (await sign_in(client, authenticator, headers={"X-Real-IP": "203.0.113.10"})).status_code == 200


async def test_two_parallel_sign_ins_with_one_challenge_let_one_through(
    client: httpx.AsyncClient, users: UserFactory, settings_env: Callable[..., None]
) -> None:
    """One assertion (a phishing proxy, a replay) sent at the same moment from several addresses
    (so that no per-address lock orders them) signs in once. The count of a non-counting
    authenticator stays 0, so the challenge alone must stop the copies."""
    settings_env(**GENEROUS_LIMITS, TRUSTED_IP_HEADER="X-Real-IP", SINGLE_SESSION="false")
    findings = Findings()
    member = await users.sign_up()
    authenticator, _ = await add_passkey(client, member, SoftAuthenticator(counts=False))
    for trial in range(findings.trials):
        credential = authenticator.assertion(await request_options(client))
        answers = await asyncio.gather(
            *(
                send(client, "POST", LOGIN, json={"credential": credential}, headers={"X-Real-IP": f"198.51.100.{n}"})
                for n in range(2)
            )
        )
        statuses = Counter(answer.status for answer in answers)
        if statuses != Counter({200: 1, 401: 1}):
            findings.add(trial, f"two sign-ins with one challenge answered {dict(statuses)}")
    findings.assert_none()


# Administration -------------------------------------------------------------------------------


async def test_an_admin_removes_a_users_passkeys_and_ends_their_sessions(
    client: httpx.AsyncClient, users: UserFactory, accounts: RoleFactory, smtp_server: Mailbox
) -> None:
    member = await users.sign_up()
    authenticator, _ = await add_passkey(client, member)
    pair = (await sign_in(client, authenticator)).json()
    user_id = unverified_claims(pair["access_token"])["sub"]
    path = f"/api/v1/admin/users/{user_id}/passkeys"
    admin, moderator = await accounts.create("admin"), await accounts.create("moderator")
    assert (await client.delete(path, headers=moderator.headers)).status_code == 403
    assert (await client.delete(path, headers=bearer(pair["access_token"]))).status_code == 403
    assert (await client.delete(path)).status_code == 401
    response = await client.delete(path, headers=admin.headers)
    assert response.status_code == 204
    assert (await client.get("/api/v1/user/me", headers=bearer(pair["access_token"]))).status_code == 401
    assert_refused(await sign_in(client, authenticator))
    assert "administrator removed" in smtp_server.last(member.email, "administrator").text
    unknown = await client.delete(
        "/api/v1/admin/users/00000000-0000-4000-8000-000000000000/passkeys", headers=admin.headers
    )
    assert unknown.status_code == 404


async def test_passkey_sign_ins_keep_the_user_within_the_session_cap(
    client: httpx.AsyncClient, users: UserFactory, settings_env: Callable[..., None]
) -> None:
    """A passkey sign-in makes room as a password login does: beyond MAX_SESSIONS_PER_USER live
    sessions, the least recently used ones end."""
    settings_env(SINGLE_SESSION="false", MAX_SESSIONS_PER_USER="2")
    member = await users.sign_up()
    authenticator, _ = await add_passkey(client, member)
    pairs = []
    for _ in range(3):
        response = await sign_in(client, authenticator)
        assert response.status_code == 200, response.text
        pairs.append(response.json())
    live = [
        (await client.get("/api/v1/user/me", headers=bearer(pair["access_token"]))).status_code
        for pair in [{"access_token": member.access_token}, *pairs]
    ]
    assert live == [401, 401, 200, 200]
