"""Error bodies, rendered in one place: `{"detail", "code"}`, plus RFC 6749 5.2 `error` and
`error_description` on the token endpoints."""

from __future__ import annotations

from starlette.responses import JSONResponse

from lib.errors import AuthError


def _description(detail: str) -> str:
    """RFC 6749 5.2: printable ASCII without '"' or '\\'."""
    return "".join(char for char in detail if " " <= char <= "~" and char not in '"\\')


def error_response(
    status_code: int,
    detail: str,
    code: str,
    headers: dict[str, str] | None = None,
    *,
    oauth_error: str | None = None,
    extra: dict[str, str] | None = None,
) -> JSONResponse:
    body = {"detail": detail, "code": code}
    if oauth_error is not None:
        body |= {"error": oauth_error, "error_description": _description(detail)}
    body |= extra or {}
    return JSONResponse(body, status_code=status_code, headers=headers)


def auth_error_response(error: AuthError, *, oauth: bool = False) -> JSONResponse:
    """The answer to `error`; with its RFC 6749 `error` when a token endpoint answers it."""
    return error_response(
        error.status_code,
        error.message,
        error.code,
        error.headers,
        oauth_error=error.oauth_error if oauth else None,
        extra=error.extra,
    )
