"""The route class of the OAuth 2.0 token endpoints (RFC 6749 token, RFC 7009 revocation)."""

from __future__ import annotations

from fastapi import Request
from fastapi.routing import APIRoute


class TokenEndpointRoute(APIRoute):
    """A route of an OAuth 2.0 token endpoint: its errors also carry RFC 6749 5.2 `error` and
    `error_description`, so that standard clients raise them instead of reading them as tokens."""


def is_token_endpoint(request: Request) -> bool:
    return isinstance(request.scope.get("route"), TokenEndpointRoute)
