"""Which stored incidents a ticket was about: scored ticket ↔ incident links.

Four pieces of evidence, each in [0, 1]:

* alerts: share of the ticket's alert ids that are events of the incident (what an
  integration that opens tickets from alerts records; decisive when present);
* entity: the ticket's configuration item, resolved through the topology, is an
  alarming node or root-cause candidate of the incident (1), one hop away (0.6) or
  two (0.3); an unresolved entity counts when an alert names it verbatim;
* time: 1 when the incident's span overlaps the ticket's (opened minus ``lead``
  until resolved), falling linearly to 0 ``horizon`` seconds away;
* text: cosine similarity (MiniLM) of the ticket's title and description with the
  incident's alert texts, all reduced to templates; the alerts read as the correlator
  reads them (``labelled_text``: their identity labels' values masked by the labels'
  names), and the instance names those labels give masked in the ticket's text too,
  so "disk full on /data of web-fra-a" reads as its alert does.

``score = max(alerts', time × (0.6 · entity + 0.4 · text))`` with
``alerts' = 0.5 + 0.5 · alerts`` when any id is shared: a shared alert id needs no
other support, while without one a ticket must be near in time *and* agree on the
entity or the text. Links scoring at least ``min_score`` are kept, best first.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from aiops.learning.embeddings import TemplateEmbedder
from aiops.learning.templates import identities, labelled_text, mask_identities, template
from aiops.models import Ticket
from aiops.store.tables import alerts, incidents, raw_events
from topology.graph import TopologyGraph

HOP_SCORE = {0: 1.0, 1: 0.6, 2: 0.3}
TEXT_CHARS = 600  # of a ticket's description read for text similarity: the gist is early
# Tickets whose texts (theirs and their candidates') are embedded in one model call: a
# chunk bounds the call's memory when a whole export is linked at once.
LINK_CHUNK = 256


@dataclass(frozen=True)
class LinkSettings:
    lead: float = 1800.0  # incidents may start this long before the ticket was opened
    open_span: float = 4 * 3600.0  # how long an unresolved ticket is taken to cover
    horizon: float = 3600.0  # time evidence falls to 0 this far outside the ticket's span
    min_score: float = 0.45
    max_links: int = 3
    max_candidates: int = 500  # incidents in a ticket's window considered at most


@dataclass
class Link:
    ticket_id: str
    incident_id: str
    score: float
    evidence: list[str]
    parts: dict[str, float] = field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        return {"ticket_id": self.ticket_id, "incident_id": self.incident_id,
                "score": round(self.score, 4), "evidence": self.evidence}


@dataclass
class _Profile:
    """What the linker needs of one incident."""

    id: str
    start: float
    end: float
    nodes: set[str]
    entities: set[str]
    texts: list[str]
    labels: list[dict[str, str]] = field(default_factory=list)  # distinct label sets
    _names: tuple[tuple[str, str], ...] | None = None

    def names(self) -> tuple[tuple[str, str], ...]:
        """The instance names its alerts' identity labels give (``identities``), read
        once: a profile is loaded whole and then scored against every ticket."""
        if self._names is None:
            self._names = identities(self.labels)
        return self._names


def ticket_text(ticket: Ticket, names: tuple[tuple[str, str], ...] = ()) -> str:
    """The template the text model reads of a ticket: title and the start of the
    description, with the instance names ``names`` (``identities`` of the alerts it is
    compared with or was about) masked as those alerts' own texts mask them."""
    body = (ticket.description or "")[:TEXT_CHARS]
    return template(mask_identities(f"{ticket.title}. {body}".strip(". "), names))


class TicketLinker:
    """Scores tickets against the incidents stored in one database."""

    def __init__(self, topology: TopologyGraph, embedder: TemplateEmbedder | None = None,
                 settings: LinkSettings | None = None):
        self.topology = topology
        self.embedder = embedder
        self.settings = settings or LinkSettings()
        self._profiles: dict[str, _Profile] = {}

    def link(self, conn: sa.Connection, items: list[Ticket]) -> list[Link]:
        """Links of every ticket, best first per ticket.

        The texts of a chunk of tickets and of all their candidate incidents go to the
        text model in one call (``_embed_texts``) before any pair is scored: scoring
        pair by pair called the model for each new ticket text with one or a few
        texts, many small passes where full batches do the same work sooner
        (docs/benchmarks.md, "Ticket linking"). The scores equal the pair-by-pair
        ones to float32 rounding: a vector's last bits depend on the texts padded
        into its model call.
        """
        out: list[Link] = []
        for start in range(0, len(items), LINK_CHUNK):
            out.extend(self._link_chunk(conn, items[start:start + LINK_CHUNK]))
        return out

    def _link_chunk(self, conn: sa.Connection, items: list[Ticket]) -> list[Link]:
        found: list[tuple[Ticket, dict[str, int], list[_Profile]]] = []
        for ticket in items:
            shared = self._shared_alerts(conn, ticket)
            candidates = set(shared) | self._in_window(conn, ticket)
            self._load_profiles(conn, candidates)
            found.append((ticket, shared, [self._profiles[c] for c in candidates
                                           if c in self._profiles]))
        texts = self._embed_texts(found)
        out: list[Link] = []
        for n, (ticket, shared, profiles) in enumerate(found):
            scored = [self._score(ticket, p, shared.get(p.id, 0), texts.get((n, p.id)))
                      for p in profiles]
            kept = sorted((s for s in scored if s.score >= self.settings.min_score),
                          key=lambda s: (-s.score, s.incident_id))
            out.extend(kept[:self.settings.max_links])
        return out

    def _embed_texts(self, found: list[tuple[Ticket, dict[str, int], list[_Profile]]]
                     ) -> dict[tuple[int, str], str]:
        """The ticket's text for each (ticket's place, incident) pair whose text is
        scored (a text model, alert texts, near in time: as ``_score`` decides), after
        embedding those texts and the incidents' in one model call."""
        if self.embedder is None:
            return {}
        mine: dict[tuple[int, str], str] = {}
        wanted: dict[str, None] = {}
        for n, (ticket, _, profiles) in enumerate(found):
            for profile in profiles:
                if not profile.texts or self._time(ticket, profile)[0] <= 0:
                    continue
                text = mine[(n, profile.id)] = ticket_text(ticket, profile.names())
                wanted[text] = None
                wanted.update(dict.fromkeys(profile.texts))
        self.embedder.prepare(wanted)
        return mine

    def _window(self, ticket: Ticket) -> tuple[float, float]:
        end = ticket.resolved_at if ticket.resolved_at is not None \
            else ticket.opened_at + self.settings.open_span
        return ticket.opened_at - self.settings.lead, max(end, ticket.opened_at)

    def _shared_alerts(self, conn: sa.Connection, ticket: Ticket) -> dict[str, int]:
        """Final incident id → how many of the ticket's alert ids are its events."""
        if not ticket.alert_ids:
            return {}
        found: dict[str, set[str]] = defaultdict(set)
        ids = list(dict.fromkeys(ticket.alert_ids))
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            query = (sa.select(raw_events.c.event_id, alerts.c.incident_id)
                     .join(alerts, alerts.c.id == raw_events.c.alert_id)
                     .where(raw_events.c.event_id.in_(chunk)))
            for event_id, incident_id in conn.execute(query):
                if incident_id is not None:
                    found[self._final(conn, incident_id)].add(event_id)
        return {k: len(v) for k, v in found.items()}

    def _final(self, conn: sa.Connection, incident_id: str) -> str:
        """Follow ``merged_into`` to the incident that holds the alerts now."""
        seen = {incident_id}
        while True:
            target = conn.execute(sa.select(incidents.c.merged_into)
                                  .where(incidents.c.id == incident_id)).scalar()
            if not target or target in seen:
                return incident_id
            seen.add(target)
            incident_id = target

    def _in_window(self, conn: sa.Connection, ticket: Ticket) -> set[str]:
        lo, hi = self._window(ticket)
        lo -= self.settings.horizon
        hi += self.settings.horizon
        end = sa.func.coalesce(incidents.c.resolved_at, incidents.c.updated_at)
        query = (sa.select(incidents.c.id)
                 .where(incidents.c.status != "merged", incidents.c.started_at <= hi, end >= lo)
                 .order_by(incidents.c.started_at.desc())
                 .limit(self.settings.max_candidates))
        return set(conn.execute(query).scalars())

    def _load_profiles(self, conn: sa.Connection, ids: set[str]) -> None:
        missing = [i for i in ids if i not in self._profiles]
        for start in range(0, len(missing), 500):
            chunk = missing[start:start + 500]
            rows = conn.execute(sa.select(incidents.c.id, incidents.c.started_at,
                                          incidents.c.updated_at, incidents.c.resolved_at,
                                          incidents.c.root_causes)
                                .where(incidents.c.id.in_(chunk))).all()
            for r in rows:
                causes = {rc.get("node_id") for rc in (r.root_causes or [])[:3]}
                self._profiles[r.id] = _Profile(
                    r.id, r.started_at, r.resolved_at or r.updated_at,
                    {c for c in causes if c}, set(), [])
            query = (sa.select(alerts.c.incident_id, alerts.c.name, alerts.c.summary,
                               alerts.c.entity, alerts.c.node_id, alerts.c.labels)
                     .where(alerts.c.incident_id.in_(chunk)))
            for incident_id, name, summary, entity, node_id, labels in conn.execute(query):
                profile = self._profiles[incident_id]
                if node_id:
                    profile.nodes.add(node_id)
                profile.entities.add(entity.lower())
                text = labelled_text(name, summary, labels)
                if text not in profile.texts and len(profile.texts) < 16:
                    profile.texts.append(text)
                if labels and labels not in profile.labels and len(profile.labels) < 64:
                    profile.labels.append(labels)

    def _entity(self, ticket: Ticket, profile: _Profile) -> tuple[float, str | None]:
        if not ticket.entity:
            return 0.0, None
        node = self.topology.resolve(ticket.entity)
        if node is None:
            hit = ticket.entity.lower() in profile.entities
            return (1.0, f"an alert names {ticket.entity}") if hit else (0.0, None)
        hops = [h for n in profile.nodes
                if (h := self.topology.distance(node, n, 2)) is not None]
        if not hops:
            return 0.0, None
        best = min(hops)
        where = "is a node of the incident" if best == 0 else f"is {best} hop(s) from it"
        return HOP_SCORE[best], f"entity {ticket.entity} {where}"

    def _time(self, ticket: Ticket, profile: _Profile) -> tuple[float, str]:
        lo, hi = self._window(ticket)
        gap = max(0.0, profile.start - hi, lo - profile.end)
        if gap == 0.0:
            return 1.0, "the incident overlaps the ticket in time"
        return max(0.0, 1.0 - gap / self.settings.horizon), f"{gap / 60:.0f} min apart"

    def _text(self, profile: _Profile, mine: str | None) -> float:
        """Best similarity of the ticket's text ``mine`` (None: not scored) with the
        incident's alert texts, all embedded beforehand (``_embed_texts``)."""
        if self.embedder is None or mine is None or not profile.texts:
            return 0.0
        return max(self.embedder.similarity(mine, t) for t in profile.texts)

    def _score(self, ticket: Ticket, profile: _Profile, shared: int,
               mine: str | None) -> Link:
        evidence: list[str] = []
        alert_part = 0.0
        if shared:
            share = shared / len(set(ticket.alert_ids))
            alert_part = 0.5 + 0.5 * share
            evidence.append(f"{shared} of {len(set(ticket.alert_ids))} alert ids of the ticket "
                            "are in the incident")
        entity, why = self._entity(ticket, profile)
        if why:
            evidence.append(why)
        when, when_text = self._time(ticket, profile)
        evidence.append(when_text)
        text = self._text(profile, mine) if when > 0 else 0.0
        if text > 0:
            evidence.append(f"text similarity {text:.2f}")
        score = max(alert_part, when * (0.6 * entity + 0.4 * text))
        return Link(ticket.id, profile.id, min(1.0, score), evidence,
                    {"alerts": alert_part, "entity": entity, "time": when, "text": text})
