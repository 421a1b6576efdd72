"""The factory every function in `api/` builds its app with."""

from __future__ import annotations

import logging
from collections.abc import Iterable

import anyio._backends._asyncio  # noqa: F401  (loaded on first use otherwise: ~15 ms of the first request)
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lib.config import get_settings
from lib.errors import AuthError, ServiceUnavailable

logger = logging.getLogger("auth")

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


class NoStoreMiddleware:
    """`Cache-Control: no-store` on every response that did not choose its own caching."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                if b"cache-control" not in names:
                    headers.append((b"cache-control", b"no-store"))
                    if b"pragma" not in names:
                        headers.append((b"pragma", b"no-cache"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def error_response(status_code: int, detail: str, code: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail, "code": code}, status_code=status_code, headers=headers)


async def _auth_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AuthError)
    return error_response(exc.status_code, exc.message, exc.code, exc.headers)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    return error_response(exc.status_code, str(exc.detail), code, dict(exc.headers or {}))


def is_database_unavailable(exc: BaseException) -> bool:
    if isinstance(exc, (OSError, TimeoutError, sa_exc.OperationalError, sa_exc.InterfaceError)):
        return True
    if isinstance(exc, sa_exc.DBAPIError):
        if exc.connection_invalidated:
            return True
        name = type(exc.orig).__name__ if exc.orig is not None else ""
        return name in {
            "CannotConnectNowError",
            "ConnectionDoesNotExistError",
            "ConnectionFailureError",
            "TooManyConnectionsError",
            "AdminShutdownError",
            "ProtocolViolationError",
        } or "pgbouncer" in str(exc.orig).lower()
    return False


async def _unexpected_error(_request: Request, exc: Exception) -> JSONResponse:
    if is_database_unavailable(exc):
        logger.warning("database unavailable: %s", type(exc).__name__)
        unavailable = ServiceUnavailable()
        return error_response(unavailable.status_code, unavailable.message, unavailable.code, unavailable.headers)
    logger.error("unhandled error", exc_info=exc)
    return error_response(500, "Internal server error", "internal_error")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AuthError, _auth_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    for exc_type in (sa_exc.DBAPIError, OSError, TimeoutError, Exception):
        app.add_exception_handler(exc_type, _unexpected_error)


def install_middleware(app: FastAPI) -> None:
    settings = get_settings()
    app.add_middleware(NoStoreMiddleware)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.CORS_ORIGINS,
        allow_credentials=settings.CORS_ALLOW_CREDENTIALS,
        allow_methods=settings.CORS_ALLOW_METHODS,
        allow_headers=settings.CORS_ALLOW_HEADERS,
        expose_headers=["Retry-After", "WWW-Authenticate", "ETag"],
        max_age=600,
    )


def create_app(*routers: APIRouter, docs: bool = False, extra_routes: Iterable[object] = ()) -> FastAPI:
    """A FastAPI app with the shared middleware and error handlers, serving `routers`."""
    settings = get_settings()
    app = FastAPI(
        title=settings.APP_NAME,
        version=settings.APP_VERSION,
        debug=False,
        docs_url="/docs" if docs else None,
        redoc_url=None,
        openapi_url="/openapi.json" if docs else None,
        swagger_ui_init_oauth={"usePkceWithAuthorizationCodeGrant": False} if docs else None,
    )
    for router in routers:
        app.include_router(router)
    for route in extra_routes:
        app.router.routes.append(route)  # type: ignore[arg-type]
    install_error_handlers(app)
    install_middleware(app)
    return app
