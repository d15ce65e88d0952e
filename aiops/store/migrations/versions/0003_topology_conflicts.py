"""topology identity conflicts

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'topo_conflicts',
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('source', sa.String(length=64), nullable=False),
        sa.Column('node', sa.String(length=256), nullable=False),
        sa.Column('what', sa.String(length=64), nullable=False),
        sa.Column('message', sa.Text(), nullable=False),
        sa.Column('details', sa.JSON(), nullable=False),
        sa.Column('first_reported', sa.Float(), nullable=False),
        sa.Column('last_reported', sa.Float(), nullable=False),
        sa.Column('reports', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('key', name=op.f('pk_topo_conflicts')),
    )
    with op.batch_alter_table('topo_conflicts', schema=None) as batch_op:
        batch_op.create_index('ix_topo_conflicts_last_reported', ['last_reported'],
                              unique=False)
        batch_op.create_index('ix_topo_conflicts_node', ['node'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('topo_conflicts', schema=None) as batch_op:
        batch_op.drop_index('ix_topo_conflicts_node')
        batch_op.drop_index('ix_topo_conflicts_last_reported')

    op.drop_table('topo_conflicts')
