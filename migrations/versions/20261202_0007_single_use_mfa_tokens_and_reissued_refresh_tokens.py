"""single-use mfa_tokens (users.mfa_logins), refresh tokens' iat (refresh_tokens.issued_at)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('mfa_logins', sa.Integer(), server_default='0', nullable=False))
    with op.batch_alter_table('refresh_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('issued_at', sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('refresh_tokens', schema=None) as batch_op:
        batch_op.drop_column('issued_at')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('mfa_logins')
    if op.get_bind().dialect.name == 'sqlite':
        # Batch mode rebuilt the table there, and reflection cannot carry an expression index over.
        op.execute('CREATE UNIQUE INDEX IF NOT EXISTS uq_users_username_lower ON users (lower(username))')
