"""Login credentials from an OAuth2 password form or from the same two fields as JSON."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from lib.sessions.schemas import LoginRequest

LOGIN_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": ["username", "password"],
                    "properties": {
                        "username": {"type": "string", "description": "Email or username"},
                        "password": {"type": "string", "format": "password"},
                        "grant_type": {"type": "string", "enum": ["password"]},
                    },
                }
            },
            "application/json": {"schema": LoginRequest.model_json_schema()},
        },
    }
}


async def read_login_credentials(request: Request) -> LoginRequest:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    data: Any
    if content_type == "application/json":
        try:
            data = json.loads(await request.body())
        except (ValueError, UnicodeDecodeError):
            raise RequestValidationError(
                [{"type": "json_invalid", "loc": ("body",), "msg": "JSON decode error", "input": None}]
            ) from None
    else:
        form = await request.form()
        data = {name: value for name, value in form.items() if isinstance(value, str)}
        grant_type = data.pop("grant_type", "password")
        if grant_type != "password":
            raise RequestValidationError(
                [
                    {
                        "type": "grant_type",
                        "loc": ("body", "grant_type"),
                        "msg": "grant_type must be 'password'",
                        "input": grant_type,
                    }
                ]
            )
    try:
        return LoginRequest.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**error, "loc": ("body", *error["loc"])} for error in exc.errors(include_url=False)]
        ) from None


LoginCredentials = Annotated[LoginRequest, Depends(read_login_credentials)]
