"""An alert's and a ticket's entity up to 512 characters (were 256)

Revision ID: 0015
Revises: 0014

An entity names what an alert or ticket is about, usually a topology node, and node
ids hold 512 characters since 0012 (a Kubernetes ``pod/NAMESPACE/NAME`` passes 256).
An alert about such a pod was refused at the edge while the pod itself was in the
topology. The two ``entity`` columns widen to the node id's size
(``aiops.models.MAX_ENTITY_LENGTH``); how, on SQLite and PostgreSQL, is in
``aiops.store.widen_columns``.
"""

from aiops.store.widen_columns import retype_varchar

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

COLUMNS = {
    'alerts': (('entity', False),),
    'tickets': (('entity', True),),
}


def upgrade() -> None:
    retype_varchar(COLUMNS, 256, 512)


def downgrade() -> None:
    # Fails on PostgreSQL while a stored entity is longer than 256 characters: nothing is cut.
    retype_varchar(COLUMNS, 512, 256)
