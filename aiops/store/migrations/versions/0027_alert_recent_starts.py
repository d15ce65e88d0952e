"""alerts.recent_starts: a firing condition's latest reported start times

Revision ID: 0027
Revises: 0026

A sender that repeats a lasting condition on a steady beat, each time stamped now (a
device repeating its syslog message, a cron job posting to a webhook), is told from a
condition that restarts by the gaps between its latest starts (aiops/engine/beat.py);
kept in memory only, a restart of the engine would forget the beat and make the next
repeat a new alert. NULL (every alert stored before this revision, and any cleared
since its last start): none kept.
"""

import sqlalchemy as sa
from alembic import op

revision = '0027'
down_revision = '0026'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('alerts', sa.Column('recent_starts', sa.JSON(), nullable=True))


def downgrade() -> None:
    # Not in batch mode, as 0011: SQLite drops a column in place since 3.35.
    op.drop_column('alerts', 'recent_starts')
