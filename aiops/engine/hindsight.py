"""Hindsight split: an incident that settled as one group but unfolded from two faults.

Placement decides as each alert arrives. When a second fault starts within seconds of
a first one, a few hops from one of its alarms, its first alarm joins the first
fault's incident, and its later alarms follow it there: at that moment nothing tells
the two apart. Once the incident has settled (it left the correlator's index: no alert
for the correlation horizon) all its alarms are known, and where they are tells: a
fault's alarms lie around its origin, 26 % on the faulty device, 34 % one hop away,
28 % two, 10 % three, 2 % four (the shares on the development scenarios' true faults,
``RING_SHARES``; a trained model carries the shares ``aiops train`` read from its
history instead, ``aiops.learning.ring_shares``). So each alert at ``d`` hops from a
candidate origin has the likelihood ``share_d / devices at d hops`` (as the root-cause
ranker's ``Placement`` scores a silent device; a hub's many neighbours make any one of
them less telling), ``FLOOR`` beyond four hops. The incident is split in two when the
best pair of origins (alarming devices and their neighbours), each alert counted with
the nearer one, explains its alerts better than the best single origin by more than
``gain`` in log-likelihood after paying log 2 per alert for naming one of two origins.
Each alert goes to the origin it is likelier from (ties: the better single origin);
both parts must hold ``MIN_PART`` alerts.

Chosen on the development scenarios (docs/architecture.md, "Hindsight split"): pair
F1 0.856 → 0.873, root-cause AC@1 0.613 → 0.623. Only the topology is used: the
learned causal relations (tracing each part back to its own seed) did not tell a
fault's far alarms from a second fault's on those scenarios.

Deterministic, and bounded: ring sizes and recent walks are kept in capped caches,
and the pair is sought among the ``TOP_ORIGINS`` best single origins. The engine
applies it when an incident leaves the correlator's index (``Engine._split_settled``)
and never records it as operator feedback.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from aiops.engine.state import AlertRecord
from topology.graph import TopologyGraph

RING_SHARES = (0.26, 0.34, 0.28, 0.10, 0.02)  # of a fault's alarms, by hops from its origin
FLOOR = 1e-4  # likelihood of an alarm further out than the shares reach
MIN_ALERTS = 6  # smaller incidents are not split
MIN_PART = 3  # alerts each part must hold
# Bounds on the work per settled incident: the best-scored single origins among which
# the pair is sought (more changed nothing on the development scenarios), candidate
# origins and alerts considered (a larger incident is left as it is).
TOP_ORIGINS = 80
MAX_CANDIDATES = 2000
MAX_ALERTS = 1000
# Devices one walk out from a device visits (four hops from a hub of a large network can
# be most of it); rings not finished count what was reached, which overrates a far
# ring of a hub, where a fault's alarms seldom are.
MAX_REACH = 5_000
# Devices newly walked for one incident at most: past it the incident is left as it is
# (review: on a 100,000-node Barabási–Albert graph one settled incident walked for four
# minutes under the engine's lock with no bound but the per-walk one).
WALK_BUDGET = 100_000
RING_CACHE = 65_536  # devices whose ring log-likelihoods (five numbers each) are kept
WALK_CACHE = 1_000_000  # hop counts kept from recent walks, in all


@dataclass(frozen=True, slots=True)
class Split:
    """Two parts of a settled incident and why: ``parts[0]`` holds its earliest alert."""

    parts: tuple[list[AlertRecord], list[AlertRecord]]
    origins: tuple[str, str]  # node ids the parts are most likely from
    hops: int | None  # between the origins (None: further than four hops)
    gain: float  # log-likelihood of two origins over one, the per-alert cost paid


@dataclass(frozen=True, slots=True)
class _Scored:
    """One incident scored against its candidate origins."""

    members: list[AlertRecord]  # its alerts in start order
    nodes: list[str]  # their distinct devices, sorted
    weight: np.ndarray  # alerts per device
    candidates: list[str]  # candidate origins, sorted
    loglik: np.ndarray  # candidates × devices: log-likelihood of one alarm there
    single: np.ndarray  # per candidate, the log-likelihood of all the alerts


class HindsightSplitter:
    """Splits settled incidents that two faults explain better than one (module doc).

    ``shares``: a fault's share of alarms 0, 1, … hops from its origin (their count sets
    how far the walks reach); the engine passes its model's (``Runtime`` builds the
    splitter through ``splitter_factory``), else ``RING_SHARES``."""

    def __init__(self, topology: TopologyGraph, gain: float,
                 shares: tuple[float, ...] = RING_SHARES, floor: float = FLOOR):
        self.topology = topology.device_view()  # ports merged into their devices
        self.gain = gain
        self.shares = shares
        self.radius = len(shares) - 1
        self.floor = math.log(floor)
        self._rings: dict[str, list[float]] = {}
        self._walks: OrderedDict[str, dict[str, int]] = OrderedDict()
        self._walked = 0  # hop counts in ``_walks``
        self._budget = WALK_BUDGET  # devices this split may still walk

    def use_shares(self, shares: tuple[float, ...]) -> None:
        """Score with ``shares`` from now on, keeping the walks already made when the
        reach is the same (learning the shares re-scores one history per round)."""
        if len(shares) != len(self.shares):
            self._walks.clear()
            self._walked = 0
        self.shares = shares
        self.radius = len(shares) - 1
        self._rings = {}

    class _OverBudget(Exception):
        """This incident would cost more walking than ``WALK_BUDGET``."""

    def _walk(self, source: str) -> dict[str, int]:
        """Hops from ``source`` to the devices within the shares' reach (at most
        ``MAX_REACH`` of them), the latest walks kept up to ``WALK_CACHE`` hop counts."""
        hops = self._walks.get(source)
        if hops is not None:
            self._walks.move_to_end(source)
            return hops
        hops = self._walk_from(source)
        self._budget -= len(hops)
        if self._budget < 0:
            raise self._OverBudget
        self._walks[source] = hops
        self._walked += len(hops)
        while self._walked > WALK_CACHE and len(self._walks) > 1:
            _, old = self._walks.popitem(last=False)
            self._walked -= len(old)
        return hops

    def _walk_from(self, source: str) -> dict[str, int]:
        adjacency = self.topology.graph.adj
        hops = {source: 0}
        frontier = [source]
        for step in range(1, self.radius + 1):
            reached: list[str] = []
            for node in frontier:
                for other in adjacency[node]:
                    if other not in hops:
                        hops[other] = step
                        reached.append(other)
                        if len(hops) >= MAX_REACH:
                            return hops
            frontier = reached
        return hops

    def _ring_logs(self, node: str) -> list[float]:
        """Per hop count ``d`` from ``node``, log(share_d / devices at ``d`` hops): the
        log-likelihood of one alarm there if ``node`` were the origin (cached, as it is
        looked up for every alarming device of every incident near ``node``)."""
        logs = self._rings.get(node)
        if logs is None:
            if len(self._rings) >= RING_CACHE:
                self._rings.clear()
            sizes = [0] * (self.radius + 1)
            for hops in self._walk(node).values():
                sizes[hops] += 1
            logs = [math.log(share / max(size, 1))
                    for share, size in zip(self.shares, sizes, strict=True)]
            self._rings[node] = logs
        return logs

    def split(self, alerts: Iterable[AlertRecord]) -> Split | None:
        """The split of an incident's alerts, or None when one fault explains them (or
        finding out would walk more than ``WALK_BUDGET`` devices)."""
        self._budget = WALK_BUDGET
        try:
            return self._split(alerts)
        except self._OverBudget:
            return None

    def origin_hops(self, alerts: Iterable[AlertRecord]) -> list[int | None] | None:
        """Per alert (in start order), its hops from the most likely single origin under
        these shares (None: further than the shares reach); None when the incident is
        not one the split looks at (too small or too large, an unplaced alert, one
        device) or walking it is over budget. Learning the shares
        (``aiops.learning.ring_shares``) counts these hops."""
        self._budget = WALK_BUDGET
        try:
            scored = self._score(alerts)
            if scored is None:
                return None
            # Ties: the first candidate by node id. Every candidate was walked to score
            # it, so this walk is cached.
            hops = self._walk(scored.candidates[int(np.argmax(scored.single))])
        except self._OverBudget:
            return None
        return [hops.get(a.node_id) for a in scored.members]  # type: ignore[arg-type]

    def _score(self, alerts: Iterable[AlertRecord]) -> _Scored | None:
        """How likely each candidate origin makes the alerts (``_Scored``); None when the
        incident is not one to split (see ``split``)."""
        members = sorted(alerts, key=lambda a: (a.starts_at, a.id))
        if not MIN_ALERTS <= len(members) <= MAX_ALERTS:
            return None
        if any(a.node_id is None or a.node_id not in self.topology.nodes for a in members):
            return None  # where an unplaced alert belongs is unknown
        count: dict[str, int] = {}
        for alert in members:
            count[alert.node_id] = count.get(alert.node_id, 0) + 1  # type: ignore[index]
        nodes = sorted(count)
        if len(nodes) < 2:
            return None
        weight = np.array([count[n] for n in nodes], dtype=float)
        candidates = set(nodes)
        for node in nodes:
            candidates.update(self.topology.neighbours(node))
        ordered = sorted(candidates)
        if len(ordered) > MAX_CANDIDATES:  # the alarming devices first, then silent ones
            silent = sorted(candidates.difference(nodes))
            ordered = sorted(nodes + silent[: max(0, MAX_CANDIDATES - len(nodes))])
        around = [self._walk(node) for node in nodes]  # hops are symmetric
        floor = self.floor
        rows = []
        for cand in ordered:
            logs = self._ring_logs(cand)
            rows.append([floor if (hops := near.get(cand)) is None else logs[hops]
                         for near in around])
        loglik = np.array(rows)
        return _Scored(members, nodes, weight, ordered, loglik, loglik @ weight)

    def _split(self, alerts: Iterable[AlertRecord]) -> Split | None:
        scored = self._score(alerts)
        if scored is None:
            return None
        members, nodes, weight = scored.members, scored.nodes, scored.weight
        ordered, loglik, single = scored.candidates, scored.loglik, scored.single
        order = np.argsort(-single, kind="stable")[:TOP_ORIGINS]
        best_one = float(single[order[0]])
        cost = len(members) * math.log(2.0)
        # No pair beats every alert at its own best origin: most incidents stop here,
        # before the pairs of origins are scored.
        bound = float(loglik.max(axis=0) @ weight) - cost - best_one
        if bound <= self.gain - 1e-9 * (1.0 + abs(best_one)):  # margin: sums' rounding
            return None
        top = loglik[order]
        pairs = np.maximum(top[:, None, :], top[None, :, :]) @ weight
        np.fill_diagonal(pairs, -np.inf)
        i, j = (int(x) for x in np.unravel_index(int(np.argmax(pairs)), pairs.shape))
        i, j = min(i, j), max(i, j)  # ties go to the better single origin
        gain = float(pairs[i, j]) - cost - best_one
        if gain <= self.gain:
            return None
        first_side = {node: bool(top[i, k] >= top[j, k]) for k, node in enumerate(nodes)}
        one = [a for a in members if first_side[a.node_id]]  # type: ignore[index]
        two = [a for a in members if not first_side[a.node_id]]  # type: ignore[index]
        if len(one) < MIN_PART or len(two) < MIN_PART:
            return None
        origins = (ordered[order[i]], ordered[order[j]])
        if two[0] is members[0]:  # the part with the earliest alert comes first
            one, two = two, one
            origins = (origins[1], origins[0])
        # From the splitter's own walks (the topology's cache is not for such wide ones).
        hops = self._walk(origins[0]).get(origins[1])
        return Split((one, two), origins, hops, gain)

    def explain(self, split: Split, other_id: str, kept: bool) -> str:
        """The evidence line for either part (``kept``: the part that keeps the id)."""
        names = [self._name(n) for n in split.origins]
        apart = (f"{split.hops} hops apart" if split.hops is not None
                 else "more than four hops apart")
        mine, theirs = (names[0], names[1]) if kept else (names[1], names[0])
        verb = "split off to" if kept else "split in hindsight from"
        return (f"{verb} {other_id} once settled: its alarms are better explained by two "
                f"faults, around {mine} (here) and around {theirs} ({apart}), than by one "
                f"(log-likelihood {split.gain:.1f} higher than the {self.gain:g} required)")

    def _name(self, node: str) -> str:
        found = self.topology.nodes.get(node)
        return found.name if found is not None else node
