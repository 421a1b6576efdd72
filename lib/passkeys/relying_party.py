"""Who we are to a browser's WebAuthn: the relying party id and the origins allowed to use it.

Both default from `FRONTEND_URL`. Browsers refuse an IP address as RP id, so a loopback
`FRONTEND_URL` (the local default, `http://127.0.0.1:8000`) gives the RP id `localhost` and the
origin `http://localhost:<port>`: a page that uses passkeys locally is opened there.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from lib.production import is_loopback

_DEFAULT_PORTS = {"http": 80, "https": 443}


def normalize_origin(value: str) -> str:
    """`scheme://host[:port]` as a browser writes it into `clientDataJSON` (lower case, no
    default port, no path); ValueError for anything that is not an http(s) origin."""
    parts = urlsplit(value.strip())
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname or parts.path not in ("", "/"):
        raise ValueError(f"{value!r} is not an origin (scheme://host[:port])")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError(f"{value!r} is not an origin (scheme://host[:port])")
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    return (
        f"{parts.scheme}://{host}"
        if port in (None, _DEFAULT_PORTS[parts.scheme])
        else f"{parts.scheme}://{host}:{port}"
    )


def default_relying_party(frontend_url: str) -> tuple[str, list[str]]:
    """The RP id and allowed origins that follow from `FRONTEND_URL`."""
    parts = urlsplit(frontend_url.strip())
    host = (parts.hostname or "").lower()
    if is_loopback(host):
        port = f":{parts.port}" if parts.port is not None else ""
        return "localhost", [f"{parts.scheme or 'http'}://localhost{port}"]
    return host, [normalize_origin(f"{parts.scheme}://{parts.netloc}")]


def _is_ip_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def covers(rp_id: str, origin: str) -> bool:
    """Whether `rp_id` is the host of `origin` or a domain suffix of it (never an IP address,
    never a bare top-level label). Public suffixes such as `co.uk` are not told apart here: the
    browser refuses those at the first ceremony."""
    host = (urlsplit(origin).hostname or "").lower()
    rp_id = rp_id.lower()
    if not rp_id or _is_ip_address(rp_id) or _is_ip_address(host):
        return False
    if host == rp_id:
        return True
    return "." in rp_id and host.endswith(f".{rp_id}")


def production_problem(rp_id: str, origins: list[str]) -> str | None:
    """The one-line refusal for passkey settings in production, or None."""
    if not origins:
        return "WEBAUTHN_ORIGINS must list at least one origin in production"
    for origin in origins:
        if not origin.startswith("https://") or is_loopback(urlsplit(origin).hostname):
            return f"WEBAUTHN_ORIGINS must hold public https:// origins in production, not {origin!r}"
        if not covers(rp_id, origin):
            return (
                f"WEBAUTHN_RP_ID {rp_id!r} is not the host, or a registrable suffix of the host, "
                f"of the allowed origin {origin!r}"
            )
    return None
