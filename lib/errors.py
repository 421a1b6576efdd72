"""Business errors: raised by services, rendered by one handler as `{"detail", "code"}`."""

from __future__ import annotations

from typing import ClassVar


class AuthError(Exception):
    status_code: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    detail: ClassVar[str] = "Bad request"
    # RFC 6749 5.2 `error`, added beside `code` when a token endpoint answers with this error.
    oauth_error: ClassVar[str] = "invalid_request"

    def __init__(self, detail: str | None = None, *, headers: dict[str, str] | None = None) -> None:
        self.message = detail or self.detail
        self.headers = dict(headers or {})
        self.extra: dict[str, str] = {}  # further fields of the error body
        super().__init__(self.message)


class Unauthorized(AuthError):
    status_code = 401
    code = "not_authenticated"
    detail = "Not authenticated"
    oauth_error = "invalid_grant"

    def __init__(self, detail: str | None = None, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer", **(headers or {})})


class InvalidToken(Unauthorized):
    code = "invalid_token"
    detail = "Invalid token"

    def __init__(self, detail: str | None = None) -> None:
        description = (detail or self.detail).replace('"', "'")
        super().__init__(
            detail,
            headers={"WWW-Authenticate": f'Bearer error="invalid_token", error_description="{description}"'},
        )


class TokenExpired(InvalidToken):
    code = "token_expired"
    detail = "Token has expired"


class TokenRevoked(InvalidToken):
    code = "token_revoked"
    detail = "Token has been revoked"


class RefreshTokenReused(InvalidToken):
    code = "token_reused"
    detail = "Refresh token was already used; the session has been revoked"


class InvalidCredentials(Unauthorized):
    code = "invalid_credentials"
    detail = "Incorrect username or password"


class EmailNotVerified(AuthError):
    status_code = 403
    code = "email_not_verified"
    detail = "Email address is not verified"
    oauth_error = "invalid_grant"


class EmailTokenInvalid(AuthError):
    """A link token from an email (verification, password reset) that is unknown or of another purpose."""

    status_code = 400
    code = "invalid_token"
    detail = "This link is invalid"


class EmailTokenExpired(EmailTokenInvalid):
    code = "token_expired"
    detail = "This link has expired; ask for a new one"


class EmailTokenUsed(EmailTokenInvalid):
    code = "token_used"
    detail = "This link was already used or replaced by a newer one; ask for a new one"


class Forbidden(AuthError):
    status_code = 403
    code = "forbidden"
    detail = "Not enough permissions"


class CsrfFailed(Forbidden):
    """A request that would act with the refresh cookie without proving it comes from an allowed page."""

    code = "csrf_failed"
    detail = "The refresh cookie is only read with the header X-Refresh-Token-Transport: cookie"


class NotFound(AuthError):
    status_code = 404
    code = "not_found"
    detail = "Not found"


class Conflict(AuthError):
    status_code = 409
    code = "conflict"
    detail = "Conflict"


class EmailTaken(Conflict):
    code = "email_taken"
    detail = "An account with this email already exists"


class UsernameTaken(Conflict):
    code = "username_taken"
    detail = "This username is taken"


class InvalidPassword(AuthError):
    status_code = 400
    code = "invalid_password"
    detail = "The current password is incorrect"


class LastAdmin(Conflict):
    code = "last_admin"
    detail = "The last active admin cannot be demoted, deactivated or deleted"


class TooManyRequests(AuthError):
    status_code = 429
    code = "too_many_requests"
    detail = "Too many requests; try again later"
    oauth_error = "temporarily_unavailable"

    def __init__(self, retry_after: int, detail: str | None = None) -> None:
        self.retry_after = max(1, int(retry_after))
        super().__init__(detail, headers={"Retry-After": str(self.retry_after)})


class ServiceUnavailable(AuthError):
    status_code = 503
    code = "database_unavailable"
    detail = "The database is unavailable; try again shortly"
    oauth_error = "temporarily_unavailable"

    def __init__(self, detail: str | None = None, *, retry_after: int = 5) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)})


class TransactionRetriesExhausted(ServiceUnavailable):
    """A request whose transaction kept losing races (deadlocks, serialization failures)."""

    code = "conflict_retry_exhausted"
    detail = "The service is busy; try again shortly"

    def __init__(self) -> None:
        super().__init__(retry_after=1)


class MalformedBody(AuthError):
    """A body that cannot be parsed at all (not UTF-8, not JSON where JSON is due)."""

    code = "bad_request"
    detail = "There was an error parsing the body"


class PayloadTooLarge(AuthError):
    status_code = 413
    code = "payload_too_large"
    detail = "Request body too large"


class InvalidRequest(AuthError):
    """An OAuth 2.0 request (RFC 6749, RFC 7009) with a missing, repeated or malformed parameter."""

    status_code = 400
    code = "invalid_request"
    detail = "The request is missing a parameter or is malformed"


class UnsupportedGrantType(InvalidRequest):
    code = "unsupported_grant_type"
    detail = "Unsupported grant_type; use 'password' or 'refresh_token'"
    oauth_error = "unsupported_grant_type"


class MfaRequired(AuthError):
    """The password was right; the account also needs a second factor, at /api/v1/login/mfa."""

    status_code = 403
    code = "mfa_required"
    detail = "A second factor is required: send a code with the mfa_token to /api/v1/login/mfa"
    oauth_error = "mfa_required"

    def __init__(self, mfa_token: str) -> None:
        super().__init__()
        self.extra = {"mfa_token": mfa_token}


class InvalidMfaCode(Unauthorized):
    """A second-factor login with a wrong, expired or already used code."""

    code = "invalid_mfa_code"
    detail = "The code is wrong, expired or already used"


class WrongMfaCode(AuthError):
    """A signed-in MFA change with a wrong, expired or already used code (400: the caller's
    session is fine; `invalid_mfa_code` is the second login step's 401)."""

    status_code = 400
    code = "wrong_mfa_code"
    detail = "The code is wrong, expired or already used"


class MfaAlreadyEnabled(Conflict):
    code = "mfa_already_enabled"
    detail = "Two-factor login is already on; turn it off first to enrol again"


class MfaNotPending(AuthError):
    status_code = 400
    code = "mfa_not_enrolling"
    detail = "No enrolment to confirm; start one with your password first"


class MfaNotEnabled(AuthError):
    status_code = 400
    code = "mfa_not_enabled"
    detail = "Two-factor login is not on for this account"


class MfaUnavailable(AuthError):
    status_code = 503
    code = "mfa_not_configured"
    detail = "Two-factor login is not configured on this server (MFA_ENCRYPTION_KEY is not set)"
    oauth_error = "temporarily_unavailable"
