"""Every table, imported here so that Alembic sees one metadata."""

from lib.models.base import metadata, utcnow
from lib.models.email_token import EmailToken, EmailTokenPurpose
from lib.models.login_attempt import LoginFailure
from lib.models.session import AuthSession, RefreshToken
from lib.models.user import Role, User

__all__ = [
    "AuthSession",
    "EmailToken",
    "EmailTokenPurpose",
    "LoginFailure",
    "RefreshToken",
    "Role",
    "User",
    "metadata",
    "utcnow",
]
