"""Which earlier (or slightly later) alarm most likely caused an alarm: a Hawkes model.

Why: placement joins an alert to the incident nearest it in hops and time, without
looking at alarm types or at how often each device alarms on its own. A small
incident that settled apart from its fault's incident (one to three alarms a little
late or a little far) is, seen in hindsight, most often a few alarms that *followed*
an alarm of that incident. A branching (Hawkes) process says how likely that is:
each alarm is either background (a rate per alarm type and device) or the offspring
of one earlier alarm within two hops, at a rate ``alpha[parent type → child type] ×
kernel[hops, lag]``. Given a model, each alarm's posterior over its possible parents
and the background is a ratio of those rates (``posterior``); the engine sums it per
incident when a small incident settles (``aiops.engine.absorb``).

Fitted here from the history alone, by EM on the branching structure (Lewis & Mohler
2011; Zhou, Zha & Song 2013; docs/causal-discovery.md): the E step gives each alarm's
posterior over its candidate parents and the background, the M step re-estimates the
background rates, ``alpha`` and the kernel from those expected counts. Measured
offline on the development scenarios first (docs/architecture.md, "Most likely parent
alarm"). Choices, as measured there:

- Lags from −20 s to 300 s (``EDGES``): a parent may be stamped up to 20 s *after* its
  child (skewed clocks, report delays); without those bins the absorbing lowered F1.
- The background rate of a (type, device) is shrunk toward its type's rate spread
  over the topology (``prior_weight`` pseudo-alarms of the type per device, as a
  share): a device seen alarming once must not read as a device that never alarms.
- Re-sends and re-fires are folded into their alert as the engine folds them
  (``aiops.engine.dedup.deduplicated``): a re-send is not an offspring.
- The separable kernel is normalised so that it integrates to 1 over every hop and
  lag (its scale goes into ``alpha``): only products of the two are identified. Not
  the hop-0 kernel alone, as at first: where a fault's alarms seldom share a device
  (a switch's LINK_DOWN and its hosts' HOST_DOWN, one alarm per device) that kernel
  holds almost nothing, each round divided by it, and the model underflowed to all
  zeros by the twentieth round (nothing was ever absorbed there; docs/benchmarks.md,
  "A core failure seen through slow host checks").
- At most ``MAX_TYPES`` alarm types keep their own row and column of ``alpha``; rarer
  ones (and types first seen live) share one, so the model stays small on networks
  with thousands of alarm names.

Bounds of the fit: the latest ``MAX_FIT_ALERTS`` alerts, at most ``MAX_CANDIDATES``
candidate parents per alert (the nearest in time), ``iterations`` EM rounds over
arrays of the candidate pairs.
"""

from __future__ import annotations

import bisect
import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from aiops.config import EngineSettings
from aiops.engine.dedup import deduplicated
from aiops.engine.state import AlertRecord
from aiops.models import Alert
from topology.graph import TopologyGraph

# Lag bin edges in seconds (child start − parent start): negative ones for skewed
# clocks and report delays, then roughly geometric.
EDGES = (-20.0, -10.0, -4.0, -1.0, 0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0,
         200.0, 300.0)
LOOKAHEAD = -EDGES[0]  # a parent may start this long after its child
LOOKBACK = EDGES[-1]  # ...or this long before it
MAX_HOPS = 2  # parents further away are not considered
MAX_TYPES = 200  # alarm types with their own alpha row; the rest share one
MAX_CANDIDATES = 64  # candidate parents per alert, the nearest in time
MAX_FIT_ALERTS = 200_000  # the latest alerts of a longer history are fitted
FORMAT = 1  # of ``to_dict``; another one loads as no model

_EDGES = np.array(EDGES)
_WIDTHS = np.diff(_EDGES)
BINS = len(_WIDTHS)


def lag_bin(lag: float) -> int | None:
    """The kernel bin of a lag (child start − parent start), None outside the window."""
    if not EDGES[0] <= lag < EDGES[-1]:
        return None
    return bisect.bisect_right(EDGES, lag) - 1


class ParentModel:
    """Estimator of a topological Hawkes model of alarms (module doc).

    ``prior_weight``: pseudo-alarms of a type spread over the topology's devices that
    shrink each device's background rate toward its type's; ``iterations``: EM
    rounds; ``min_alerts``: the fewest deduplicated alerts to fit on (a shorter
    history says too little: ``learned_`` stays False). ``typed=False`` treats every
    alarm as one type (only hops, lags and each device's background decide; on the
    development scenarios 0.871 against 0.873 with types).
    """

    def __init__(self, prior_weight: float = 1.0, iterations: int = 80,
                 min_alerts: int = 200, typed: bool = True):
        self.prior_weight = prior_weight
        self.iterations = iterations
        self.min_alerts = min_alerts
        self.typed = typed
        self.learned_ = False
        self.types_: list[str] = []  # alarm types with their own row; index len: the rest
        self.alpha_ = np.zeros((1, 1))  # (types + 1) × (types + 1), parent → child
        self.kernel_ = np.zeros((MAX_HOPS + 1, BINS))  # per second, per hop and lag bin
        self.span_ = 1.0  # seconds of history fitted
        self.nodes_ = 1  # devices in the topology fitted on
        self.background_: dict[tuple[int, str], float] = {}  # (type, node) → alarms
        self.type_background_: list[float] = [0.0]  # per type, background alarms in all
        self.alerts_ = 0
        self.pairs_ = 0
        self.seconds_ = 0.0
        self._index: dict[str, int] = {}
        self._rows: tuple[list[list[float]], list[list[float]]] | None = None

    # Fitting

    def fit(self, alerts: Sequence[Alert], topology: TopologyGraph,
            settings: EngineSettings | None = None) -> ParentModel:
        """Fit on a history's events, deduplicated into alerts as the engine does."""
        return self.fit_records(deduplicated(alerts, topology, settings or EngineSettings()),
                                topology)

    def fit_records(self, records: Sequence[AlertRecord], topology: TopologyGraph
                    ) -> ParentModel:
        """Fit on deduplicated alerts (any order); those on no known device are left out."""
        started = time.perf_counter()
        self._fit(records, topology)
        self.seconds_ = round(time.perf_counter() - started, 3)
        return self

    def _fit(self, records: Sequence[AlertRecord], topology: TopologyGraph) -> None:
        placed = sorted((r for r in records if r.node_id is not None and r.node_id in topology),
                        key=lambda r: (r.starts_at, r.id))[-MAX_FIT_ALERTS:]
        self.learned_ = False
        self.alerts_ = len(placed)
        if len(placed) < self.min_alerts:
            return
        counts: dict[str, int] = {}
        for r in placed:
            name = self._name(r.name)
            counts[name] = counts.get(name, 0) + 1
        self.types_ = sorted(counts, key=lambda n: (-counts[n], n))[:MAX_TYPES]
        self._index = {name: k for k, name in enumerate(self.types_)}
        types = np.array([self.type_of(r.name) for r in placed])
        nodes = [r.node_id for r in placed]
        node_ids = {n: k for k, n in enumerate(sorted(set(nodes)))}
        node_index = np.array([node_ids[n] for n in nodes])  # type: ignore[index]
        rings = np.array([self._ring(topology, n) for n in nodes])  # type: ignore[arg-type]
        child, parent, hops, bins = self._pairs(placed, topology)
        self.pairs_ = len(child)
        self.span_ = max(placed[-1].starts_at - placed[0].starts_at, 1.0)
        self.nodes_ = max(len(topology), 1)
        self._em(types, node_index, len(node_ids), rings, child, parent, hops, bins)
        names = sorted(node_ids, key=node_ids.__getitem__)
        self._store_background(types, node_index, names)
        self.learned_ = True

    def _name(self, name: str) -> str:
        return name if self.typed else ""

    @staticmethod
    def _ring(topology: TopologyGraph, node: str) -> list[float]:
        """Devices 0, 1 and 2 hops from ``node``: where its offspring may be."""
        sizes = [0.0] * (MAX_HOPS + 1)
        for hops in topology.neighbourhood(node, MAX_HOPS).values():
            sizes[hops] += 1
        return sizes

    @staticmethod
    def _pairs(placed: Sequence[AlertRecord], topology: TopologyGraph
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Candidate (child, parent, hops, lag bin) pairs: every other alert started
        from ``LOOKBACK`` before to ``LOOKAHEAD`` after the child within ``MAX_HOPS``,
        the nearest ``MAX_CANDIDATES`` in time."""
        times = [r.starts_at for r in placed]
        child: list[int] = []
        parent: list[int] = []
        hops: list[int] = []
        bins: list[int] = []
        for i, record in enumerate(placed):
            t = times[i]
            near = topology.neighbourhood(record.node_id, MAX_HOPS)  # type: ignore[arg-type]
            lo = bisect.bisect_left(times, t - LOOKBACK + 1e-9)
            hi = bisect.bisect_right(times, t + LOOKAHEAD)
            found = []
            for j in range(lo, hi):
                h = near.get(placed[j].node_id) if j != i else None  # type: ignore[arg-type]
                if h is None:
                    continue
                b = lag_bin(t - times[j])
                if b is not None:
                    found.append((abs(t - times[j]), j, h, b))
            if len(found) > MAX_CANDIDATES:
                found.sort()
                found = found[:MAX_CANDIDATES]
            for _, j, h, b in found:
                child.append(i)
                parent.append(j)
                hops.append(h)
                bins.append(b)
        return (np.array(child, dtype=int), np.array(parent, dtype=int),
                np.array(hops, dtype=int), np.array(bins, dtype=int))

    def _em(self, types: np.ndarray, nodes: np.ndarray, n_nodes: int, rings: np.ndarray,
            child: np.ndarray, parent: np.ndarray, hops: np.ndarray, bins: np.ndarray
            ) -> None:
        """EM on the branching structure; leaves ``alpha_``, ``kernel_`` and the
        posterior background mass per alert (``_bg``)."""
        n, n_types = len(types), len(self.types_) + 1
        span, devices = self.span_, self.nodes_
        mu = np.full((n_types, n_nodes), n / span / (n_types * devices))
        alpha = np.full((n_types, n_types), 0.05)
        kernel = np.ones((MAX_HOPS + 1, BINS)) / LOOKBACK
        t_parent, t_child = types[parent], types[child]
        p_bg = np.ones(n)
        for _ in range(self.iterations):
            rate = alpha[t_parent, t_child] * kernel[hops, bins]
            background = mu[types, nodes]
            total = background + np.bincount(child, weights=rate, minlength=n)
            p_par = rate / total[child]
            p_bg = background / total
            # Background per (type, device), shrunk toward the type's rate per device.
            per_node = np.zeros((n_types, n_nodes))
            np.add.at(per_node, (types, nodes), p_bg)
            per_type = per_node.sum(axis=1, keepdims=True)
            mu = (per_node + self.prior_weight * (per_type + 1.0) / devices) / span
            # alpha: offspring of type c from parents of type a, per unit of exposure.
            reach = (kernel * _WIDTHS).sum(axis=1)  # per hop, the kernel's integral
            exposure = np.bincount(types, weights=rings @ reach, minlength=n_types)
            offspring = np.zeros((n_types, n_types))
            np.add.at(offspring, (t_parent, t_child), p_par)
            alpha = offspring / np.maximum(exposure[:, None], 1e-12)
            # The kernel given alpha.
            out = alpha[types].sum(axis=1)  # per alert, its total alpha to any child
            mass = np.zeros((MAX_HOPS + 1, BINS))
            np.add.at(mass, (hops, bins), p_par)
            kernel = mass / np.maximum((rings.T @ out)[:, None] * _WIDTHS[None, :], 1e-12)
            scale = float((kernel * _WIDTHS).sum())
            if scale > 0:
                kernel /= scale
                alpha *= scale
        seen = np.bincount(types, minlength=n_types) > 0
        if not seen[-1]:  # no rare type in the history: types first seen live get the mean
            alpha[-1, :] = alpha[:-1, :].mean(axis=0) if n_types > 1 else 0.0
            alpha[:, -1] = alpha[:, :-1].mean(axis=1) if n_types > 1 else 0.0
        self.alpha_, self.kernel_ = alpha, kernel
        self._rows = None
        self._bg = p_bg

    def _store_background(self, types: np.ndarray, nodes: np.ndarray, names: list[str]
                          ) -> None:
        """Expected background alarms per seen (type, device) and per type."""
        per: dict[tuple[int, str], float] = {}
        for k in range(len(types)):
            key = (int(types[k]), names[int(nodes[k])])
            per[key] = per.get(key, 0.0) + float(self._bg[k])
        self.background_ = per
        totals = [0.0] * (len(self.types_) + 1)
        for (t, _node), value in per.items():
            totals[t] += value
        self.type_background_ = totals
        del self._bg

    # Using

    def type_of(self, name: str) -> int:
        """Row of ``alpha`` for an alarm type (the shared one for rare or new types)."""
        return self._index.get(self._name(name), len(self.types_))

    def rate(self, type_index: int, node: str) -> float:
        """Background alarms per second of this type on this device."""
        prior = self.prior_weight * (self.type_background_[type_index] + 1.0) / self.nodes_
        return (self.background_.get((type_index, node), 0.0) + prior) / self.span_

    def excitation(self, parent_type: int, child_type: int, hops: int, lag: float) -> float:
        """Rate at which an alarm of ``parent_type`` causes one of ``child_type`` at
        ``hops`` and ``lag`` seconds after it (0 outside the window)."""
        b = lag_bin(lag)
        if b is None or not 0 <= hops <= MAX_HOPS:
            return 0.0
        if self._rows is None:  # plain lists: numpy's scalar indexing is slower per call
            self._rows = (self.alpha_.tolist(), self.kernel_.tolist())
        alpha, kernel = self._rows
        return alpha[parent_type][child_type] * kernel[hops][b]

    def summary(self) -> dict[str, Any]:
        """What was learned and from how much, for the model's metadata."""
        return {"learned": self.learned_, "alerts": self.alerts_, "pairs": self.pairs_,
                "types": len(self.types_), "typed": self.typed, "seconds": self.seconds_,
                "min_alerts": self.min_alerts}

    # Saving

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "edges": list(EDGES), "typed": self.typed,
                "prior_weight": self.prior_weight, "types": list(self.types_),
                "alpha": self.alpha_.tolist(), "kernel": self.kernel_.tolist(),
                "span": self.span_, "nodes": self.nodes_,
                "background": [[t, node, round(v, 6)]
                               for (t, node), v in sorted(self.background_.items())],
                "type_background": list(self.type_background_)}

    @classmethod
    def from_dict(cls, data: Any) -> ParentModel | None:
        """The model saved by ``to_dict``, or None when ``data`` is none (a model saved
        before parents were learned) or not one this version reads (another format or
        lag bins, wrong shapes, non-finite numbers): then nothing is absorbed."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            return None
        try:
            if [float(e) for e in data["edges"]] != list(EDGES):
                return None
            model = cls(prior_weight=float(data["prior_weight"]), typed=bool(data["typed"]))
            model.types_ = [str(t) for t in data["types"]]
            n_types = len(model.types_) + 1
            model.alpha_ = np.array(data["alpha"], dtype=float)
            model.kernel_ = np.array(data["kernel"], dtype=float)
            model.span_, model.nodes_ = float(data["span"]), int(data["nodes"])
            model.background_ = {(int(t), str(node)): float(v)
                                 for t, node, v in data["background"]}
            model.type_background_ = [float(v) for v in data["type_background"]]
        except (KeyError, TypeError, ValueError):
            return None
        if (model.alpha_.shape != (n_types, n_types)
                or model.kernel_.shape != (MAX_HOPS + 1, BINS)
                or len(model.type_background_) != n_types
                or not (np.isfinite(model.alpha_).all() and np.isfinite(model.kernel_).all())
                or not (math.isfinite(model.span_) and model.span_ > 0 and model.nodes_ > 0)
                or any(not 0 <= t < n_types for t, _ in model.background_)):
            return None
        model._index = {name: k for k, name in enumerate(model.types_)}
        model.learned_ = True
        return model
