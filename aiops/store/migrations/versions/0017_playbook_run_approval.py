"""playbook runs: an operator's approval of a run a policy asked for

Revision ID: 0017
Revises: 0016

A playbook's ``auto`` policy may ask for an operator's yes before its run goes ahead
(``approval: true``, docs/playbooks.md): the run is stored ``needs-approval`` and waits.
``decided_by``, ``decided_at`` and ``decision_note`` record who said yes or no, when
and why. A run waiting for approval holds its playbook on the incident as a queued
one does, so the partial unique index of 0013 is rebuilt to count it.
"""

import sqlalchemy as sa
from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

OLD_IN_FLIGHT = sa.text("status IN ('queued', 'running') AND NOT forced")
IN_FLIGHT = sa.text("status IN ('needs-approval', 'queued', 'running') AND NOT forced")


def _in_flight_index(where: sa.TextClause) -> None:
    op.drop_index('ix_playbook_runs_in_flight', table_name='playbook_runs')
    op.create_index('ix_playbook_runs_in_flight', 'playbook_runs', ['incident_id', 'playbook'],
                    unique=True, sqlite_where=where, postgresql_where=where)


def upgrade() -> None:
    with op.batch_alter_table('playbook_runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('decided_by', sa.String(length=256), nullable=True))
        batch_op.add_column(sa.Column('decided_at', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('decision_note', sa.Text(), nullable=True))
    _in_flight_index(IN_FLIGHT)


def downgrade() -> None:
    # Runs still waiting are rejected: the older code has no such status.
    op.execute(sa.text("UPDATE playbook_runs SET status = 'rejected' "
                       "WHERE status = 'needs-approval'"))
    _in_flight_index(OLD_IN_FLIGHT)
    with op.batch_alter_table('playbook_runs', schema=None) as batch_op:
        batch_op.drop_column('decision_note')
        batch_op.drop_column('decided_at')
        batch_op.drop_column('decided_by')
