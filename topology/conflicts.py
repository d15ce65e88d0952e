"""Identity-merge conflicts, kept after the discovery run that found them.

A run's report lists its conflicts (two sources disagree about a serial, one address
claimed by two devices...), but a scheduled run reports to nobody, so they are also
stored (``topo_conflicts``, migration 0003) and served by
``GET /api/v1/topology/conflicts`` and ``aiops topology conflicts``. They live in the
engine's SQL database whichever store holds the graph: they are a record of what
sources said, not part of the topology.

A conflict is one row per (source, node, what, message): the same disagreement seen
by the next hourly run bumps ``last_reported`` and ``reports`` instead of adding a
row, so the table grows with distinct problems, not with time. A conflict whose
``last_reported`` is older than the source's latest run has been settled since.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from aiops.timeutil import to_rfc3339
from topology.discovery.identity import Conflict
from topology.tables import topo_conflicts

_CHUNK = 500  # keys per IN (...) list


def conflict_key(source: str, conflict: Conflict) -> str:
    """Stable id of one distinct conflict (messages name the values, so a changed value
    is a new conflict)."""
    text = "\x1f".join((source, conflict.node, conflict.what, conflict.message))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class ConflictLog:
    """Stores and lists conflicts in the engine's database."""

    def __init__(self, db: sa.Engine):
        self.db = db

    def record(self, source: str, conflicts: Iterable[Conflict],
               at: float | None = None) -> int:
        """Store one run's conflicts in one transaction; returns how many were new."""
        now = time.time() if at is None else at
        rows = {conflict_key(source, c): c for c in conflicts}  # once per run
        if not rows:
            return 0
        keys = sorted(rows)
        with self.db.begin() as conn:
            known: set[str] = set()
            for start in range(0, len(keys), _CHUNK):
                chunk = keys[start:start + _CHUNK]
                known.update(conn.execute(sa.select(topo_conflicts.c.key)
                                          .where(topo_conflicts.c.key.in_(chunk))).scalars())
            new = [{"key": key, "source": source, "node": c.node, "what": c.what,
                    "message": c.message, "details": c.values, "first_reported": now,
                    "last_reported": now, "reports": 1}
                   for key, c in rows.items() if key not in known]
            seen = [{"_key": key, "_details": rows[key].values, "_at": now}
                    for key in sorted(known)]
            if new:
                conn.execute(topo_conflicts.insert(), new)
            if seen:
                table = topo_conflicts.c
                conn.execute(topo_conflicts.update()
                             .where(table.key == sa.bindparam("_key"))
                             .values(details=sa.bindparam("_details"),
                                     reports=table.reports + 1,
                                     # A backfilled old run never moves last_reported back.
                                     last_reported=sa.case(
                                         (table.last_reported < sa.bindparam("_at"),
                                          sa.bindparam("_at")),
                                         else_=table.last_reported)), seen)
        return len(new)

    def list(self, limit: int = 100, node: str | None = None,
             source: str | None = None) -> tuple[int, list[dict[str, Any]]]:
        """(how many match, the ``limit`` most recently reported), newest first."""
        where = []
        if node is not None:
            where.append(topo_conflicts.c.node == node)
        if source is not None:
            where.append(topo_conflicts.c.source == source)
        with self.db.connect() as conn:
            total = conn.execute(sa.select(sa.func.count()).select_from(topo_conflicts)
                                 .where(*where)).scalar() or 0
            rows = conn.execute(
                sa.select(topo_conflicts).where(*where)
                .order_by(topo_conflicts.c.last_reported.desc(), topo_conflicts.c.node,
                          topo_conflicts.c.key)
                .limit(limit)).all()
        return int(total), [_item(r) for r in rows]


def _item(row: Any) -> dict[str, Any]:
    return {"source": row.source, "node": row.node, "what": row.what,
            "message": row.message, "values": row.details,
            "first_reported": to_rfc3339(row.first_reported),
            "last_reported": to_rfc3339(row.last_reported), "reports": row.reports}
