"""playbook runs: an idempotency key, and one unforced run per incident and playbook
in flight

Revision ID: 0013
Revises: 0012

A retried request (a double click, a client that timed out and asked again) ran the
playbook twice. ``idempotency_key`` names a request: the same key for the same
incident and playbook returns the run stored for it. ``forced`` marks a run asked for
while another of the same playbook on the same incident was queued or running; a
partial unique index keeps every other such pair to one run in flight, so two
requests at the same moment cannot both be stored. Runs in flight before this
revision were not checked, so they count as forced: the index can be built whatever
they are, and a new request still sees them (docs/playbooks.md, "Asking twice").
"""

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

IN_FLIGHT = sa.text("status IN ('queued', 'running') AND NOT forced")


def upgrade() -> None:
    with op.batch_alter_table('playbook_runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('idempotency_key', sa.String(length=256), nullable=True))
        batch_op.add_column(sa.Column('forced', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    op.execute(sa.text("UPDATE playbook_runs SET forced = :yes "
                       "WHERE status IN ('queued', 'running')").bindparams(yes=True))
    op.create_index('ix_playbook_runs_key', 'playbook_runs',
                    ['incident_id', 'playbook', 'idempotency_key'], unique=True)
    op.create_index('ix_playbook_runs_in_flight', 'playbook_runs', ['incident_id', 'playbook'],
                    unique=True, sqlite_where=IN_FLIGHT, postgresql_where=IN_FLIGHT)


def downgrade() -> None:
    op.drop_index('ix_playbook_runs_in_flight', table_name='playbook_runs')
    op.drop_index('ix_playbook_runs_key', table_name='playbook_runs')
    with op.batch_alter_table('playbook_runs', schema=None) as batch_op:
        batch_op.drop_column('forced')
        batch_op.drop_column('idempotency_key')
