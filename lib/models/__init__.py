"""Every table, imported here so that Alembic sees one metadata."""

from sqlalchemy.orm import configure_mappers

from lib.models.base import metadata, utcnow
from lib.models.email_token import EmailToken, EmailTokenPurpose
from lib.models.login_attempt import LoginFailure
from lib.models.recovery_code import RecoveryCode
from lib.models.session import AuthSession, RefreshToken
from lib.models.user import Role, User

# Mappers are resolved once at import, not on the first query of a cold start.
configure_mappers()

__all__ = [
    "AuthSession",
    "EmailToken",
    "EmailTokenPurpose",
    "LoginFailure",
    "RecoveryCode",
    "RefreshToken",
    "Role",
    "User",
    "metadata",
    "utcnow",
]
