"""The OAuth 2.0 `client_id` a token request may name (RFC 6749 2.2), which access tokens carry
(RFC 9068 2.2).

RFC 6749 allows any printable ASCII; this service takes letters, digits and the marks that names,
UUIDs and URLs use, so that a client id can be logged and put into tokens as it is.
"""

from __future__ import annotations

import re

CLIENT_ID_MAX_LENGTH = 128
CLIENT_ID_RULE = f"1 to {CLIENT_ID_MAX_LENGTH} of letters, digits and - . _ ~ : / @ + ="
_CLIENT_ID = re.compile(rf"[A-Za-z0-9\-._~:/@+=]{{1,{CLIENT_ID_MAX_LENGTH}}}")


def is_client_id(value: object) -> bool:
    return isinstance(value, str) and _CLIENT_ID.fullmatch(value) is not None
