"""sessions: the sign-in sessions, so that signing out ends a session everywhere

Revision ID: 0022
Revises: 0021

Single sign-on's sessions were signed cookies the engine did not store: signing out
cleared the cookie in one browser, but a copy taken before (a shared machine, a leaked
cookie) stayed valid until it expired. One row per session, named by the SHA-256 of the
random id its signed cookie carries; a cookie whose row is missing, ended or expired
is not signed in (aiops/api/session_store.py).
"""

import sqlalchemy as sa
from alembic import op

revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'sessions',
        sa.Column('id', sa.String(64), primary_key=True),
        sa.Column('user_name', sa.String(256), nullable=False),
        sa.Column('created_at', sa.Float(), nullable=False),
        sa.Column('expires_at', sa.Float(), nullable=False),
        sa.Column('ended_at', sa.Float()),
    )
    op.create_index('ix_sessions_user', 'sessions', ['user_name'])


def downgrade() -> None:
    op.drop_index('ix_sessions_user', table_name='sessions')
    op.drop_table('sessions')
