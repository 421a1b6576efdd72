"""TOTP (RFC 6238) with pyotp, and the QR code that carries its `otpauth://` URI (segno)."""

from __future__ import annotations

import hmac
import io
import time

import pyotp

DRIFT_STEPS = 1  # codes of the previous and the next 30-second step are accepted too


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, *, account: str, issuer: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=issuer)


def qr_svg(uri: str) -> str:
    """The URI as a QR code in a standalone SVG document (dark on white, as scanners expect)."""
    import segno  # only enrolment draws a QR code

    buffer = io.BytesIO()
    segno.make(uri, error="m").save(
        buffer, kind="svg", scale=4, border=4, light="#fff", xmldecl=False, svgclass=None, lineclass=None, nl=False
    )
    return buffer.getvalue().decode("utf-8")


def is_totp_code(code: str) -> bool:
    """Six ASCII digits (str.isdigit alone also takes the digits of other scripts)."""
    return len(code) == 6 and code.isascii() and code.isdigit()


def matching_step(secret: str, code: str, *, after: int | None) -> int | None:
    """The time step (within the drift) whose code is `code` and that is later than `after`
    (the last step a code was accepted for, so that no code is used twice); else None."""
    if not is_totp_code(code):
        return None
    totp = pyotp.TOTP(secret)
    now = totp.timecode(time.time())
    for step in range(now - DRIFT_STEPS, now + DRIFT_STEPS + 1):
        if (after is None or step > after) and hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None
