"""Tickets and incidents linked as either arrives, never on the alert hot path.

Two moments make a link possible, and linking happens at exactly those two:

* a ticket arrives (``aiops tickets pull`` / ``import``): ``store_and_link`` stores the
  tickets and links them to the incidents already stored, in one transaction;
* an incident resolves (or is merged into another): ``TicketLinkSink``, an engine sink
  (``aiops.sinks``), runs after the batch that resolved it is stored, finds the
  stored tickets whose time window reaches the incident and links them again, now
  that the incident's alerts, entities and span are final. Tickets linked to an
  incident that was merged are re-linked to the incident that holds its alerts.

Linking on every alert would put database reads and text embeddings on the path
that must keep up with alert storms, for links that only settle when the incident
does; a batch without a resolved or merged incident costs the sink one pass over
the batch's incidents, and one without stored tickets near it one indexed query.
``aiops tickets link`` still re-links everything (after a new topology, say).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from aiops.engine.state import MERGED, RESOLVED, AlertRecord, IncidentRecord
from aiops.learning.embeddings import TemplateEmbedder
from aiops.models import Ticket
from aiops.tickets.linker import LinkSettings, TicketLinker
from aiops.tickets.store import StoreResult, load_tickets, replace_links, store_tickets
from aiops.tickets.tables import ticket_links, tickets
from topology.graph import TopologyGraph

log = logging.getLogger(__name__)


def link_stored(conn: sa.Connection, items: list[Ticket], topology: TopologyGraph,
                embedder: TemplateEmbedder | None,
                settings: LinkSettings | None = None) -> int:
    """Replace the links of ``items`` with their links to the incidents stored now."""
    links = TicketLinker(topology, embedder, settings).link(conn, items)
    replace_links(conn, [t.id for t in items], [link.row() for link in links])
    return len(links)


def store_and_link(db: sa.Engine, items: list[Ticket], source: str, topology: TopologyGraph,
                   embedder: TemplateEmbedder | None) -> tuple[StoreResult, int]:
    """One transaction: the tickets, then their links to the stored incidents."""
    with db.begin() as conn:
        result = store_tickets(conn, items, source, topology.resolve)
        return result, link_stored(conn, items, topology, embedder)


@dataclass(frozen=True)
class SinkSettings:
    # A ticket opened this long before an incident started is not looked at when the
    # incident resolves (it bounds the indexed range scan); ``aiops tickets link`` is.
    lookback: float = 7 * 86400.0


class TicketLinkSink:
    """Re-links stored tickets when incidents resolve or merge (see the module doc)."""

    def __init__(self, db: sa.Engine, topology: Callable[[], TopologyGraph],
                 embedder: TemplateEmbedder | None, links: LinkSettings | None = None,
                 settings: SinkSettings | None = None):
        self.db = db
        self.topology = topology
        self.embedder = embedder
        self.links = links or LinkSettings()
        self.settings = settings or SinkSettings()
        self.relinked = 0  # tickets re-linked so far (for tests and stats)

    def publish(self, incidents: Iterable[IncidentRecord],
                alerts: Iterable[AlertRecord]) -> int:
        """Re-link the tickets near the batch's resolved or merged incidents; returns how
        many tickets were re-linked."""
        settled = [i for i in incidents if i.status in (RESOLVED, MERGED)]
        if not settled:
            return 0
        with self.db.begin() as conn:
            ids = self._near(conn, [i for i in settled if i.status == RESOLVED])
            ids |= self._linked_to(conn, [i.id for i in settled if i.status == MERGED])
            if not ids:
                return 0
            items = load_tickets(conn, sorted(ids))
            link_stored(conn, items, self.topology(), self.embedder, self.links)
        self.relinked += len(items)
        return len(items)

    def _near(self, conn: sa.Connection, resolved: list[IncidentRecord]) -> set[str]:
        """Tickets whose linking window (``TicketLinker``) reaches one of ``resolved``."""
        if not resolved:
            return set()
        s = self.links
        spans = [(i.started_at, i.resolved_at or i.updated_at) for i in resolved]
        lo = min(start for start, _ in spans) - self.settings.lookback
        hi = max(end for _, end in spans) + s.lead + s.horizon
        end = sa.func.coalesce(tickets.c.resolved_at, tickets.c.opened_at + s.open_span)
        rows = conn.execute(sa.select(tickets.c.id, tickets.c.opened_at, end)
                            .where(tickets.c.opened_at >= lo, tickets.c.opened_at <= hi))
        found = set()
        for ticket_id, opened, until in rows:
            first, last = opened - s.lead - s.horizon, max(until, opened) + s.horizon
            if any(start <= last and stop >= first for start, stop in spans):
                found.add(ticket_id)
        return found

    def _linked_to(self, conn: sa.Connection, incident_ids: list[str]) -> set[str]:
        if not incident_ids:
            return set()
        query = sa.select(ticket_links.c.ticket_id).where(
            ticket_links.c.incident_id.in_(incident_ids))
        return set(conn.execute(query).scalars())


def ticket_link_sink(runtime: Any) -> TicketLinkSink:
    """The sink for an opened runtime: its database, the engine's current topology, and
    its embedder unless text similarity is switched off."""
    text = runtime.embedder if runtime.data_dir.settings.text_similarity else None
    return TicketLinkSink(runtime.db, lambda: runtime.engine.topology, text)
