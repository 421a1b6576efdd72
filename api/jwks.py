"""The public keys (JWKS), the OpenID discovery document and RFC 8414 metadata, for other services."""

from __future__ import annotations

from mangum import Mangum

from lib.request_log import RequestLogMiddleware
from lib.wellknown import WellKnownApp

app = RequestLogMiddleware(WellKnownApp())
handler = Mangum(app, lifespan="off")
