"""alerts.placement: why each alert is in its incident

Revision ID: 0026
Revises: 0025

Root causes carried readable evidence, grouping did not: nothing stored said why an
alert joined an incident rather than opening one, what it linked through, what the
runner-up was, or that a hindsight split, an absorb or an operator moved it later.
The engine now keeps that per alert (aiops/engine/placement.py). NULL: an alert
placed before this migration ("not recorded").
"""

import sqlalchemy as sa
from alembic import op

revision = '0026'
down_revision = '0025'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('alerts', sa.Column('placement', sa.JSON(), nullable=True))


def downgrade() -> None:
    # Not in batch mode, as 0011: SQLite drops a column in place since 3.35.
    op.drop_column('alerts', 'placement')
