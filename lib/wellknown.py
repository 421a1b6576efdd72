"""JWKS, OpenID discovery and RFC 8414 metadata as a minimal ASGI app: no FastAPI, no database,
no hasher. A CDN caches these documents, so nearly every invocation that reaches this code is
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
METADATA_PATH = "/.well-known/oauth-authorization-server"
CACHE_CONTROL = b"public, max-age=300, s-maxage=3600, stale-while-revalidate=86400"


@lru_cache
def discovery_document() -> bytes:
    """OpenID Provider metadata, also served as RFC 8414 metadata: only what exists and works as its
    specification says (no authorization, registration or end-session endpoint)."""
    issuer = env("JWT_ISSUER") or DEFAULT_JWT_ISSUER
    base = issuer.rstrip("/")
    document = {
        "issuer": issuer,
        "jwks_uri": f"{base}{JWKS_PATH}",
        "token_endpoint": f"{base}/api/v1/login",
        "revocation_endpoint": f"{base}/api/v1/revoke",
        "userinfo_endpoint": f"{base}/api/v1/user/me",
        "grant_types_supported": ["password", "refresh_token"],
        # Required by both specifications even without an authorization endpoint; none is
        # advertised and no grant that uses one is listed, so no client is sent to one.
        "response_types_supported": ["token"],
        "token_endpoint_auth_methods_supported": ["none"],
        "revocation_endpoint_auth_methods_supported": ["none"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "claims_supported": ["iss", "aud", "sub", "sid", "role", "amr", "client_id", "iat", "exp", "jti"],
    }
    return json.dumps(document, separators=(",", ":")).encode("ascii")


DOCUMENTS: dict[str, Callable[[], bytes]] = {
    JWKS_PATH: jwks_document,
    DISCOVERY_PATH: discovery_document,
    METADATA_PATH: discovery_document,
}


def _etag(body: bytes) -> bytes:
    return b'"' + hashlib.sha256(body).hexdigest()[:32].encode("ascii") + b'"'


def _matches(if_none_match: bytes, etag: bytes) -> bool:
    candidates = {tag.strip().removeprefix(b"W/") for tag in if_none_match.split(b",")}
    return b"*" in candidates or etag in candidates


async def _respond(
    send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes = b"", *, head: bool = False
) -> None:
    """The response; to a HEAD, its headers alone, `Content-Length` that of the GET (RFC 9110 9.3.2)."""
    headers.append((b"content-length", str(len(body)).encode("ascii")))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else body})


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
        await _respond(send, 200, headers, body, head=method == "HEAD")
