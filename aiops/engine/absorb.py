"""Absorbing a small settled incident into the incident its alarms most likely followed.

Why: placement decides as each alert arrives, by hops and time alone. Of the faults
it breaks up, the pieces left over are mostly incidents of one to three alarms that
came a little late or a little far from their fault's incident; rules on hops and
time could not tell them from background alarms or another fault's
(docs/experiments.md, "Absorbing small pieces afterwards"). A Hawkes model learned
from the history (``aiops.learning.parents``) can: it weighs how often each device
alarms on its own against how often an alarm of one type follows another at that
lag and distance.

So when an incident of at most ``MAX_ALERTS`` alerts settles (leaves the correlator's
index, as the hindsight split does, ``Engine._split_settled``), each of its alerts
gets a posterior over its candidate parents (alerts of the recent past in
``AlertBuffer``: up to 300 s earlier and 20 s later, within two hops) and the
background. Averaged over the incident's alerts, that is the share of its parent
mass each incident holds (its own included). When another incident holds more than
``share`` of it and more than the incident itself, the small incident is merged
into it. Chosen on the development scenarios (docs/architecture.md, "Most likely
parent alarm").

Bounded: the buffer keeps only the alerts recent enough to be a settling incident's
parents (the engine prunes it at every index expiry), at most ``MAX_CANDIDATES``
candidates per alert (the nearest in time); the work per settled incident is a few
look-ups per alert.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from aiops.engine.state import AlertRecord, IncidentRecord
from aiops.learning.parents import LOOKAHEAD, LOOKBACK, MAX_CANDIDATES, MAX_HOPS, ParentModel
from topology.graph import TopologyGraph

MAX_ALERTS = 3  # larger incidents are not absorbed
SHARE = 0.4  # of the incident's parent mass another incident must hold (and more than it)
MAX_NOTES = 5  # absorb lines kept in a target's note (the latest)
# How far back from the incidents settling next their alerts may start: a small
# incident spans at most ``max_incident_span`` (300 s at the reference pace) of starts.
SPAN_MARGIN = 300.0


def buffer_cutoff(clock: float, horizon: float) -> float:
    """Start before which a buffered alert cannot be a parent of the alerts of an
    incident settling from now on: those incidents saw an alert after
    ``clock - horizon`` (else they settled already), their alerts start at most
    ``SPAN_MARGIN`` before that, and their parents at most ``LOOKBACK`` before them."""
    return clock - horizon - SPAN_MARGIN - LOOKBACK


class AlertBuffer:
    """The recent alerts by device, in arrival order: the candidate parents.

    The engine adds each new alert once placed and drops those started before a
    cutoff at every index expiry (``prune``), so it holds only the window that a
    settling incident's alerts may look back over."""

    def __init__(self) -> None:
        self._by_node: dict[str, deque[AlertRecord]] = {}
        self._order: deque[AlertRecord] = deque()

    def __len__(self) -> int:
        return len(self._order)

    def add(self, alert: AlertRecord) -> None:
        if alert.node_id is None:
            return  # unplaced: no hops to anything
        self._order.append(alert)
        self._by_node.setdefault(alert.node_id, deque()).append(alert)

    def prune(self, before: float) -> None:
        """Drop alerts that arrived before one started at ``before`` or later (arrival
        order: a late arrival stamped earlier stays until the alerts before it go)."""
        order = self._order
        while order and order[0].starts_at < before:
            old = order.popleft()
            queue = self._by_node[old.node_id]  # type: ignore[index]
            queue.popleft()
            if not queue:
                del self._by_node[old.node_id]  # type: ignore[arg-type]

    def at(self, node: str) -> Iterable[AlertRecord]:
        return self._by_node.get(node, ())

    def around(self, near: dict[str, int]) -> list[tuple[str, int]]:
        """The devices of ``near`` (device → hops) that have buffered alerts, with their
        hops, walking whichever of the two is smaller."""
        by_node = self._by_node
        if len(near) <= len(by_node):
            return [(node, hops) for node, hops in near.items() if node in by_node]
        return [(node, hops) for node in by_node if (hops := near.get(node)) is not None]


@dataclass(frozen=True, slots=True)
class Absorb:
    """Why a small incident goes into ``target``."""

    target: IncidentRecord
    share: float  # of the small incident's parent mass the target holds
    parent: AlertRecord  # the target's alert of highest posterior as a parent


class ParentAbsorber:
    """Decides whether a settled small incident goes into another (module doc)."""

    def __init__(self, topology: TopologyGraph, model: ParentModel, share: float = SHARE):
        self.topology = topology.device_view()  # ports merged into their devices
        self.model = model
        self.share = share

    def absorb(self, incident: IncidentRecord, buffer: AlertBuffer,
               incident_of: Callable[[AlertRecord], IncidentRecord | None]) -> Absorb | None:
        """Where ``incident``'s alarms most likely came from, if another incident
        (``incident_of`` a candidate parent: live or still in memory, else None) holds
        more than ``share`` of its parent mass and more than the incident itself."""
        members = list(incident.alerts.values())
        if not 0 < len(members) <= MAX_ALERTS:
            return None
        mass: dict[str, float] = {}
        best: dict[str, tuple[float, AlertRecord]] = {}
        targets: dict[str, IncidentRecord] = {}
        for alert in members:
            for parent, posterior in self._posteriors(alert, buffer):
                owner = incident_of(parent)
                if owner is None:
                    continue
                mass[owner.id] = mass.get(owner.id, 0.0) + posterior
                targets[owner.id] = owner
                # Named in the note: the likeliest parent (ties: the latest, nearest).
                key = (posterior, parent.starts_at, parent.id)
                held = best.get(owner.id)
                if held is None or key > (held[0], held[1].starts_at, held[1].id):
                    best[owner.id] = (posterior, parent)
        own = mass.pop(incident.id, 0.0)
        if not mass:
            return None
        # Ties: the incident opened first.
        target_id = max(mass, key=lambda k: (mass[k], -targets[k].seq))
        top = mass[target_id]
        if top <= own or top / len(members) <= self.share:
            return None
        return Absorb(targets[target_id], top / len(members), best[target_id][1])

    def _posteriors(self, alert: AlertRecord, buffer: AlertBuffer
                    ) -> list[tuple[AlertRecord, float]]:
        """The alert's candidate parents in ``buffer`` with their posterior (the rest
        of its mass is the background's)."""
        node = alert.node_id
        if node is None or node not in self.topology:
            return []
        model = self.model
        child_type = model.type_of(alert.name)
        t = alert.starts_at
        found: list[tuple[float, AlertRecord, float]] = []
        near = self.topology.neighbourhood(node, MAX_HOPS)
        # Whichever is fewer: the devices around (a hub's two hops may be hundreds) or
        # the devices with recent alerts.
        for other, hops in buffer.around(near):
            for parent in buffer.at(other):
                lag = t - parent.starts_at
                if parent is alert or not -LOOKAHEAD <= lag < LOOKBACK:
                    continue
                rate = model.excitation(model.type_of(parent.name), child_type, hops, lag)
                if rate > 0:
                    found.append((abs(lag), parent, rate))
        if len(found) > MAX_CANDIDATES:
            found.sort(key=lambda f: (f[0], f[1].id))
            found = found[:MAX_CANDIDATES]
        total = model.rate(child_type, node) + sum(rate for _, _, rate in found)
        return [(parent, rate / total) for _, parent, rate in found]

    def explain(self, absorbed_id: str, absorb: Absorb) -> str:
        """The evidence line of the incident that absorbed ``absorbed_id``."""
        node = absorb.parent.node_id or absorb.parent.entity
        found = self.topology.nodes.get(node)
        where = found.name if found is not None else node
        return (f"absorbed {absorbed_id}: its alarms most likely followed this incident's "
                f"{absorb.parent.name} on {where} (p={absorb.share:.2f})")


def add_note(note: str | None, line: str) -> str:
    """``note`` with ``line`` added, keeping the latest ``MAX_NOTES`` absorb lines (a
    hindsight split's line, always first, stays)."""
    lines = note.split("\n") if note else []
    kept = [x for x in lines if not x.startswith("absorbed ")]
    absorbed = [x for x in lines if x.startswith("absorbed ")] + [line]
    return "\n".join(kept + absorbed[-MAX_NOTES:])
