"""Sessions end for good, and the throttle holds, under parallel requests on PostgreSQL.

An attacker who knows the old password logs in over and over (two or three loops) while the
owner or an admin acts; once that action has answered, nothing the attacker obtained may read
the profile or refresh, no request answers 5xx, and the server logs no deadlock. Trials per
test: RACE_TRIALS (a few by default, 20 for a thorough run).
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from functools import partial

import httpx
import pytest
from sqlalchemy import func, select
from sqlmodel import col

from lib.db import get_engine
from lib.models import RefreshToken
from tests.fixtures.database import is_postgres
from tests.fixtures.mail import Mailbox
from tests.fixtures.mfa import LOGIN_MFA, enrol, mfa_token, totp_code
from tests.fixtures.races import (
    GENEROUS_LIMITS,
    REALISTIC_HASHING,
    Answer,
    Findings,
    PostgresLog,
    Race,
    live_pairs,
    postgres_log,
    race_trials,
    send,
    server_errors,
    usable,
)
from tests.fixtures.recovery import NEW_PASSWORD, reset_link
from tests.fixtures.roles import RoleFactory
from tests.fixtures.tokens import unverified_claims
from tests.fixtures.users import SignedUp, UserFactory, bearer

__all__ = ["postgres_log"]

pytestmark = pytest.mark.skipif(
    not is_postgres(),
    reason="SQLite runs writers one at a time (BEGIN IMMEDIATE), so a race cannot show there",
)


@pytest.fixture
def race_settings(settings_env: Callable[..., None]) -> Callable[..., None]:
    settings_env(**REALISTIC_HASHING, **GENEROUS_LIMITS)
    return settings_env


async def user_id(client: httpx.AsyncClient, member: SignedUp) -> str:
    response = await client.get("/api/v1/user/me", headers=member.headers)
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


async def test_reset_by_link_leaves_no_session_from_racing_logins(
    client: httpx.AsyncClient,
    users: UserFactory,
    smtp_server: Mailbox,
    race_settings: object,
    postgres_log: PostgresLog,
) -> None:
    findings = Findings()
    for trial in range(findings.trials):
        user = await users.sign_up()
        token = await reset_link(client, smtp_server, user.email)
        reset = partial(
            send, client, "POST", "/api/v1/reset-password", json={"token": token, "new_password": NEW_PASSWORD}
        )
        race = await Race().run(
            client, identifiers=[user.username, user.email, user.username], password=user.password, action=reset
        )
        findings.check_action(trial, race, name="the reset", status=204)
        findings.add(trial, *await live_pairs(client, race.pairs))
        after = await users.login(user.email, NEW_PASSWORD)
        if after.status_code != 200:
            findings.add(trial, f"login with the new password answered {after.status_code} {after.text}")
    findings.assert_none(postgres_log)


async def test_password_change_leaves_no_session_from_racing_logins(
    client: httpx.AsyncClient, users: UserFactory, race_settings: Callable[..., None], postgres_log: PostgresLog
) -> None:
    race_settings(SINGLE_SESSION="false")  # so that the attacker's logins leave the owner signed in to act
    findings = Findings()
    for trial in range(findings.trials):
        user = await users.sign_up()
        change = partial(
            send,
            client,
            "POST",
            "/api/v1/user/me/password",
            json={"current_password": user.password, "new_password": NEW_PASSWORD},
            headers=user.headers,
        )
        race = await Race().run(client, identifiers=[user.username, user.email], password=user.password, action=change)
        findings.check_action(trial, race, name="the password change", status=200)
        findings.add(trial, *await live_pairs(client, race.pairs))
        if race.action is not None and (own := race.action.pair) is not None and len(await usable(client, own)) != 2:
            findings.add(trial, "the changer's new pair no longer reads the profile and refreshes")
    findings.assert_none(postgres_log)


ADMIN_ACTIONS = {
    "deactivation": ("PATCH", {"is_active": False}, 200),
    "deletion": ("DELETE", None, 204),
}


@pytest.mark.parametrize("name", sorted(ADMIN_ACTIONS))
async def test_an_admin_action_during_logins_answers_no_5xx_and_leaves_no_session(
    client: httpx.AsyncClient,
    users: UserFactory,
    accounts: RoleFactory,
    race_settings: object,
    postgres_log: PostgresLog,
    name: str,
) -> None:
    method, body, status = ADMIN_ACTIONS[name]
    admin = await accounts.create("admin")
    findings = Findings()
    for trial in range(findings.trials):
        user = await users.sign_up()
        url = f"/api/v1/admin/users/{await user_id(client, user)}"
        action = partial(send, client, method, url, json=body, headers=admin.headers)
        race = await Race().run(client, identifiers=[user.username, user.email], password=user.password, action=action)
        findings.check_action(trial, race, name=f"the {name}", status=status)
        findings.add(trial, *await live_pairs(client, race.pairs))
    findings.assert_none(postgres_log)


async def test_demotion_leaves_no_session_with_the_old_role(
    client: httpx.AsyncClient, accounts: RoleFactory, race_settings: Callable[..., None], postgres_log: PostgresLog
) -> None:
    race_settings(SINGLE_SESSION="false")  # so that logins after the demotion do not end (and hide) earlier ones
    admin = await accounts.create("admin")
    findings = Findings()
    for trial in range(findings.trials):
        moderator = await accounts.create("moderator")
        url = f"/api/v1/admin/users/{await user_id(client, moderator)}"
        demote = partial(send, client, "PATCH", url, json={"role": "user"}, headers=admin.headers)
        race = await Race().run(
            client, identifiers=[moderator.username, moderator.email], password=moderator.password, action=demote
        )
        findings.check_action(trial, race, name="the demotion", status=200)
        # A login that read the account after the demotion holds a legitimate "user" session;
        # one that carries the old role began before the demotion and must be dead.
        before = [pair for pair in race.pairs if unverified_claims(pair["access_token"])["role"] == "moderator"]
        findings.add(trial, *await live_pairs(client, before))
    findings.assert_none(postgres_log)


# A login sent this long before the logout has certainly read the account before the logout
# committed; later ones may legitimately have started afresh after it.
LOGOUT_MARGIN_SECONDS = 0.05


async def test_logout_ends_the_sessions_that_racing_logins_were_creating(
    client: httpx.AsyncClient, users: UserFactory, race_settings: Callable[..., None], postgres_log: PostgresLog
) -> None:
    # The production default costs, so that a login's hash outlasts the margin above.
    race_settings(SINGLE_SESSION="false", PASSWORD_ARGON2_MEMORY_COST="65536", PASSWORD_ARGON2_TIME_COST="3")
    findings = Findings()
    for trial in range(findings.trials):
        user = await users.sign_up()
        logout = partial(send, client, "POST", "/api/v1/logout", headers=user.headers)
        race = await Race().run(
            client, identifiers=[user.username, user.email, user.username], password=user.password, action=logout
        )
        findings.check_action(trial, race, name="the logout", status=204)
        assert race.action is not None
        cutoff = race.action.sent_at - LOGOUT_MARGIN_SECONDS
        before = [pair for answer in race.logins if answer.sent_at <= cutoff and (pair := answer.pair) is not None]
        before.append({"access_token": user.access_token, "refresh_token": user.refresh_token})
        findings.add(trial, *await live_pairs(client, before))
    findings.assert_none(postgres_log)


# The account tests send each request from an address of its own, so that only the account's
# lock serializes them (one address's lock would hide a missing or mismatched account lock).
OWN_ADDRESSES = {"TRUSTED_IP_HEADER": "X-Real-IP", "LOGIN_MAX_FAILURES_PER_IP": "1000"}


def own_address(trial: int, n: int) -> dict[str, str]:
    return {"X-Real-IP": f"198.51.{trial % 250}.{n + 1}"}


async def test_parallel_wrong_guesses_stop_at_the_account_limit(
    client: httpx.AsyncClient, users: UserFactory, race_settings: Callable[..., None]
) -> None:
    race_settings(LOGIN_MAX_FAILURES="5", LOGIN_FAILURE_WINDOW_SECONDS="900", **OWN_ADDRESSES)
    findings = Findings()
    for trial in range(findings.trials):
        user = await users.sign_up()
        data = {"username": user.username, "password": "wrong guess"}
        answers = await asyncio.gather(
            *(send(client, "POST", "/api/v1/login", data=data, headers=own_address(trial, n)) for n in range(20))
        )
        findings.add(trial, *throttle_problems(answers, limit=5))
    findings.assert_none()


async def test_parallel_wrong_guesses_by_email_and_username_stop_at_the_account_limit(
    client: httpx.AsyncClient, users: UserFactory, race_settings: Callable[..., None]
) -> None:
    race_settings(LOGIN_MAX_FAILURES="5", LOGIN_FAILURE_WINDOW_SECONDS="900", **OWN_ADDRESSES)
    findings = Findings()
    for trial in range(findings.trials):
        user = await users.sign_up()
        identifiers = [user.email if n % 2 else user.username for n in range(20)]
        answers = await asyncio.gather(
            *(
                send(
                    client,
                    "POST",
                    "/api/v1/login",
                    data={"username": name, "password": "wrong"},
                    headers=own_address(trial, n),
                )
                for n, name in enumerate(identifiers)
            )
        )
        findings.add(trial, *throttle_problems(answers, limit=5))
    findings.assert_none()


@pytest.mark.timeout(60 + 15 * race_trials())  # a few seconds a trial
async def test_parallel_wrong_codes_and_passwords_stop_at_the_account_limit(
    client: httpx.AsyncClient, users: UserFactory, race_settings: Callable[..., None]
) -> None:
    findings = Findings()
    for trial in range(findings.trials):
        race_settings(**GENEROUS_LIMITS)
        user = await users.sign_up()
        await enrol(client, user)
        tokens = [await mfa_token(client, user.email) for _ in range(10)]
        # The login finds the account's lock in SQL, the second factor in Python: one lock.
        race_settings(LOGIN_MAX_FAILURES="5", **OWN_ADDRESSES)
        wrong_codes = (
            send(
                client,
                "POST",
                LOGIN_MFA,
                json={"mfa_token": token, "code": "000000"},
                headers=own_address(trial, n),
            )
            for n, token in enumerate(tokens)
        )
        wrong_passwords = (
            send(
                client,
                "POST",
                "/api/v1/login",
                data={"username": user.username, "password": "wrong"},
                headers=own_address(trial, 10 + n),
            )
            for n in range(10)
        )
        answers = await asyncio.gather(*wrong_codes, *wrong_passwords)
        findings.add(trial, *throttle_problems(answers, limit=5))
    findings.assert_none()


async def test_parallel_guesses_from_one_address_stop_at_the_address_limit(
    client: httpx.AsyncClient, users: UserFactory, race_settings: Callable[..., None]
) -> None:
    race_settings(LOGIN_MAX_FAILURES_PER_IP="5", TRUSTED_IP_HEADER="X-Real-IP")
    members = [await users.sign_up() for _ in range(12)]
    findings = Findings()
    for trial in range(findings.trials):
        address = {"X-Real-IP": f"203.0.113.{trial + 1}"}  # a fresh address per trial
        answers = await asyncio.gather(
            *(
                send(
                    client, "POST", "/api/v1/login", data={"username": m.username, "password": "wrong"}, headers=address
                )
                for m in members
            )
        )
        findings.add(trial, *throttle_problems(answers, limit=5))
    findings.assert_none()


def throttle_problems(answers: list[Answer], *, limit: int) -> list[str]:
    statuses = Counter(answer.status for answer in answers)
    problems = []
    if statuses[401] > limit or not statuses[401] or set(statuses) - {401, 429}:
        problems.append(f"{dict(statuses)} ({limit} x 401 at most, the rest 429)")
    if any(answer.status == 429 and not answer.headers.get("retry-after") for answer in answers):
        problems.append("a 429 without Retry-After")
    return problems


@pytest.mark.parametrize("parallel", [10, 20])
async def test_parallel_refreshes_of_one_token_keep_the_user_signed_in(
    client: httpx.AsyncClient, users: UserFactory, race_settings: object, parallel: int
) -> None:
    findings = Findings()
    for trial in range(findings.trials):
        user = await users.sign_up()
        sid = unverified_claims(user.access_token)["sid"]
        body = {"refresh_token": user.refresh_token}
        answers = await asyncio.gather(*(send(client, "POST", "/api/v1/refresh", json=body) for _ in range(parallel)))
        findings.add(trial, *server_errors(answers))
        pairs = [pair for answer in answers if (pair := answer.pair) is not None]
        if not pairs:
            findings.add(trial, f"no refresh succeeded: {Counter(answer.status for answer in answers)}")
            continue
        if any(unverified_claims(pair["access_token"])["sid"] != sid for pair in pairs):
            findings.add(trial, "a refresh answered with a pair outside the session")
        for pair in pairs:
            me = await client.get("/api/v1/user/me", headers=bearer(pair["access_token"]))
            if me.status_code != 200:
                findings.add(trial, f"a returned access token got {me.status_code} {me.json()['code']} on /user/me")
        statuses = Counter(answer.status for answer in answers)
        again = await send(client, "POST", "/api/v1/refresh", json={"refresh_token": pairs[0]["refresh_token"]})
        if (newest := again.pair) is None:
            findings.add(trial, f"after {dict(statuses)}, a returned refresh token got {again.status} {again.body}")
        elif (await client.get("/api/v1/user/me", headers=bearer(newest["access_token"]))).status_code != 200:
            findings.add(trial, "the pair from refreshing again does not read the profile")
    findings.assert_none()


async def test_parallel_refreshes_without_grace_let_one_through_and_reuse_revokes_the_family(
    client: httpx.AsyncClient, users: UserFactory, race_settings: Callable[..., None]
) -> None:
    race_settings(REFRESH_REUSE_GRACE_SECONDS="0")
    for _ in range(race_trials()):
        user = await users.sign_up()
        body = {"refresh_token": user.refresh_token}
        answers = await asyncio.gather(*(send(client, "POST", "/api/v1/refresh", json=body) for _ in range(20)))
        winners = [pair for answer in answers if (pair := answer.pair) is not None]
        codes = Counter(answer.body["code"] for answer in answers if answer.status == 401)
        assert len(winners) == 1, Counter(answer.status for answer in answers)
        assert codes == {"token_reused": 19}
        assert await usable(client, winners[0]) == []


@pytest.mark.parametrize("factor", ["totp", "recovery"])
async def test_one_second_factor_code_signs_in_once_however_many_send_it_at_once(
    client: httpx.AsyncClient, users: UserFactory, settings_env: Callable[..., None], factor: str
) -> None:
    """A code seen by an attacker (shoulder, phishing page) and sent by several clients at the
    same moment, each with an mfa_token of its own, signs in exactly once."""
    settings_env(**GENEROUS_LIMITS)
    findings = Findings()
    for trial in range(findings.trials):
        member = await users.sign_up()
        enrolled = await enrol(client, member)
        code = totp_code(enrolled.secret, offset=1) if factor == "totp" else enrolled.recovery_codes[0]
        tokens = [await mfa_token(client, member.username) for _ in range(6)]
        answers = await asyncio.gather(
            *(send(client, "POST", LOGIN_MFA, json={"mfa_token": token, "code": code}) for token in tokens)
        )
        statuses = Counter(answer.status for answer in answers)
        if statuses != Counter({200: 1, 401: 5}):
            findings.add(trial, f"six exchanges of one {factor} code answered {dict(statuses)}")
    findings.assert_none()


async def refresh_loop(client: httpx.AsyncClient, refresh_token: str, done: asyncio.Event) -> list[Answer]:
    """A client refreshing over and over, each time with the token it was last given, until `done`."""
    answers: list[Answer] = []
    while not done.is_set():
        answer = await send(client, "POST", "/api/v1/refresh", json={"refresh_token": refresh_token})
        answers.append(answer)
        if (pair := answer.pair) is None:
            break
        refresh_token = pair["refresh_token"]
    return answers


async def action_then_done(action: Callable[[], Awaitable[Answer]], done: asyncio.Event) -> Answer:
    """`action`, sent a moment after the loops began; `done` is set once it has answered."""
    await asyncio.sleep(random.uniform(0.02, 0.08))
    try:
        return await action()
    finally:
        done.set()


async def test_deleting_a_user_during_their_refreshes_answers_no_5xx_and_logs_no_deadlock(
    client: httpx.AsyncClient,
    users: UserFactory,
    accounts: RoleFactory,
    race_settings: Callable[..., None],
    postgres_log: PostgresLog,
) -> None:
    """The deletion takes the user's row first, then the sessions and tokens, as a refresh does
    not wait on it in the opposite order: PostgreSQL detects no deadlock (a retry would hide one)."""
    race_settings(SINGLE_SESSION="false")
    admin = await accounts.create("admin")
    findings = Findings()
    for trial in range(findings.trials):
        user = await users.sign_up()
        url = f"/api/v1/admin/users/{await user_id(client, user)}"
        tokens = [user.refresh_token]
        for _ in range(3):
            tokens.append((await users.login(user.username, user.password)).json()["refresh_token"])
        done = asyncio.Event()
        deletion, *loops = await asyncio.gather(
            action_then_done(partial(send, client, "DELETE", url, headers=admin.headers), done),
            *(refresh_loop(client, token, done) for token in tokens),
        )
        if deletion.status != 204:
            findings.add(trial, f"the deletion answered {deletion.status} {deletion.body}")
        refreshes = [answer for loop in loops for answer in loop]
        findings.add(trial, *(f"a racing refresh answered {error}" for error in server_errors(refreshes)))
        for loop in loops:
            if loop and (pair := loop[-1].pair) is not None:
                findings.add(trial, *await live_pairs(client, [pair]))
    findings.assert_none(postgres_log)


async def test_a_logout_during_refreshes_ends_every_session_and_logs_no_deadlock(
    client: httpx.AsyncClient, users: UserFactory, race_settings: Callable[..., None], postgres_log: PostgresLog
) -> None:
    """Logout locks the user's row FOR NO KEY UPDATE, which the key share a refresh takes to insert
    its next token passes: with FOR UPDATE, a refresh holding its session waits on the row while
    the logout waits on that session, and PostgreSQL detects a deadlock."""
    race_settings(SINGLE_SESSION="false")
    findings = Findings()
    for trial in range(findings.trials):
        user = await users.sign_up()
        tokens = [user.refresh_token]
        for _ in range(3):
            tokens.append((await users.login(user.username, user.password)).json()["refresh_token"])
        done = asyncio.Event()
        logout, *loops = await asyncio.gather(
            action_then_done(partial(send, client, "POST", "/api/v1/logout", headers=user.headers), done),
            *(refresh_loop(client, token, done) for token in tokens),
        )
        if logout.status != 204:
            findings.add(trial, f"the logout answered {logout.status} {logout.body}")
        refreshes = [answer for loop in loops for answer in loop]
        findings.add(trial, *(f"a racing refresh answered {error}" for error in server_errors(refreshes)))
        last_pairs = [pair for loop in loops if loop and (pair := loop[-1].pair) is not None]
        findings.add(trial, *await live_pairs(client, last_pairs))
    findings.assert_none(postgres_log)


async def test_one_mfa_token_signs_in_once_whatever_codes_are_sent_with_it(
    client: httpx.AsyncClient, users: UserFactory, settings_env: Callable[..., None]
) -> None:
    """One password check, at most one session: three good codes sent at once with one mfa_token."""
    settings_env(**GENEROUS_LIMITS)
    findings = Findings()
    for trial in range(findings.trials):
        member = await users.sign_up()
        enrolled = await enrol(client, member)
        token = await mfa_token(client, member.username)
        codes = [totp_code(enrolled.secret, offset=1), *enrolled.recovery_codes[:2]]
        answers = await asyncio.gather(
            *(send(client, "POST", LOGIN_MFA, json={"mfa_token": token, "code": code}) for code in codes)
        )
        statuses = Counter(answer.status for answer in answers)
        if statuses != Counter({200: 1, 401: 2}):
            findings.add(trial, f"one mfa_token with three good codes answered {dict(statuses)}")
    findings.assert_none()


async def live_refresh_tokens(session_id: str) -> int:
    async with get_engine().connect() as connection:
        statement = select(func.count()).where(
            col(RefreshToken.session_id) == uuid.UUID(session_id), col(RefreshToken.used_at).is_(None)
        )
        return int((await connection.execute(statement)).scalar_one())


@pytest.mark.timeout(60 + 15 * race_trials())  # a few seconds a trial
async def test_parallel_replays_inside_the_grace_window_leave_one_live_refresh_token(
    client: httpx.AsyncClient, users: UserFactory, race_settings: Callable[..., None]
) -> None:
    """300 clients (or one client's retries) present one refresh token at once, well inside the
    grace window: one consumes it, and every other gets the very refresh token it got."""
    race_settings(REFRESH_REUSE_GRACE_SECONDS="120")
    findings = Findings()
    for trial in range(findings.trials):
        user = await users.sign_up()
        sid = unverified_claims(user.access_token)["sid"]
        body = {"refresh_token": user.refresh_token}
        answers = await asyncio.gather(*(send(client, "POST", "/api/v1/refresh", json=body) for _ in range(300)))
        statuses = Counter(answer.status for answer in answers)
        given = {pair["refresh_token"] for answer in answers if (pair := answer.pair) is not None}
        live = await live_refresh_tokens(sid)
        if statuses != Counter({200: 300}) or len(given) != 1 or live != 1:
            findings.add(trial, f"{dict(statuses)}: {len(given)} refresh tokens given, {live} live in the session")
        for refresh_token in list(given)[:1]:
            again = await send(client, "POST", "/api/v1/refresh", json={"refresh_token": refresh_token})
            if again.pair is None:
                findings.add(trial, f"the refresh token given refreshed with {again.status} {again.body}")
    findings.assert_none()


async def test_parallel_logins_leave_at_most_the_cap_of_live_sessions(
    client: httpx.AsyncClient, users: UserFactory, race_settings: Callable[..., None]
) -> None:
    race_settings(SINGLE_SESSION="false", MAX_SESSIONS_PER_USER="3")
    findings = Findings()
    for trial in range(findings.trials):
        user = await users.sign_up()
        data = {"username": user.username, "password": user.password}
        answers = await asyncio.gather(*(send(client, "POST", "/api/v1/login", data=data) for _ in range(10)))
        findings.add(trial, *server_errors(answers))
        live = await live_pairs(client, [pair for answer in answers if (pair := answer.pair) is not None])
        if len(live) != 3:
            findings.add(trial, f"{len(live)} of 10 sessions live after parallel logins (cap 3)")
    findings.assert_none()
