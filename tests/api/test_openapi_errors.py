"""Every error a route can answer is in its OpenAPI description, with the one error schema."""

from __future__ import annotations

from typing import Any

import pytest

from api._local import create_local_app

DOCUMENT: dict[str, Any] = create_local_app().openapi()
OPERATIONS = [
    (method.upper(), path, operation)
    for path, operations in DOCUMENT["paths"].items()
    for method, operation in operations.items()
]
ERROR_SCHEMA = {"$ref": "#/components/schemas/ErrorBody"}

# What each route must declare beyond what every route shares (503), from the contract.
EXPECTED = {
    ("POST", "/api/v1/sign-up"): {"409", "413", "422", "429"},
    ("POST", "/api/v1/login"): {"400", "401", "403", "413", "422", "429"},
    ("POST", "/api/v1/refresh"): {"401", "403", "422"},
    ("POST", "/api/v1/revoke"): {"400"},
    ("POST", "/api/v1/logout"): {"401"},
    ("POST", "/api/v1/forgot-password"): {"422", "429"},
    ("POST", "/api/v1/reset-password"): {"400", "422"},
    ("POST", "/api/v1/verify-email"): {"400"},
    ("POST", "/api/v1/verify-email/resend"): {"401", "429"},
    ("GET", "/api/v1/user/me"): {"401"},
    ("PATCH", "/api/v1/user/me"): {"401", "422"},
    ("DELETE", "/api/v1/user/me"): {"401", "409"},
    ("POST", "/api/v1/user/me/password"): {"400", "401", "422", "429"},
    ("GET", "/api/v1/user/me/sessions"): {"401"},
    ("DELETE", "/api/v1/user/me/sessions/{session_id}"): {"401", "404"},
    ("GET", "/api/v1/user/me/security-events"): {"400", "401", "422"},
    ("GET", "/api/v1/admin/security-events"): {"400", "401", "403", "422"},
    ("GET", "/api/v1/admin/users"): {"401", "403"},
    ("GET", "/api/v1/admin/users/{user_id}"): {"401", "403", "404"},
    ("PATCH", "/api/v1/admin/users/{user_id}"): {"401", "403", "404", "409", "422"},
    ("DELETE", "/api/v1/admin/users/{user_id}"): {"401", "403", "404", "409"},
    ("POST", "/api/v1/login/mfa"): {"401", "413", "422", "429"},
    ("POST", "/api/v1/user/me/mfa/totp"): {"400", "401", "409", "422"},
    ("POST", "/api/v1/user/me/mfa/totp/confirm"): {"400", "401", "422"},
    ("POST", "/api/v1/user/me/mfa/recovery-codes"): {"400", "401", "422"},
    ("DELETE", "/api/v1/user/me/mfa"): {"400", "401", "422"},
    ("POST", "/api/v1/user/me/passkeys/options"): {"401"},
    ("POST", "/api/v1/user/me/passkeys"): {"400", "401", "413", "422"},
    ("GET", "/api/v1/user/me/passkeys"): {"401"},
    ("PATCH", "/api/v1/user/me/passkeys/{passkey_id}"): {"401", "404", "422"},
    ("DELETE", "/api/v1/user/me/passkeys/{passkey_id}"): {"401", "404"},
    ("POST", "/api/v1/login/passkey/options"): {"429"},
    ("POST", "/api/v1/login/passkey"): {"401", "413", "422", "429"},
    ("DELETE", "/api/v1/admin/users/{user_id}/passkeys"): {"401", "403", "404"},
    ("GET", "/api/v1/health"): set(),
    ("GET", "/api/v1/cron/cleanup"): {"401"},
}


def test_the_table_covers_every_operation() -> None:
    assert {(method, path) for method, path, _ in OPERATIONS} == set(EXPECTED)


@pytest.mark.parametrize(("method", "path", "operation"), OPERATIONS, ids=[f"{m} {p}" for m, p, _ in OPERATIONS])
def test_each_operation_declares_its_errors_with_the_error_schema(
    method: str, path: str, operation: dict[str, Any]
) -> None:
    responses = operation["responses"]
    assert EXPECTED[(method, path)] | {"503"} <= set(responses), sorted(responses)
    for status, response in responses.items():
        if status.startswith(("4", "5")) and status != "422":
            assert response["content"]["application/json"]["schema"] == ERROR_SCHEMA, status
            assert "`" in response["description"]  # names the codes, e.g. `invalid_credentials`


def test_the_error_schema_is_the_body_every_error_has() -> None:
    schema = DOCUMENT["components"]["schemas"]["ErrorBody"]
    assert set(schema["required"]) == {"detail", "code"}
    assert {"error", "error_description"} <= set(schema["properties"])


def test_a_bearer_route_names_the_token_codes() -> None:
    description = DOCUMENT["paths"]["/api/v1/user/me"]["get"]["responses"]["401"]["description"]
    for code in ("invalid_token", "token_expired", "token_revoked"):
        assert f"`{code}`" in description
