"""alerts.episode_start: when the current episode of a condition began

Revision ID: 0009
Revises: 0008

A late clear of an earlier episode must not end a condition that fired again
(docs/architecture.md, "Deduplication and lifecycle"); the engine kept that start in
memory only, so after a restart such a clear ended the re-fired alert. NULL (every
alert stored before this revision): the episode began at ``starts_at``. Adding a
nullable column copies nothing.
"""

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('alerts', sa.Column('episode_start', sa.Float(), nullable=True))


def downgrade() -> None:
    # Not in batch mode: a copy of ``alerts`` cannot be dropped under raw_events' foreign
    # key; SQLite drops a column in place since 3.35.
    op.drop_column('alerts', 'episode_start')
