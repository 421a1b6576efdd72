"""One JSON log line per request, and the request id echoed as `X-Request-ID`.

A pure ASGI middleware (standard library only): it reads neither the body nor the
query string, so nothing a client sends beyond method and path reaches the logs.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from lib.log import configure_logging, log_event, request_id_var

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_SAFE_ID = re.compile(r"[A-Za-z0-9:_.\-]{1,128}")


# Where the outer middleware leaves its id, so that an app nested inside another (the local
# server mounts the JWKS function's app) logs and answers with one id, not two.
_SCOPE_KEY = "auth.request_id"


def on_vercel() -> bool:
    """Vercel's platform sets these; only there does its proxy set (and overwrite) `x-vercel-id`."""
    return bool(os.environ.get("VERCEL") or os.environ.get("VERCEL_ENV"))


def request_id_from(scope: Scope) -> str:
    """On Vercel its `x-vercel-id`, else Lambda's request id (Mangum's `aws.context`), else a new one.

    Anywhere else `x-vercel-id` is whatever the client sent, so it is ignored.
    """
    if on_vercel():
        for name, value in scope.get("headers") or []:
            if name == b"x-vercel-id":
                candidate: str = value.decode("latin-1")
                if _SAFE_ID.fullmatch(candidate):
                    return candidate
    context = scope.get("aws.context")
    candidate = str(getattr(context, "aws_request_id", "") or "")
    if _SAFE_ID.fullmatch(candidate):
        return candidate
    return uuid.uuid4().hex


class RequestLogMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        configure_logging()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _SCOPE_KEY in scope:
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(scope)
        scope[_SCOPE_KEY] = request_id
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode("ascii"))]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            log_event(
                "request",
                method=scope.get("method"),
                path=str(scope.get("path", ""))[:512],
                status=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 1),
            )
            request_id_var.reset(token)
