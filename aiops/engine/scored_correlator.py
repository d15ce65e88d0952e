"""The scoring correlator: links to nearby incident members × (topology, relations, text).

A new alert is compared with the live incidents that have a member near it:

* link: for each member node within ``max_hops``, closeness (1.0 same node, 0.8
  one hop, 0.5 two hops; 0.65 two hops while the incident is younger than
  ``fan_out`` seconds, when a cascade spreads; hops as ``TopologyGraph.reach`` counts
  them: what runs on or depends on one node one hop apart, no way through a whole
  from one part to another) times time proximity to that node's alerts
  (``1 − gap / window``, the gap measured to the node's first..last alert widened
  by ``skew`` seconds, so skewed clocks and late reports do not split a group);
  with a trained model both times are first corrected by the nodes' learned clock
  offsets (``aiops.learning.clock``), which leaves the tolerance for report delays;
  the best member counts. Comparing with the members next to the alert, not with
  the incident as a whole, keeps a big incident from pulling in everything near
  any of its corners (single linkage in space and time, as OpenNMS ALEC's
  spatio-temporal clustering does, with graded rather than one-cut distances); and
  where what the alert's node runs on or depends on, or the switch port its link
  leads to, has an alert that still fires, one hop's closeness with no time gap and
  no fading until ``max_span`` (``_failing_needs``);
* relation: how strongly the alert's type co-occurs nearby in history with a type
  already in the incident (``aiops.learning.relations``);
* text: cosine similarity of the alert's template with the incident's templates
  under all-MiniLM-L6-v2 (``aiops.learning.embeddings``).

``score = link × min(1, w_topo + w_rel·relation + w_text·text)``. The link fades
with the incident's age: full for ``incident_prime`` seconds after its first alert,
then linearly down to nothing at ``incident_fade`` (never past ``max_span``): a
cascade's alarms mostly arrive within a minute of its first, and an alarm that
would join an older incident nearby is more often the onset of another fault. The
alert joins the best incident scoring at least ``threshold``; other incidents
scoring within ``merge_ratio`` of the best are merged into it, because the alert
shows they are one fault, unless their first alerts are more than
``merge_onset_gap`` apart (pieces of one cascade start together; overlapping faults
start one after another, and one alert between them is no proof) or both already
hold ``merge_piece_limit`` alerts (a piece split off a cascade is small; two
established incidents linked by one alert are mostly two faults). Weights and the
threshold were chosen on development scenarios (see docs/architecture.md for the
numbers). Every time above is stretched by the model's learned ``time_scale``
(``aiops.learning.timescale``): slower monitoring spreads a cascade out. Where the
model learned a scale per alert source, the times between two alerts stretch by the
mean of their sources' scales instead.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from aiops.config import EngineSettings
from aiops.engine.index import IncidentIndex
from aiops.engine.links import port_of
from aiops.engine.placement import Why
from aiops.engine.state import AlertRecord, IncidentRecord
from aiops.learning.embeddings import TemplateEmbedder
from aiops.learning.relations import TypeRelations
from aiops.learning.templates import event_text
from aiops.models import Alert
from topology.graph import TopologyGraph

HOP_CLOSENESS = (1.0, 0.8, 0.5, 0.3)
# Two hops from a member of an incident younger than ``EngineSettings.fan_out``: a
# cascade fans out first, and another fault starting that close is rare.
YOUNG_TWO_HOPS = 0.65


def _closeness(hops: int) -> float:
    return HOP_CLOSENESS[min(hops, len(HOP_CLOSENESS) - 1)]


@dataclass(frozen=True, slots=True)
class ScoringWeights:
    """The tunable part of the score; ``aiops train`` stores them with the model."""

    topology: float = 0.7
    # Relation evidence lowered grouping F1 at every weight tried on the development
    # scenarios (alert types co-occur too widely there); the learned relations serve
    # root-cause ranking, and this weight stays for data where they do separate faults.
    relation: float = 0.0
    text: float = 0.1
    same_entity: float = 1.0  # an unresolved entity is only matched by name
    threshold: float = 0.5
    merge_ratio: float = 0.9
    # With a trained model, types never seen together nearby are evidence against.
    unrelated: float = 1.0

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


class ScoredCorrelator:
    def __init__(self, topology: TopologyGraph, settings: EngineSettings,
                 relations: TypeRelations | None = None,
                 embedder: TemplateEmbedder | None = None,
                 weights: ScoringWeights | None = None,
                 offsets: Mapping[str, float] | None = None, time_scale: float = 1.0,
                 source_scales: Mapping[str, float] | None = None,
                 node_scales: dict[str, float] | None = None):
        self.topology = topology.device_view()  # ports merged into their devices
        # Learned clock offset per node (``aiops.learning.clock``): subtracted from
        # alert times where they are compared, never from the stored alerts.
        self.offsets: Mapping[str, float] = offsets or {}
        # How much slower this network's cascades unfold than those the settings were
        # chosen on (``aiops.learning.timescale``): every time the correlator compares
        # is stretched by it; 1.0 without a trained model.
        self.time_scale = time_scale
        # A scale per alert source where the model learned one (a network half on traps,
        # half on polling): the times between two alerts stretch by the mean of their
        # sources' scales (``_per_source``); a source the model has none for takes
        # ``time_scale``. Only kept when some source's differs, so a one-source network
        # takes the path of old.
        self.source_scales: dict[str, float] = (
            dict(source_scales) if source_scales and any(
                v != time_scale for v in source_scales.values()) else {})
        # The slowest scale seen on each node (by its alerts' sources): an incident's
        # member is known by its node's span only. Shared by the correlators one model
        # builds, so a rebuilt correlator (a topology change) still knows them; a node
        # not seen yet takes the scale of the alert compared with it.
        self.node_scales: dict[str, float] = {} if node_scales is None else node_scales
        # How long incidents live and the index's horizon take the slowest scale.
        top = max(time_scale, *self.source_scales.values()) if self.source_scales else time_scale
        self._base = (settings.correlation_window, settings.skew_tolerance,
                      settings.incident_prime, settings.incident_fade,
                      settings.max_incident_span, settings.fan_out)
        self.window = settings.correlation_window * top
        self.skew = settings.skew_tolerance * top
        self.max_hops = settings.max_hops
        self.max_span = settings.max_incident_span * top
        self.prime = settings.incident_prime * top
        # Where the link has faded to nothing; past it (or max_span) no alert joins.
        self.fade = max(self.prime, min(settings.incident_fade * top, self.max_span))
        # Two incidents' onsets at the network's scale: at the slowest, pieces of
        # different faults merged (dev pair F1 0.796 either way, AC@1 0.561 → 0.565).
        self.merge_onset_gap = settings.merge_onset_gap * time_scale
        self.merge_piece_limit = settings.merge_piece_limit
        self.fan_out = settings.fan_out * top
        self.horizon = self.window + self.skew
        self.relations = relations
        self.embedder = embedder
        self.weights = weights or ScoringWeights()
        # Incidents the last ``_links`` linked to through a need still failing, with the
        # member alert that still fires there and, for a port at the other end of a
        # link, the port's name as the alert wrote it (``_failing_needs``; ``explain``).
        self._failing: dict[str, tuple[AlertRecord, str | None]] = {}
        # What the last ``place`` saw (its alert, the incidents over the threshold with
        # their parts, the best under it), for ``explain``.
        self._last: tuple[AlertRecord, list[Any], tuple[float, Any, bool]] | None = None

    def prepare(self, events: list[Alert]) -> None:
        """Embed the batch's new templates in one model call (cheaper than one by one)."""
        if self.embedder is not None and events:
            self.embedder.prepare({event_text(e) for e in events})

    def _links(self, alert: AlertRecord, index: IncidentIndex
               ) -> dict[str, tuple[float, IncidentRecord, str]]:
        """Per live incident, the best closeness × time to one of its members nearby,
        and the member's node (or entity) it links through (for ``explain``).

        Time proximity is ``1 − gap / window``, the gap measured to the member node's
        first..last alert start widened by ``skew`` either side; past ``prime`` seconds
        after the incident's first alert it is scaled down linearly, to 0 at ``fade``
        (an older incident is a weaker claim: see the module docstring). This is the hot path
        of placement (it runs for every member near every alert): plain locals, no
        helper calls per member.
        """
        found: dict[str, tuple[float, IncidentRecord, str]] = {}
        stamped = alert.starts_at
        offsets = self.offsets
        # Gaps between devices are measured on corrected clocks; the incident's age
        # stays as stamped (correcting it too did not help on the dev scenarios).
        t = stamped - offsets.get(alert.node_id or alert.entity, 0.0)
        skew, window, prime, fade = self.skew, self.window, self.prime, self.fade
        fan_out, two_hops = self.fan_out, HOP_CLOSENESS[2]
        oldest = stamped - fade  # a cascade unfolds in minutes; later alerts chain faults
        profiles = index.profiles

        def consider(key: str, span: tuple[float, float], closeness: float,
                     incident: IncidentRecord) -> None:
            shift = offsets.get(key, 0.0)
            low, high = span[0] - shift - skew, span[1] - shift + skew
            gap = low - t if t < low else (t - high if t > high else 0.0)
            if gap >= window:
                return
            age = stamped - incident.started_at
            if closeness == two_hops and age < fan_out:
                closeness = YOUNG_TWO_HOPS
            link = closeness * (1.0 - gap / window)
            if age > prime:
                link *= (fade - age) / (fade - prime)
            best = found.get(incident.id)
            if best is None or link > best[0]:
                found[incident.id] = (link, incident, key)

        if self.source_scales:
            consider = self._per_source(alert, t, found)
        if alert.node_id is not None:
            near = self.topology.reach(alert.node_id, self.max_hops)
            if len(index.incidents) < len(near):
                # Few live incidents (the usual case in a dense network): walk their
                # members instead of every node around the alert.
                for incident in list(index.incidents.values()):
                    if incident.started_at < oldest:
                        continue
                    for key, span in profiles[incident.id].spans.items():
                        hops = near.get(key)
                        if hops is not None:
                            consider(key, span, _closeness(hops), incident)
            else:
                for node_id, hops in near.items():
                    closeness = _closeness(hops)
                    for incident in index.at_node(node_id):
                        span = profiles[incident.id].spans.get(node_id)
                        if incident.started_at >= oldest and span is not None:
                            consider(node_id, span, closeness, incident)
        else:
            for incident in index.for_entity(alert.entity):
                span = profiles[incident.id].spans.get(alert.entity)
                if incident.started_at >= oldest and span is not None:
                    consider(alert.entity, span, self.weights.same_entity, incident)
        if self._failing:
            self._failing = {}
        if alert.node_id is not None and (self.topology.has_shared_needs
                                          or self.topology.port_links):
            self._failing_needs(alert, index, found)
        return found

    def _failing_needs(self, alert: AlertRecord, index: IncidentIndex,
                       found: dict[str, tuple[float, IncidentRecord, str]]) -> None:
        """Link the alert at one hop's closeness, with no time gap and no fading
        until ``max_span``, to incidents where something its node runs on or depends
        on directly, or the port at the other end of one of its links, has an alert
        that started before it and still fires.

        Why: a service on a VM that went down minutes ago, and is still down, fails
        because of it (Nagios calls such a host UNREACHABLE, not DOWN; Zabbix holds
        back a trigger whose dependency is in problem); a server whose switch port
        went down and stays down is cut off, or dead, whatever its own check says
        later. That check notices later than the VM's or the switch's, by one polling
        interval or more, so by time alone it came too late for an incident that had
        faded. Only in the direction of the need: an alarm on a VM whose service
        already alarms may be anything else the service runs on (measured both ways
        on the inventory probes: docs/architecture.md, "A need that still fails").
        """
        stamped = alert.starts_at
        oldest = stamped - self.max_span
        latest_start = stamped + self.skew
        link = HOP_CLOSENESS[1]
        profiles = index.profiles
        node = alert.node_id
        assert node is not None  # the caller links only alerts on a node this way

        def still_firing(key: str, port: str | None) -> None:
            for incident in index.at_node(key):
                best = found.get(incident.id)
                if incident.started_at < oldest or (best is not None and best[0] >= link):
                    continue
                if port is not None and self._own_end_alarmed(node, port, incident, index):
                    continue  # both ends of the link alarm: the link failed, not the node
                for member in profiles[incident.id].members.get(key, ()):
                    if member.starts_at > latest_start or (
                            member.ends_at is not None and member.ends_at <= stamped):
                        continue
                    named = None if port is None else port_of(member, self.topology)
                    if port is None or (named is not None and named[0] == port):
                        found[incident.id] = (link, incident, key)
                        self._failing[incident.id] = (
                            member, None if named is None else named[1])
                        break

        for need in self.topology.direct_needs(node):
            still_firing(need, None)
        for device, port in self.topology.ports_facing(node):
            still_firing(device, port)

    def _own_end_alarmed(self, node: str, port: str, incident: IncidentRecord,
                         index: IncidentIndex) -> bool:
        """Whether ``incident`` holds an alert of ``node`` on its own end of the link
        from ``port``. A device that logs its end of a link down is alive, and the
        link is what failed (``aiops.engine.links``): its other alarms say nothing of
        the link. A dead or cut-off device logs nothing of its own."""
        own_end = self.topology.port_links.get(port)
        return any((named := port_of(member, self.topology)) is not None
                   and named[0] == own_end
                   for member in index.profiles[incident.id].members.get(node, ()))

    def _per_source(self, alert: AlertRecord, t: float,
                    found: dict[str, tuple[float, IncidentRecord, str]]
                    ) -> Callable[[str, tuple[float, float], float, IncidentRecord], None]:
        """``_links``'s comparison with every time stretched per pair: by the mean of
        the alert's source's scale and the member node's (``node_scales``).

        Why the mean: a source's scale is read from pairs of its own alarms, whose gap
        holds two of its report delays; the gap between a trapped alarm and a polled
        one holds one of each. On the development scenarios with half the devices
        polled (six times the report delay) the mean gave pair F1 0.807 where the
        slower of the two gave 0.796 (docs/architecture.md, "A time scale per alert
        source").
        Records the alert's node's scale first.
        """
        mine = self.source_scales.get(alert.event.source, self.time_scale)
        key = alert.node_id or alert.entity
        node_scales = self.node_scales
        if node_scales.get(key, 0.0) < mine:
            node_scales[key] = mine
        stamped, offsets = alert.starts_at, self.offsets
        window0, skew0, prime0, fade0, span0, fan_out0 = self._base
        two_hops = HOP_CLOSENESS[2]

        def consider(key: str, span: tuple[float, float], closeness: float,
                     incident: IncidentRecord) -> None:
            scale = 0.5 * (node_scales.get(key, mine) + mine)
            shift, skew, window = offsets.get(key, 0.0), skew0 * scale, window0 * scale
            low, high = span[0] - shift - skew, span[1] - shift + skew
            gap = low - t if t < low else (t - high if t > high else 0.0)
            if gap >= window:
                return
            age = stamped - incident.started_at
            if closeness == two_hops and age < fan_out0 * scale:
                closeness = YOUNG_TWO_HOPS
            link = closeness * (1.0 - gap / window)
            prime = prime0 * scale
            if age > prime:
                fade = max(prime, min(fade0, span0) * scale)
                link *= max(0.0, fade - age) / (fade - prime) if fade > prime else 0.0
            best = found.get(incident.id)
            if best is None or link > best[0]:
                found[incident.id] = (link, incident, key)

        return consider

    def _relation(self, alert: AlertRecord, names: set[str]) -> float:
        if self.relations is None:
            return 0.0
        if alert.name in names:
            return 1.0
        return max((self.relations.related(alert.name, n) for n in names), default=0.0)

    def _text(self, text: str, texts: list[str]) -> float:
        if self.embedder is None or not texts:
            return 0.0
        return max(self.embedder.similarity(text, other) for other in texts)

    def evidence(self, alert: AlertRecord, incident: IncidentRecord, link: float,
                 index: IncidentIndex) -> dict[str, float]:
        """The pieces of the score, for explanations and for training."""
        profile = index.profiles[incident.id]
        w = self.weights
        # Skip the look-ups on the hot path when the weights make relations irrelevant.
        needed = w.relation != 0.0 or w.unrelated != 1.0
        relation = self._relation(alert, profile.names) if needed else 0.0
        return {"link": link, "relation": relation,
                "text": self._text(event_text(alert.event),
                                   profile.texts)}

    def score(self, parts: dict[str, float]) -> float:
        w = self.weights
        boost = w.relation * parts["relation"] + w.text * parts["text"]
        value = parts["link"] * min(1.0, w.topology + boost)
        if self.relations is not None and parts["relation"] == 0.0:
            value *= w.unrelated
        return value

    def place(self, alert: AlertRecord, index: IncidentIndex) -> list[IncidentRecord]:
        scored: list[tuple[float, IncidentRecord, dict[str, float], str]] = []
        w = self.weights
        # ``score`` is at most the link times the larger of 1 and ``unrelated`` (its
        # topology-and-text factor is capped at 1): a link below the threshold by that
        # much cannot place the alert, so its text is not compared (the same
        # placements; a third of the candidates on the ingest benchmark).
        ceiling = max(1.0, w.unrelated) if w.unrelated >= 0.0 else math.inf
        # The best candidate that did not reach the threshold, for ``explain``: its
        # score, or for one not scored the bound its link puts on it.
        below: tuple[float, IncidentRecord | None, bool] = (-1.0, None, False)
        for link, incident, key in self._links(alert, index).values():
            if link * ceiling < w.threshold:
                if link * ceiling > below[0]:
                    below = (link * ceiling, incident, True)
                continue
            parts = self.evidence(alert, incident, link, index)
            value = self.score(parts)
            if value >= w.threshold:
                scored.append((value, incident, parts, key))
            elif value > below[0]:
                below = (value, incident, False)
        self._last = (alert, scored, below)
        if not scored:
            return []
        scored.sort(key=lambda item: (-item[0], item[1].seq))
        top = scored[0][1]
        merge_at = self.weights.merge_ratio * scored[0][0]
        return [top] + [item[1] for item in scored[1:]
                        if item[0] >= merge_at and self._pieces_of_one(item[1], top)]

    def explain(self, alert: AlertRecord, chosen: list[IncidentRecord],
                index: IncidentIndex) -> Why | None:
        """Why the last ``place`` of ``alert`` returned ``chosen``, from what it kept
        (no second scoring pass): the parts of the best incident's score, the member it
        linked through, the runner-up. Called before anything of the placement changes
        the index (``aiops.engine.placement`` describes the record)."""
        last = self._last
        if last is None or last[0] is not alert:
            return None
        _, scored, below = last
        runner, runner_score, bound = None, 0.0, False
        if len(scored) > len(chosen):
            for value, incident, _, _ in scored:
                if incident not in chosen:
                    runner, runner_score = incident.id, value
                    break
        elif below[1] is not None and below[0] < math.inf:  # inf: no bound known
            runner, runner_score, bound = below[1].id, below[0], below[2]
        if not chosen:
            return Why(self.weights.threshold, runner=runner, runner_score=runner_score,
                       runner_bound=bound)
        score, incident, parts, key = scored[0]
        hops, shared, needs, facing = None, None, None, None
        failing = self._failing.get(incident.id)
        member = None if failing is None else failing[0]
        if alert.node_id is not None:
            hops = self.topology.reach(alert.node_id, self.max_hops).get(key)
            if failing is not None:
                facing = failing[1]
                if facing is None:
                    needs = self.topology.need_kind(alert.node_id, key)
            elif hops == 1 and key not in self.topology.neighbours(alert.node_id):
                shared = self.topology.shared_need(alert.node_id, key)
        if member is None:
            member = index.profiles[incident.id].nearest(key, alert.starts_at)
        if member is None:  # not reached: every linked member was indexed with its alert
            return Why(self.weights.threshold, score, parts["link"], parts["text"],
                       parts["relation"], key, hops, None, None, None, shared, needs,
                       facing, runner, runner_score, bound)
        return Why(self.weights.threshold, score, parts["link"], parts["text"],
                   parts["relation"], key, hops, member.event.id, member.name,
                   alert.starts_at - member.starts_at, shared, needs, facing, runner,
                   runner_score, bound)

    def _pieces_of_one(self, incident: IncidentRecord, other: IncidentRecord) -> bool:
        """Whether two incidents look like pieces of one cascade: they started close
        together and one of them is still small. One alert linking faults that started
        apart, or two incidents that each grew into a cascade of its own, does not
        merge them."""
        limit = self.merge_piece_limit
        if limit and min(len(incident.alerts), len(other.alerts)) >= limit:
            return False
        return abs(incident.started_at - other.started_at) <= self.merge_onset_gap
