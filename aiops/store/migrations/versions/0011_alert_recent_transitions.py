"""alerts.recent_transitions: a condition's state changes within the flap window

Revision ID: 0011
Revises: 0010

Whether a condition flaps (``flap_threshold`` state changes within ``flap_window``)
is read from the times of its recent changes; the engine kept them in memory only,
so after a restart a flapping condition counted from nothing, stopped flapping at its
next change, and its next start became a new alert where one run through folded it
(docs/architecture.md, "Deduplication and lifecycle"). NULL (every alert stored
before this revision, and any without a recent change): none kept.
"""

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('alerts', sa.Column('recent_transitions', sa.JSON(), nullable=True))


def downgrade() -> None:
    # Not in batch mode, as 0009: SQLite drops a column in place since 3.35.
    op.drop_column('alerts', 'recent_transitions')
