"""The public keys (JWKS) and the OpenID discovery document, for other services."""

from __future__ import annotations

from mangum import Mangum

from lib.wellknown import WellKnownApp

app = WellKnownApp()
handler = Mangum(app, lifespan="off")
