"""topology revision counter

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table('topo_revision',
    sa.Column('key', sa.String(length=32), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('changed_at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_topo_revision'))
    )
    # the one row exists from the start, so concurrent writers only ever update it
    op.bulk_insert(table, [{'key': 'topology', 'revision': 0, 'changed_at': 0.0}])


def downgrade() -> None:
    op.drop_table('topo_revision')
