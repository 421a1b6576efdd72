"""session epochs and refresh-token lineage

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 15:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_epoch', sa.Integer(), server_default='0', nullable=False))
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('epoch', sa.Integer(), server_default='0', nullable=False))
    with op.batch_alter_table('refresh_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('parent_id', sa.Uuid(), nullable=True))
        batch_op.create_index(batch_op.f('ix_refresh_tokens_parent_id'), ['parent_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('refresh_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_refresh_tokens_parent_id'))
        batch_op.drop_column('parent_id')
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.drop_column('epoch')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('session_epoch')
    if op.get_bind().dialect.name == 'sqlite':
        # Batch mode rebuilt the table there, and reflection cannot carry an expression index over.
        op.execute('CREATE UNIQUE INDEX IF NOT EXISTS uq_users_username_lower ON users (lower(username))')
