"""The public keys (JWKS), the OpenID discovery document and RFC 8414 metadata, for other services."""

from __future__ import annotations

from mangum import Mangum

from lib.production import check_wellknown_function
from lib.request_log import RequestLogMiddleware
from lib.wellknown import WellKnownApp

check_wellknown_function()  # in production, a missing key stops the start, as in the other functions
app = RequestLogMiddleware(WellKnownApp())
handler = Mangum(app, lifespan="off")
