"""Indexes for the incident list's filters: newest first without a sort, alerts by node
and entity, firing alerts by incident

Revision ID: 0024
Revises: 0023

Query plans of ``GET /api/v1/incidents`` and the incident view on 100,000 incidents
and 200,000 alerts (benchmarks/incident_filters.py; docs/benchmarks.md, "Incident
filters") showed scans these fix:

- ``ix_incidents_started`` (started_at, seq): the list without a status (open and
  resolved together), and with a filter, sorted every incident to show 100; now it
  walks the newest first and stops at a page (147 ms → 8 ms in SQLite).
- ``ix_alerts_node`` and ``ix_alerts_entity``: the entity filter (``node_id = ? OR
  entity = ?``) scanned every alert; now two look-ups (97 ms → 9 ms). The node index
  also answers the view's count of alerts on no node (``node_id IS NULL``).
- ``ix_alerts_status_incident`` (status, incident_id) in place of ``ix_alerts_status``:
  the acknowledged and suppressed filters group the firing alerts by incident; with
  ``status`` alone SQLite read every alert through ``ix_alerts_incident`` instead, to
  get them in incident order. Every look-up by status alone still uses its prefix.
"""

from alembic import op

revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_incidents_started', 'incidents', ['started_at', 'seq'])
    op.create_index('ix_alerts_node', 'alerts', ['node_id'])
    op.create_index('ix_alerts_entity', 'alerts', ['entity'])
    op.create_index('ix_alerts_status_incident', 'alerts', ['status', 'incident_id'])
    op.drop_index('ix_alerts_status', table_name='alerts')


def downgrade() -> None:
    op.create_index('ix_alerts_status', 'alerts', ['status'])
    op.drop_index('ix_alerts_status_incident', table_name='alerts')
    op.drop_index('ix_alerts_entity', table_name='alerts')
    op.drop_index('ix_alerts_node', table_name='alerts')
    op.drop_index('ix_incidents_started', table_name='incidents')
