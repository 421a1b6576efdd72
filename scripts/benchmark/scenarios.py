"""What each function's cold start serves: `count` requests that mean the same thing, for its
first request and the warm ones after it. One entry a function; a function without one gets
its first route with a fresh user's token (`fallback`)."""

from __future__ import annotations

import importlib
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from scripts.benchmark.environment import CRON_SECRET
from scripts.benchmark.fixtures import Fixtures, login_request, request
from scripts.benchmark.plan import PASSWORD

Spec = dict[str, Any]
Scenario = Callable[[int, Fixtures], Awaitable[Spec]]
NEW_PASSWORD = "another bench passphrase"


def same(*args: Any, **kwargs: Any) -> Scenario:
    """The same request `count` times."""

    async def build(count: int, _fixtures: Fixtures) -> Spec:
        return {"requests": [request(*args, **kwargs)] * count}

    return build


def each_user(build_one: Callable[[Any], dict[str, Any]], role: str = "user") -> Scenario:
    """One request a user, for a request that ends (or spends) what it is sent with."""

    async def build(count: int, fixtures: Fixtures) -> Spec:
        return {"requests": [build_one(await fixtures.identity(role)) for _ in range(count)]}

    return build


def one_user(build_one: Callable[[Any], dict[str, Any]], role: str = "user", **extra: Any) -> Scenario:
    """One user's request `count` times."""

    async def build(count: int, fixtures: Fixtures) -> Spec:
        return {"requests": [build_one(await fixtures.identity(role))] * count, **extra}

    return build


async def sign_up(count: int, _fixtures: Fixtures) -> Spec:
    requests = []
    for _ in range(count):
        tag = uuid.uuid4().hex[:12]
        payload = {"email": f"new-{tag}@example.com", "username": f"new_{tag}", "password": PASSWORD}
        requests.append(request("POST", "/api/v1/sign-up", json_body=payload))
    return {"requests": requests}


async def login_mfa(count: int, fixtures: Fixtures) -> Spec:
    """One mfa_token, and a recovery code of its own for each request."""
    mfa_token, codes = await fixtures.mfa_challenge()
    if count > len(codes):
        raise RuntimeError(f"{count} second-factor logins need more than the {len(codes)} recovery codes")
    return {
        "requests": [
            request("POST", "/api/v1/login/mfa", json_body={"mfa_token": mfa_token, "code": code})
            for code in codes[:count]
        ]
    }


def first_route(name: str) -> tuple[str, str] | None:
    """(method, path) of the first route of an unknown function, path parameters filled with a UUID."""
    module = importlib.import_module(f"api.{name}")
    router = getattr(module, "router", None)
    for route in getattr(router, "routes", []):
        methods = sorted(getattr(route, "methods", None) or [])
        if methods:
            method = "GET" if "GET" in methods else methods[0]
            return method, re.sub(r"\{[^}]+\}", str(uuid.uuid4()), route.path)
    return None


async def fallback(name: str, count: int, fixtures: Fixtures) -> Spec:
    who = await fixtures.identity()
    route = first_route(name)
    if route is None:
        return {"requests": [request("GET", "/")] * count}
    method, path = route
    body: dict[str, Any] | None = {} if method in {"POST", "PUT", "PATCH"} else None
    return {"requests": [request(method, path, token=who.access_token, json_body=body)] * count}


# A link token that is well formed but was never issued: 400.
UNISSUED_LINK = {"token": "A" * 43, "new_password": NEW_PASSWORD}
SCENARIOS: dict[str, Scenario] = {
    "jwks": same("GET", "/.well-known/jwks.json"),
    "health": same("GET", "/api/v1/health"),
    "sign_up": sign_up,
    "login": one_user(login_request),
    "refresh": one_user(
        lambda who: request("POST", "/api/v1/refresh", json_body={"refresh_token": who.refresh_token}),
        chain_refresh=True,
    ),
    # Each revocation ends a session, so each request revokes its own user's token.
    "revoke": each_user(lambda who: request("POST", "/api/v1/revoke", form={"token": who.refresh_token})),
    # Each logout ends its user's sessions, so each request gets its own user.
    "logout": each_user(lambda who: request("POST", "/api/v1/logout", token=who.access_token)),
    # One address each: a second request within a minute sends nothing.
    "forgot_password": each_user(
        lambda who: request("POST", "/api/v1/forgot-password", json_body={"email": who.email})
    ),
    # Each change ends its user's sessions, so each request gets its own user.
    "change_password": each_user(
        lambda who: request(
            "POST",
            "/api/v1/user/me/password",
            token=who.access_token,
            json_body={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        )
    ),
    "reset_password": same("POST", "/api/v1/reset-password", json_body=UNISSUED_LINK),
    "verify_email": same("POST", "/api/v1/verify-email", json_body=UNISSUED_LINK),
    "cron_cleanup": same("GET", "/api/v1/cron/cleanup", token=CRON_SECRET),
    "admin_users": one_user(
        lambda who: request("GET", "/api/v1/admin/users?limit=20", token=who.access_token), role="admin"
    ),
    # Starting an enrolment (the password is checked), which may start again until confirmed.
    "mfa": one_user(
        lambda who: request(
            "POST", "/api/v1/user/me/mfa/totp", token=who.access_token, json_body={"password": PASSWORD}
        )
    ),
    "login_mfa": login_mfa,
    "me": one_user(lambda who: request("GET", "/api/v1/user/me", token=who.access_token)),
}


async def scenario(name: str, count: int, fixtures: Fixtures) -> Spec:
    """`count` requests that mean the same thing, for one function's first and warm requests."""
    build = SCENARIOS.get(name)
    if build is None:
        return await fallback(name, count, fixtures)
    return await build(count, fixtures)
