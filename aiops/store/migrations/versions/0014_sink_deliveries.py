"""sink_deliveries: the durable outbox of incidents pushed to ITSM sinks

Revision ID: 0014
Revises: 0013

Incidents go out to webhooks and ServiceNow (docs/sinks.md) through this table: a
batch's changes are queued here when the batch is published, and the delivery loop
of ``aiops serve`` sends them, retrying while a receiver is down, so a restart or an
outage of the receiver loses nothing. One row per (sink, incident).
"""

import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'sink_deliveries',
        sa.Column('sink', sa.String(256), primary_key=True),
        sa.Column('incident_id', sa.String(32), primary_key=True),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('fingerprint', sa.JSON(), nullable=False),
        sa.Column('status', sa.String(16), nullable=False),
        sa.Column('changed_at', sa.Float(), nullable=False),
        sa.Column('next_attempt_at', sa.Float(), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('delivered_version', sa.Integer(), nullable=False),
        sa.Column('delivered_fingerprint', sa.JSON(), nullable=True),
        sa.Column('delivered_at', sa.Float(), nullable=True),
        sa.Column('external_id', sa.String(256), nullable=True),
        sa.Column('last_attempt_at', sa.Float(), nullable=True),
        sa.Column('last_error', sa.Text(), nullable=True),
    )
    op.create_index('ix_sink_deliveries_due', 'sink_deliveries', ['status', 'next_attempt_at'])


def downgrade() -> None:
    op.drop_index('ix_sink_deliveries_due', table_name='sink_deliveries')
    op.drop_table('sink_deliveries')
