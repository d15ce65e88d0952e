"""engine_state: the live pace's readings, so a restart goes on exactly where it was

Revision ID: 0021
Revises: 0020

An engine without a trained model reads its time scale and type precedence from the
alerts it keeps (``aiops.engine.pace``), fitting them on a grid of event time. A
restart fitted them again on the stored alerts at the restart's point, off the grid and
on deduplicated alerts rather than the events it had kept: the scale in use could jump
(1.21 -> 1.0 on a Huawei stream) and the incidents after the restart differed from a
run without it. One row per state, its readings as JSON, written with the batch whose
event made the fit.
"""

import sqlalchemy as sa
from alembic import op

revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'engine_state',
        sa.Column('name', sa.String(64), primary_key=True),
        sa.Column('state', sa.JSON(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table('engine_state')
