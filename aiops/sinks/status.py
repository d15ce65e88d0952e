"""What the outbox holds, per receiver: for ``aiops sinks status`` and
``GET /api/v1/sinks``, so that an operator sees an integration that is stuck."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from aiops.sinks.tables import DELIVERED, FAILED, PENDING, sink_deliveries
from aiops.timeutil import to_rfc3339

FAILURES_LISTED = 20


def outbox_status(conn: sa.Connection, configured: Sequence[str], now: float
                  ) -> dict[str, Any]:
    """Per sink: counts by status, how long the longest-pending row has been pending
    (since it became pending: ``pending_since``), the latest error and the
    incidents that failed for good (newest first). Sinks with rows but no longer
    configured are listed too (``configured: false``): their rows wait for them."""
    t = sink_deliveries.c
    counts: dict[str, dict[str, int]] = {}
    for sink, status, n in conn.execute(
            sa.select(t.sink, t.status, sa.func.count()).group_by(t.sink, t.status)):
        counts.setdefault(sink, {})[status] = int(n)
    out = []
    for sink in list(configured) + sorted(set(counts) - set(configured)):
        by = counts.get(sink, {})
        # Since the row became pending, not its latest change: an incident that keeps
        # changing and is never delivered must look as stuck as it is.
        oldest = conn.execute(sa.select(sa.func.min(sa.func.coalesce(t.pending_since,
                                                                     t.changed_at)))
                              .where(t.sink == sink, t.status == PENDING)).scalar()
        last = conn.execute(
            sa.select(t.incident_id, t.last_error, t.last_attempt_at, t.attempts, t.status)
            .where(t.sink == sink, t.last_error.is_not(None))
            .order_by(t.last_attempt_at.desc()).limit(1)).first()
        failed = conn.execute(
            sa.select(t.incident_id, t.version, t.last_error, t.last_attempt_at)
            .where(t.sink == sink, t.status == FAILED)
            .order_by(t.last_attempt_at.desc()).limit(FAILURES_LISTED)).all()
        last_delivery = conn.execute(sa.select(sa.func.max(t.delivered_at))
                                     .where(t.sink == sink)).scalar()
        out.append({
            "sink": sink, "configured": sink in configured,
            "pending": by.get(PENDING, 0), "delivered": by.get(DELIVERED, 0),
            "failed": by.get(FAILED, 0),
            "oldest_pending_seconds": None if oldest is None else round(now - oldest, 1),
            "last_delivered_at": to_rfc3339(last_delivery),
            "last_error": None if last is None else {
                "incident_id": last.incident_id, "error": last.last_error,
                "at": to_rfc3339(last.last_attempt_at), "attempts": last.attempts,
                "status": last.status},
            "failures": [{"incident_id": r.incident_id, "version": r.version,
                          "error": r.last_error, "at": to_rfc3339(r.last_attempt_at)}
                         for r in failed],
        })
    return {"sinks": out}
