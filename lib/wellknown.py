"""JWKS and OpenID discovery as a minimal ASGI app: no FastAPI, no database, no hasher.

A CDN caches these documents, so nearly every invocation that reaches this code is
a cold start; it imports only the standard library and `lib.security.keys`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, MutableMapping
from functools import lru_cache
from typing import Any

from lib.env import DEFAULT_JWT_ISSUER, env
from lib.security.keys import jwks_document

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

JWKS_PATH = "/.well-known/jwks.json"
DISCOVERY_PATH = "/.well-known/openid-configuration"
CACHE_CONTROL = b"public, max-age=300, s-maxage=3600, stale-while-revalidate=86400"


@lru_cache
def discovery_document() -> bytes:
    base = (env("JWT_ISSUER") or DEFAULT_JWT_ISSUER).rstrip("/")
    document = {
        "issuer": env("JWT_ISSUER") or DEFAULT_JWT_ISSUER,
        "jwks_uri": f"{base}{JWKS_PATH}",
        "token_endpoint": f"{base}/api/v1/login",
        "userinfo_endpoint": f"{base}/api/v1/user/me",
        "registration_endpoint": f"{base}/api/v1/sign-up",
        "refresh_endpoint": f"{base}/api/v1/refresh",
        "end_session_endpoint": f"{base}/api/v1/logout",
        "grant_types_supported": ["password", "refresh_token"],
        "response_types_supported": ["token"],
        "subject_types_supported": ["public"],
        "token_endpoint_auth_methods_supported": ["none"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "access_token_signing_alg_values_supported": ["RS256"],
        "claims_supported": ["iss", "aud", "sub", "sid", "role", "iat", "exp", "jti"],
    }
    return json.dumps(document, separators=(",", ":")).encode("ascii")


DOCUMENTS: dict[str, Callable[[], bytes]] = {JWKS_PATH: jwks_document, DISCOVERY_PATH: discovery_document}


def _etag(body: bytes) -> bytes:
    return b'"' + hashlib.sha256(body).hexdigest()[:32].encode("ascii") + b'"'


def _matches(if_none_match: bytes, etag: bytes) -> bool:
    candidates = {tag.strip().removeprefix(b"W/") for tag in if_none_match.split(b",")}
    return b"*" in candidates or etag in candidates


async def _respond(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes = b"") -> None:
    headers.append((b"content-length", str(len(body)).encode("ascii")))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class WellKnownApp:
    """Serves the JWKS and discovery documents with CDN caching, ETag and 304."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        cors = [(b"access-control-allow-origin", b"*")]
        document = DOCUMENTS.get(scope["path"])
        if document is None:
            body = b'{"detail":"Not Found","code":"not_found"}'
            await _respond(
                send, 404, [(b"content-type", b"application/json"), (b"cache-control", b"no-store"), *cors], body
            )
            return
        method = scope["method"]
        if method == "OPTIONS":
            await _respond(
                send,
                204,
                [
                    *cors,
                    (b"access-control-allow-methods", b"GET, HEAD, OPTIONS"),
                    (b"access-control-max-age", b"86400"),
                ],
            )
            return
        if method not in {"GET", "HEAD"}:
            body = b'{"detail":"Method Not Allowed","code":"method_not_allowed"}'
            await _respond(
                send,
                405,
                [
                    (b"content-type", b"application/json"),
                    (b"allow", b"GET, HEAD, OPTIONS"),
                    (b"cache-control", b"no-store"),
                    *cors,
                ],
                body,
            )
            return
        body = document()
        etag = _etag(body)
        headers = [(b"cache-control", CACHE_CONTROL), (b"etag", etag), *cors]
        request_headers = dict(scope.get("headers") or [])
        if _matches(request_headers.get(b"if-none-match", b""), etag):
            await send({"type": "http.response.start", "status": 304, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        headers.append((b"content-type", b"application/json"))
        await _respond(send, 200, headers, b"" if method == "HEAD" else body)
