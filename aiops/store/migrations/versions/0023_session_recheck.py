"""sessions: the sealed refresh token, the scopes as last read and when they were

Revision ID: 0023
Revises: 0022

A user removed at the provider, or from a group there, kept their session and its
scopes until it ended (8 h by default). A session now keeps the provider's refresh
token, encrypted under a key only its cookie gives (aiops/api/session_seal.py), and
is re-checked with it every AIOPS_OIDC_RECHECK seconds (aiops/api/session_recheck.py):
``scopes`` are those last read (space-separated; NULL: a row from before this
migration, whose cookie's scopes count), ``checked_at`` when, ``refresh_sealed`` the
token (NULL: none, no re-check).
"""

import sqlalchemy as sa
from alembic import op

revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('sessions') as batch:
        batch.add_column(sa.Column('scopes', sa.String(64)))
        batch.add_column(sa.Column('checked_at', sa.Float()))
        batch.add_column(sa.Column('refresh_sealed', sa.LargeBinary()))


def downgrade() -> None:
    with op.batch_alter_table('sessions') as batch:
        batch.drop_column('refresh_sealed')
        batch.drop_column('checked_at')
        batch.drop_column('scopes')
