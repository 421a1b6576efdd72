"""Property-based fuzzing of every operation in the local app's OpenAPI document (schemathesis):
no server error, no status the operation does not declare, and no response that breaks its
documented schema. Bounded, to stay quick."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api._local import create_local_app
from tests.fixtures.app import make_client
from tests.fixtures.users import PASSWORD

APP = create_local_app()
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)
# status_code_conformance: every status an operation answers is one its description declares.
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance, status_code_conformance]


@pytest.fixture
async def auth_headers() -> dict[str, str]:
    """A live user's Bearer token, so that authenticated operations are fuzzed past the token check."""
    name = f"fuzz{uuid.uuid4().hex[:12]}"
    async with make_client(APP) as http:
        response = await http.post(
            "/api/v1/sign-up", json={"email": f"{name}@example.com", "username": name, "password": PASSWORD}
        )
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@schema.parametrize()
@settings(
    max_examples=20,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture],
)
def test_no_operation_errs_or_breaks_its_schema(case: Any, auth_headers: dict[str, str]) -> None:
    headers = auth_headers if "authorization" not in {name.lower() for name in (case.headers or {})} else None
    case.call_and_validate(headers=headers, checks=CHECKS)
