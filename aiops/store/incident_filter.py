"""Which incidents an operator asked to see: the filters of ``GET /incidents`` and of
the incident view, as one SQL condition on the incidents table.

Every filter is a condition the database evaluates, so paging and the counts of what
matches stay right whatever the filters (filtering a page after reading it would show
short pages and wrong totals). Two choices keep it fast on a large store:

- conditions on alerts (entity, text) are ``incidents.id IN (SELECT incident_id FROM
  alerts WHERE ...)``: the alerts are read once, not once per incident, and the entity's
  test (``node_id = ? OR entity = ?``) is answered by the alerts' indexes on both
  (migration 0024);
- acknowledged and suppressed read the firing alerts only (``ix_alerts_status_incident``,
  migration 0024): an incident is acknowledged (suppressed) when it has firing alerts
  and all of them are (``aiops.engine.alert_status.incident_status``), so the incidents
  that are form a set drawn from the few firing alerts, not from the many resolved ones.
- the list is newest first: ``ix_incidents_started`` lets a filtered page walk the
  incidents in that order and stop at a page, rather than sort all that match.

Text is matched as a substring in any case (``LIKE '%...%'`` with its wildcards
escaped), which no B-tree index answers: ``aiops.store.text_search`` answers it from
trigram indexes (migration 0025) for three characters or more, and scans the alerts'
names and summaries for fewer and for a text found in many of them. docs/benchmarks.md
("Incident filters") says what each costs.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from aiops.engine.alert_status import ACKNOWLEDGED, SUPPRESSED, SUPPRESSIONS
from aiops.models import SEVERITIES
from aiops.store import text_search
from aiops.store.tables import alerts, incidents


@dataclass(frozen=True)
class IncidentFilter:
    """What to keep; None (or empty) everywhere keeps everything.

    ``severities``: the severities kept (``at_least`` builds them from a minimum);
    ``entity`` and ``node_id``: incidents with an alert on that entity string or placed
    on that topology node; ``text``: in the title, or an alert's name or summary, any
    case; ``acknowledged`` / ``suppressed``: the incident-level booleans; ``since`` /
    ``until``: the incident's start, epoch seconds, ``until`` exclusive.
    """

    severities: tuple[str, ...] = ()
    entity: str | None = None
    node_id: str | None = None
    text: str | None = None
    acknowledged: bool | None = None
    suppressed: bool | None = None
    since: float | None = None
    until: float | None = None

    def is_empty(self) -> bool:
        return self == IncidentFilter()


def at_least(severity: str) -> tuple[str, ...]:
    """The severities as grave as ``severity`` or graver (critical is the gravest)."""
    return SEVERITIES[:SEVERITIES.index(severity) + 1]


def _all_firing_alerts(label: str, values: tuple[str, ...]) -> sa.Select:
    """Ids of the incidents that have firing alerts, every one with ``label`` in
    ``values``: grouped over the firing alerts alone."""
    value = alerts.c.labels[label].as_string()
    missing = sa.case((sa.func.coalesce(value, "").in_(values), 0), else_=1)
    return (sa.select(alerts.c.incident_id)
            .where(alerts.c.status == "firing", alerts.c.incident_id.is_not(None))
            .group_by(alerts.c.incident_id)
            .having(sa.func.sum(missing) == 0))


def _flag(label: str, values: tuple[str, ...], wanted: bool) -> sa.ColumnElement[bool]:
    members = _all_firing_alerts(label, values)
    return incidents.c.id.in_(members) if wanted else incidents.c.id.not_in(members)


def conditions(chosen: IncidentFilter, conn: sa.Connection | None = None
               ) -> list[sa.ColumnElement[bool]]:
    """The WHERE terms (ANDed) that keep the incidents ``chosen`` asks for.

    ``conn``: the connection the terms will run on, which lets the text search look
    at the store to choose its trigram indexes or a scan (``text_search.matching``);
    without it the text is scanned for.
    """
    where: list[sa.ColumnElement[bool]] = []
    if chosen.severities:
        where.append(incidents.c.severity.in_(chosen.severities))
    if chosen.since is not None:
        where.append(incidents.c.started_at >= chosen.since)
    if chosen.until is not None:
        where.append(incidents.c.started_at < chosen.until)
    if chosen.entity is not None:
        on = alerts.c.entity == chosen.entity
        if chosen.node_id is not None:
            on = sa.or_(on, alerts.c.node_id == chosen.node_id)
        where.append(incidents.c.id.in_(sa.select(alerts.c.incident_id).where(on)))
    if chosen.text:
        where.append(text_search.scan(chosen.text) if conn is None
                     else text_search.matching(conn, chosen.text))
    if chosen.acknowledged is not None:
        where.append(_flag(ACKNOWLEDGED, ("true",), chosen.acknowledged))
    if chosen.suppressed is not None:
        where.append(_flag(SUPPRESSED, SUPPRESSIONS, chosen.suppressed))
    return where
