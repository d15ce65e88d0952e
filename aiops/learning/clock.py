"""Per-device clock offsets learned from history, for the correlator's time comparisons.

Devices with bad NTP stamp every alarm a roughly constant number of seconds early or
late. Two alarms of the same pair of types on neighbouring devices are usually
about the same distance apart (the propagation plus reporting delays of that type
pair); how far a pair is from the usual distance of its types is the difference of
the two devices' offsets, plus noise. Every device is the end of many such pairs,
so its offset can be solved for on the topology graph:

* for each (type a, type b) the median lag between their alarms on neighbouring
  devices within ``window`` seconds is the types' own lag; a pair's residual is its
  lag minus that median;
* per pair of devices the median residual (robust to unrelated alarms that happen
  to fall in the window) is ``offset(v) − offset(u)``;
* offsets minimise ``Σ n_uv (o_v − o_u − d_uv)² + ridge · Σ o²`` (``n_uv`` pairs of
  evidence per device pair): the ridge fixes the mean near 0 and shrinks devices
  with little evidence towards no correction.

The offsets only shift the times the correlator compares (``ScoredCorrelator``);
stored alert times are never changed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from aiops.learning.alarm_pairs import AlarmEvents, AlarmPairs
from aiops.models import Alert
from topology.graph import TopologyGraph

SOLVER_ITERATIONS = 300  # Gauss–Seidel-like sweeps; the graph solve converges well before


class ClockOffsets:
    """Estimator of per-node clock offsets (seconds; positive: the node stamps late).

    ``window`` is the widest lag between two alarms on neighbouring nodes counted as
    a pair, ``min_pairs`` the fewest pairs a type pair needs for its median lag to be
    trusted, ``ridge`` the prior pull of every offset towards 0 in pairs' worth of
    evidence, ``min_offset`` the smallest correction kept (smaller ones are noise and
    cost a look-up for nothing).
    """

    def __init__(self, window: float = 60.0, hops: int = 1, min_pairs: int = 10,
                 ridge: float = 5.0, min_offset: float = 0.5):
        self.window = window
        self.hops = hops
        self.min_pairs = min_pairs
        self.ridge = ridge
        self.min_offset = min_offset
        self.offsets_: dict[str, float] = {}

    def fit(self, alerts: Sequence[Alert], topology: TopologyGraph,
            pairs: AlarmPairs | None = None) -> ClockOffsets:
        """Learn ``offsets_`` (node id -> seconds) from ``alerts`` on ``topology``.

        ``pairs``: the alarm pairs of ``alerts`` already built (``AlarmPairs``, as
        ``aiops train`` shares them with ``TypeRelations``), used when they reach at
        least ``hops`` and ``window``; else they are built here.
        """
        self.offsets_ = {}
        if pairs is None or not pairs.covers(self.hops, self.window):
            pairs = AlarmPairs.build(alerts, topology, self.hops, self.window)
        ev = pairs.events
        if len(ev.times) == 0:
            return self
        first, second, hop = pairs.cause, pairs.effect, pairs.hop
        keep = ((hop > 0) & (hop <= self.hops) & (first < second)
                & (ev.times[second] - ev.times[first] <= self.window))
        first, second = first[keep], second[keep]
        u, v, residual = self._residuals(ev, first, second)
        if len(residual) == 0:
            return self
        offsets = self._solve(ev.n_locs, *self._device_lags(u, v, residual))
        names = [loc[2:] if loc.startswith("n:") else None for loc in ev.locations]
        self.offsets_ = {names[k]: round(float(o), 2) for k, o in enumerate(offsets)
                         if names[k] is not None and abs(o) >= self.min_offset}
        return self

    def _residuals(self, ev: AlarmEvents, first: np.ndarray, second: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per pair: its locations in a canonical order and its lag minus the median
        lag of its type pair (pairs of rare type pairs dropped).

        The order (lower type first, then lower location) makes the lag signed, so a
        device stamping late shows as a positive residual at its end of the pair.
        """
        ta, tb = ev.types[first], ev.types[second]
        la, lb = ev.locs[first], ev.locs[second]
        flip = (ta > tb) | ((ta == tb) & (la > lb))
        a = np.where(flip, second, first)
        b = np.where(flip, first, second)
        lag = ev.times[b] - ev.times[a]
        key = ev.types[a] * ev.n_types + ev.types[b]
        order = np.argsort(key, kind="stable")
        key, lag, a, b = key[order], lag[order], a[order], b[order]
        bounds = np.flatnonzero(np.diff(key)) + 1
        starts = np.concatenate(([0], bounds))
        ends = np.concatenate((bounds, [len(key)]))
        residual = np.full(len(lag), np.nan)
        for s, e in zip(starts, ends, strict=True):
            if e - s >= self.min_pairs:
                residual[s:e] = lag[s:e] - np.median(lag[s:e])
        ok = ~np.isnan(residual)
        return ev.locs[a][ok], ev.locs[b][ok], residual[ok]

    @staticmethod
    def _device_lags(u: np.ndarray, v: np.ndarray, residual: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per unordered device pair: (u, v, median of offset(v) − offset(u), pairs)."""
        swap = u > v
        lo, hi = np.where(swap, v, u), np.where(swap, u, v)
        signed = np.where(swap, -residual, residual)
        order = np.lexsort((hi, lo))
        lo, hi, signed = lo[order], hi[order], signed[order]
        change = np.flatnonzero((np.diff(lo) != 0) | (np.diff(hi) != 0)) + 1
        starts = np.concatenate(([0], change))
        ends = np.concatenate((change, [len(lo)]))
        medians = np.array([np.median(signed[s:e]) for s, e in zip(starts, ends, strict=True)])
        return lo[starts], hi[starts], medians, (ends - starts).astype(np.float64)

    def _solve(self, n: int, u: np.ndarray, v: np.ndarray, d: np.ndarray,
               w: np.ndarray) -> np.ndarray:
        """Jacobi iterations for the ridge-regularised least squares on the graph."""
        degree = np.bincount(u, w, n) + np.bincount(v, w, n) + self.ridge
        o = np.zeros(n)
        for _ in range(SOLVER_ITERATIONS):
            pull = np.bincount(v, w * (o[u] + d), n) + np.bincount(u, w * (o[v] - d), n)
            o = pull / degree
        return o
