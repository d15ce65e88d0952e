"""sink_tombstones: what a receiver last knew of an incident whose outbox row was pruned

Revision ID: 0019
Revises: 0018

Retention (0018) deletes the outbox rows of incidents that ended long ago. A row held
the incident's version for its receiver; an incident re-opened after the prune was
queued as a new row and started again at version 1, so a receiver that keeps the
highest version per incident (the documented way to order deliveries) dropped the
re-opening, or took ``inc:1`` for a repeat of its first delivery. A tombstone keeps,
per pruned row, the version and what was last delivered (three small columns); the
row queued again goes on from them and takes the tombstone's place.
"""

import sqlalchemy as sa
from alembic import op

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'sink_tombstones',
        sa.Column('sink', sa.String(256), primary_key=True),
        sa.Column('incident_id', sa.String(32), primary_key=True),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('delivered_version', sa.Integer(), nullable=False),
        sa.Column('delivered_fingerprint', sa.JSON(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table('sink_tombstones')
