"""incidents.settled and incidents.split_note: the hindsight split's state

Revision ID: 0010
Revises: 0009

An incident is looked at by the hindsight split once, when it first settles
(docs/architecture.md, "Hindsight split"), and never after an operator merged or
split it: ``settled`` says it was (or is pinned), so a restart neither skips an
incident nor splits one again or against an operator's decision. ``split_note`` is
the evidence line saying why it was split, kept across restarts. Every incident
stored before this revision is taken as settled: it was forwarded long ago and is
not split after the fact.
"""

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('incidents', sa.Column('settled', sa.Boolean(), nullable=True))
    op.add_column('incidents', sa.Column('split_note', sa.Text(), nullable=True))
    op.execute(sa.text("UPDATE incidents SET settled = :yes").bindparams(yes=True))


def downgrade() -> None:
    # Not in batch mode, as 0009: SQLite drops a column in place since 3.35.
    op.drop_column('incidents', 'split_note')
    op.drop_column('incidents', 'settled')
