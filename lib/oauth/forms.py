"""Token requests (RFC 6749: the password and refresh-token grants, as a form or as JSON) and
revocation requests (RFC 7009, a form).

A form is what RFC 6749 defines and what OAuth 2.0 clients send: its faults answer 400
`invalid_request` (a missing, empty or repeated parameter). JSON is this service's own
convenience for browser code, which reads FastAPI's 422 field list; it keeps that body, unless
the request names its `grant_type`: then it is a standard token request, whose faults answer
400 `invalid_request` and whose refused grants 400 `invalid_grant` (`lib.oauth.grant_errors`).
Either may name its `client_id`, which the session's access tokens carry.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from lib.errors import InvalidRequest, UnsupportedGrantType
from lib.oauth.client_id import CLIENT_ID_RULE, is_client_id
from lib.oauth.grant_errors import mark_grant_request
from lib.openapi import parses_grant_requests, raises
from lib.sessions.schemas import LoginRequest, RefreshRequest, RevocationRequest


class PasswordGrant(LoginRequest):
    client_id: str | None = None


class RefreshGrant(RefreshRequest):
    client_id: str | None = None


TokenGrant = PasswordGrant | RefreshGrant
GRANTS: dict[str, type[PasswordGrant] | type[RefreshGrant]] = {
    "password": PasswordGrant,
    "refresh_token": RefreshGrant,
}

_TOKEN_REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "grant_type": {"type": "string", "enum": list(GRANTS), "default": "password"},
        "username": {"type": "string", "description": "Email or username (password grant)"},
        "password": {"type": "string", "format": "password", "description": "Password grant"},
        "refresh_token": {"type": "string", "description": "Refresh-token grant"},
        "client_id": {"type": "string", "pattern": "^[A-Za-z0-9._~:/@+=-]{1,128}$", "description": "The client"},
    },
}
LOGIN_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {"schema": _TOKEN_REQUEST_SCHEMA},
            "application/json": {"schema": _TOKEN_REQUEST_SCHEMA},
        },
    }
}


def _json_validation_error(errors: list[Any]) -> RequestValidationError:
    return RequestValidationError([{**error, "loc": ("body", *error["loc"])} for error in errors])


async def _read_json(request: Request) -> dict[str, Any]:
    try:
        data = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise RequestValidationError(
            [{"type": "json_invalid", "loc": ("body",), "msg": "JSON decode error", "input": None}]
        ) from None
    if not isinstance(data, dict):
        raise _json_validation_error([{"type": "dict_type", "loc": (), "msg": "Input should be an object"}])
    return data


async def read_form(request: Request) -> dict[str, str]:
    """Form parameters; empty ones count as omitted, repeated ones are refused (RFC 6749 3.2)."""
    form = await request.form()
    data: dict[str, str] = {}
    for name, value in form.multi_items():
        if not isinstance(value, str):
            raise InvalidRequest(f"Parameter {name!r} must be text, not a file")
        if name in data:
            raise InvalidRequest(f"Parameter {name!r} is repeated")
        data[name] = value
    return {name: value for name, value in data.items() if value}


def _client_id(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not is_client_id(value):
        raise InvalidRequest(f"client_id must be {CLIENT_ID_RULE}")
    return str(value)


@parses_grant_requests
@raises(InvalidRequest, UnsupportedGrantType)
async def read_token_request(request: Request) -> TokenGrant:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    is_json = content_type == "application/json"
    data: dict[str, Any] = await _read_json(request) if is_json else await read_form(request)
    named_grant = data.pop("grant_type", None)
    if named_grant is not None and named_grant != "":
        mark_grant_request(request)
    grant_type = named_grant or "password"
    model = GRANTS.get(grant_type) if isinstance(grant_type, str) else None
    if model is None:
        raise UnsupportedGrantType()
    data["client_id"] = _client_id(data.get("client_id"))
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        if is_json and not named_grant:
            raise _json_validation_error(list(exc.errors(include_url=False))) from None
        raise _invalid_form(exc) from None


def _invalid_form(exc: ValidationError) -> InvalidRequest:
    fields = ", ".join(sorted({".".join(str(part) for part in error["loc"]) for error in exc.errors()}))
    return InvalidRequest(f"Missing or invalid parameter: {fields}")


@raises(InvalidRequest)
async def read_revocation_request(request: Request) -> RevocationRequest:
    try:
        return RevocationRequest.model_validate(await read_form(request))
    except ValidationError as exc:
        raise _invalid_form(exc) from None


TokenRequest = Annotated[TokenGrant, Depends(read_token_request)]
RevocationForm = Annotated[RevocationRequest, Depends(read_revocation_request)]
REVOKE_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": ["token"],
                    "properties": {
                        "token": {"type": "string"},
                        "token_type_hint": {"type": "string", "enum": ["refresh_token", "access_token"]},
                    },
                }
            }
        },
    }
}
