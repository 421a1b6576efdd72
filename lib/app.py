"""The factory every function in `api/` builds its app with."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable

import anyio._backends._asyncio  # noqa: F401  (loaded on first use otherwise: ~15 ms of the first request)
from fastapi import APIRouter, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from sqlalchemy import exc as sa_exc
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.types import Message, Send

from lib.config import get_settings
from lib.db import prime_statements
from lib.db_faults import TransactionConflict, is_database_unavailable, is_retryable_conflict
from lib.errors import AuthError, ServiceUnavailable
from lib.log import log_event
from lib.middleware import BodyLimitMiddleware, EmailOutboxMiddleware, NoStoreMiddleware, RetryOnConflictMiddleware
from lib.oauth.endpoint import is_token_endpoint
from lib.oauth.grant_errors import grant_error
from lib.openapi import describe_errors
from lib.request_log import RequestLogMiddleware
from lib.responses import auth_error_response, error_response
from lib.security.password_policy import PasswordRejected

logger = logging.getLogger("auth")

_ALLOW_ORIGIN = "access-control-allow-origin"
_HTTP_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
}


class CorsMiddleware(CORSMiddleware):
    """Starlette's CORS from the settings, except that a response which already allows every
    origin (the public JWKS and discovery documents, `lib.wellknown`) is left as it is: `*`, and
    never `Access-Control-Allow-Credentials` beside it."""

    async def send(self, message: Message, send: Send, request_headers: Headers) -> None:
        if message["type"] == "http.response.start" and MutableHeaders(scope=message).get(_ALLOW_ORIGIN) == "*":
            await send(message)
            return
        await super().send(message, send, request_headers)


def _oauth_error(request: Request, error: str) -> str | None:
    return error if is_token_endpoint(request) else None


async def _auth_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AuthError)
    status_code, headers = grant_error(request, exc.status_code, exc.headers)
    return error_response(
        status_code,
        exc.message,
        exc.code,
        headers,
        oauth_error=_oauth_error(request, exc.oauth_error),
        extra=exc.extra,
    )


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    return error_response(exc.status_code, str(exc.detail), code, dict(exc.headers or {}))


async def _validation_error(request: Request, exc: Exception) -> Response:
    """FastAPI's 422 body, without echoing request bodies back (their `input` can be a password),
    and without any input at all when one cannot be rendered as JSON (NaN, lone surrogates),
    which would otherwise turn a bad request into a 500. On a token endpoint, with `error`."""
    assert isinstance(exc, RequestValidationError)
    errors = jsonable_encoder(
        [
            {name: value for name, value in error.items() if not (name == "input" and error["loc"][:1] == ("body",))}
            for error in exc.errors()
        ]
    )
    extra: dict[str, str] = {}
    if _oauth_error(request, "invalid_request"):
        fields = sorted({".".join(str(part) for part in error["loc"][1:]) or "body" for error in errors})
        extra = {"error": "invalid_request", "error_description": f"Invalid {', '.join(fields)}"}
    try:
        return JSONResponse({"detail": errors, **extra}, status_code=422)
    except ValueError:
        safe = [{name: value for name, value in error.items() if name not in {"input", "ctx"}} for error in errors]
        body = json.dumps({"detail": safe, **extra}, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
        return Response(body, status_code=422, media_type="application/json")


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    if is_retryable_conflict(exc):
        raise TransactionConflict from exc
    if is_database_unavailable(exc):
        log_event("database_unavailable", level=logging.WARNING, error=type(exc).__name__)
        return auth_error_response(ServiceUnavailable(), oauth=is_token_endpoint(request))
    logger.error("unhandled error", exc_info=exc)
    return error_response(
        500, "Internal server error", "internal_error", oauth_error=_oauth_error(request, "server_error")
    )


async def _password_rejected(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PasswordRejected)
    return await _validation_error(request, RequestValidationError(exc.errors()))


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AuthError, _auth_error)
    app.add_exception_handler(PasswordRejected, _password_rejected)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    for exc_type in (sa_exc.DBAPIError, OSError, TimeoutError, Exception):
        app.add_exception_handler(exc_type, _unexpected_error)


def install_middleware(app: FastAPI) -> None:
    settings = get_settings()
    app.add_middleware(RetryOnConflictMiddleware)  # innermost: a retried request is answered once
    app.add_middleware(EmailOutboxMiddleware)  # what the request committed is emailed after its answer
    app.add_middleware(BodyLimitMiddleware, limit=settings.MAX_REQUEST_BODY_BYTES)
    app.add_middleware(NoStoreMiddleware)
    app.add_middleware(
        CorsMiddleware,
        allow_origins=settings.CORS_ORIGINS,
        allow_credentials=settings.CORS_ALLOW_CREDENTIALS,
        allow_methods=settings.CORS_ALLOW_METHODS,
        allow_headers=settings.CORS_ALLOW_HEADERS,
        expose_headers=["Retry-After", "WWW-Authenticate", "ETag", "X-Request-ID"],
        max_age=600,
    )
    app.add_middleware(RequestLogMiddleware)  # outermost: every request is logged, preflights too


def operation_id(route: APIRoute) -> str:
    """A route's OpenAPI operation id is its endpoint function's name (`login`, `get_me`), so that
    generated clients read as the API does; the local app's test keeps them unique."""
    return route.name


def create_app(*routers: APIRouter, docs: bool = False, extra_routes: Iterable[object] = ()) -> FastAPI:
    """A FastAPI app with the shared middleware and error handlers, serving `routers`; with
    `docs`, also its OpenAPI document at `/openapi.json` and Swagger UI at `/docs`."""
    settings = get_settings()
    app = FastAPI(
        title=settings.APP_NAME,
        version=settings.APP_VERSION,
        debug=False,
        docs_url=None,  # lib/docs.py serves Swagger UI's assets itself, not from a CDN
        redoc_url=None,
        openapi_url="/openapi.json" if docs else None,
        generate_unique_id_function=operation_id,
    )
    if docs:
        from lib.docs import install_docs  # the functions serve no docs, and never load this

        install_docs(app, openapi_url="/openapi.json")
    for router in routers:
        app.include_router(router)
    for route in extra_routes:
        app.router.routes.append(route)  # type: ignore[arg-type]
    install_error_handlers(app)
    describe_errors(app, routers)
    install_middleware(app)
    prime_statements()  # the function's modules, and so its tables, are all imported by now
    return app
