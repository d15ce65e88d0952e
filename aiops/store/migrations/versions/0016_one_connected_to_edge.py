"""One stored edge per connected pair: reversed connected_to edges folded

Revision ID: 0016
Revises: 0015

``connected_to`` has no direction (docs/contracts.md §2), and discovery stores it with
its ends in sorted order, but an imported document's ``b -> a`` was stored as given:
beside discovery's ``a -> b`` (or the document's own ``a -> b``) the one link was two
rows, shown twice and counted twice. Stores now sort the ends on every write
(``topology.model.canonical_edges``); this folds what was stored before. A reversed row
whose sorted twin exists is merged into it (the earlier first sighting, the later
last sighting, the attrs and source of the one seen last) and deleted; one without a
twin has its ends swapped. There is no downgrade of the fold: the reversed rows it
merged are not restored (the stores of the older code read sorted rows as they are).
"""

import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

EDGES = sa.table('topo_edges', sa.column('source_id'), sa.column('target_id'),
                 sa.column('kind'), sa.column('attrs', sa.JSON), sa.column('source'),
                 sa.column('first_seen'), sa.column('last_seen'))


def _at(source: str, target: str):
    return ((EDGES.c.source_id == source) & (EDGES.c.target_id == target)
            & (EDGES.c.kind == 'connected_to'))


def upgrade() -> None:
    conn = op.get_bind()
    # Compared in Python, as the stores sort (by code point): PostgreSQL's ``>`` follows
    # the database's collation, which orders text otherwise.
    reversed_rows = [row for row in conn.execute(
        sa.select(EDGES.c.source_id, EDGES.c.target_id).where(EDGES.c.kind == 'connected_to'))
        if row.target_id < row.source_id]
    for reversed_key in reversed_rows:
        row = conn.execute(sa.select(EDGES).where(
            _at(reversed_key.source_id, reversed_key.target_id))).one()
        twin = conn.execute(sa.select(EDGES).where(_at(row.target_id, row.source_id))).first()
        if twin is None:
            conn.execute(EDGES.update().where(_at(row.source_id, row.target_id))
                         .values(source_id=row.target_id, target_id=row.source_id))
            continue
        latest = row if row.last_seen > twin.last_seen else twin
        conn.execute(EDGES.update().where(_at(twin.source_id, twin.target_id)).values(
            first_seen=min(row.first_seen, twin.first_seen),
            last_seen=max(row.last_seen, twin.last_seen),
            attrs=latest.attrs, source=latest.source))
        conn.execute(EDGES.delete().where(_at(row.source_id, row.target_id)))


def downgrade() -> None:
    pass
