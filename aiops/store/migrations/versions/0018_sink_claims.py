"""sink_deliveries: when a row became pending, and which process is sending it

Revision ID: 0018
Revises: 0017

``pending_since``: when the row last went from delivered (or failed, or new) to
pending. ``aiops sinks status`` measured the oldest pending change from
``changed_at``, the row's latest change, so an incident that kept changing and was
never delivered looked fresh however long its receiver had been failing. Rows
pending at the upgrade are dated from their latest change (``changed_at``), the best
the table knows of them.

``claimed_by`` and ``claimed_until``: a lease taken by the delivery loop before it
sends a row (``aiops.sinks.delivery``), so that two processes draining one database
do not both send it.
"""

import sqlalchemy as sa
from alembic import op

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('sink_deliveries', sa.Column('pending_since', sa.Float(), nullable=True))
    op.add_column('sink_deliveries', sa.Column('claimed_by', sa.String(128), nullable=True))
    op.add_column('sink_deliveries', sa.Column('claimed_until', sa.Float(), nullable=True))
    op.execute("UPDATE sink_deliveries SET pending_since = changed_at "
               "WHERE status = 'pending'")


def downgrade() -> None:
    with op.batch_alter_table('sink_deliveries') as batch:
        batch.drop_column('claimed_until')
        batch.drop_column('claimed_by')
        batch.drop_column('pending_since')
