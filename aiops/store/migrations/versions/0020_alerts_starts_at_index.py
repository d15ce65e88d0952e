"""ix_alerts_starts_at: the time-window look-ups stop scanning the whole alert history

Revision ID: 0020
Revises: 0019

Every window on the stored alerts is a range of ``starts_at``: the clock and the
absorber's buffer read back at a restart, the live pace's seed, drift checks, shadow
regrouping and retraining. Without an index each was a scan of every alert ever stored
(25 ms at 300,000 alerts in SQLite, growing with the history); with it a look-up of the
window's rows (0.4 ms).
"""

from alembic import op

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_alerts_starts_at', 'alerts', ['starts_at'])


def downgrade() -> None:
    op.drop_index('ix_alerts_starts_at', table_name='alerts')
