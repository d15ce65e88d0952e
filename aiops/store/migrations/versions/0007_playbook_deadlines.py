"""playbook runs: deadlines, and a revision that every write of a worker bumps

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

# What AIOPS_PLAYBOOK_START_WITHIN defaults to: a run queued before this revision gets
# the same limit as one queued after it.
START_WITHIN = 600.0


def upgrade() -> None:
    with op.batch_alter_table('playbook_runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('start_by', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('give_up_at', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('revision', sa.Integer(), nullable=False,
                                      server_default='0'))
    op.execute(sa.text("UPDATE playbook_runs SET start_by = requested_at + :limit "
                       "WHERE status = 'queued'").bindparams(limit=START_WITHIN))


def downgrade() -> None:
    with op.batch_alter_table('playbook_runs', schema=None) as batch_op:
        batch_op.drop_column('revision')
        batch_op.drop_column('give_up_at')
        batch_op.drop_column('start_by')
