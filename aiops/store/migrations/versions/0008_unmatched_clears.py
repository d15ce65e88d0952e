"""raw events of no alert: a clear of a condition never seen firing (unmatched_clear)

Revision ID: 0008
Revises: 0007

On SQLite the table is copied (batch mode): about 5 s per million raw events on the
benchmark machine (docs/benchmarks.md), once, on the first start with this revision.
"""

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('raw_events', schema=None) as batch_op:
        batch_op.alter_column('alert_id', existing_type=sa.Integer(), nullable=True)


def downgrade() -> None:
    # The schema before cannot hold an event of no alert: those are dropped.
    op.execute(sa.text("DELETE FROM raw_events WHERE alert_id IS NULL"))
    with op.batch_alter_table('raw_events', schema=None) as batch_op:
        batch_op.alter_column('alert_id', existing_type=sa.Integer(), nullable=False)
