"""Where a fault's alarms lie around its origin, learned from alert history alone.

Why: the hindsight split (``aiops.engine.hindsight``) asks whether two fault origins
explain a settled incident's alarms much better than one, and scores an alarm ``d``
hops from an origin by the share of a fault's alarms at ``d`` hops. Its defaults,
``RING_SHARES``, were read from the benchmark simulator's true faults; on a real
network (a ring core whose faults reach far, a flat access layer whose faults stay
on the device) the shares differ, and a wrong profile either splits one wide fault in
two or keeps two faults together. ``aiops train`` learns them here; the engine's
splitter uses the model's (``CorrelationModel.ring_shares``).

No labels exist, so the engine groups the history itself, as it would live: the
trained correlator places each deduplicated alert (``aiops.engine.regroup``) and
every incident is collected as it settles. Then, EM-style, ``iterations`` times:
each settled incident is split with the current shares as the engine would split it;
each part of at least ``MIN_ALERTS`` alerts is taken as one fault, its most likely
single origin under the current shares found (``HindsightSplitter.origin``), and
its alerts' hops from that origin counted; the counts, plus ``prior_weight``
pseudo-alarms spread as ``RING_SHARES``, normalised, are the next shares. Alarms
further out than four hops are left out of the counts (the splitter scores them with
a fixed floor, not a share). With fewer than ``min_incidents`` such faults the history
says too little and ``RING_SHARES`` stay.

This is the joint maximum-likelihood fit (EM) of the shares and each fault's origin
under the splitter's own model, so the splitter scores incidents with the profile
that explains the history's incidents best. Known biases, and why they stay:

- The origin picked as the likeliest one sits where the alarms are densest, so the
  counts lean toward 0 hops (a centre fitted to its own points). With the faults
  known (synthetic faults of 10-20 alarms on a grid) the fit recovers the true
  shares to within 0.01-0.05 each. Measuring each device's alarms from the origin
  the other devices' alarms make likeliest (leave-one-out) removes that lean but
  distorts by topology: on the Huawei scenarios it read 0.14-0.24 of alarms one
  hop out where the true faults have 0.37 (L1 error 0.29 against the truth, the
  plain fit 0.12).
- The correlator links an alert to an incident member at most two hops away, so a
  fault's far alarms join its incident only through nearer ones; those that end up
  in an incident of their own (under ``MIN_ALERTS``) are not counted, which
  truncates the tail: synthetic wide faults (10 / 20 / 40 / 25 / 5 %) read as 22 /
  46 / 26 / 6 / 0 %. Undoing that would need a model of the correlator; the
  direction is right (wider than the defaults) and the prior's pseudo-counts keep
  every share away from zero.
- Incidents that hold two faults the split does not separate count the second
  fault's alarms as far ones, which offsets part of both leans above. On the
  development scenarios' histories the learned shares' means per topology family
  were within 0.06 of the true faults' on every ring (0 hops read high by about
  0.05, 3 hops low by up to 0.03; docs/architecture.md, "Hindsight split").
- Splitting with the shares being learned makes the estimate depend on its start;
  two EM rounds: the third moved no share by more than 0.005 on a development
  scenario.

Cost: one placement pass over the history (no ranking, no database) plus walks of
the settled incidents' devices, cached by the splitter: seconds on a day of alarms.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

from aiops.config import EngineSettings
from aiops.engine.correlate import Correlator
from aiops.engine.dedup import deduplicated
from aiops.engine.hindsight import MIN_ALERTS, RING_SHARES, HindsightSplitter, Split
from aiops.engine.regroup import regroup
from aiops.engine.state import AlertRecord
from aiops.models import Alert
from topology.graph import TopologyGraph

MAX_RINGS = 8  # a stored profile longer than this is damaged, not learned


def valid_shares(value: Any, default: tuple[float, ...] = RING_SHARES) -> tuple[float, ...]:
    """``value`` as shares normalised to sum to 1, or ``default`` when it is not a
    usable profile: a sequence of 2 to ``MAX_RINGS`` finite, non-negative numbers with
    a positive share on the origin's ring and a positive sum. A stored model from an
    older version (no shares) or a damaged one must still load (review: a share of 0
    on the origin would make every alarm on it impossible, ``log 0``)."""
    if not isinstance(value, (list, tuple)) or not 2 <= len(value) <= MAX_RINGS:
        return default
    shares = []
    for share in value:
        if isinstance(share, bool) or not isinstance(share, (int, float)):
            return default
        if not math.isfinite(share) or share < 0:
            return default
        shares.append(float(share))
    total = sum(shares)
    if total <= 0 or shares[0] <= 0:
        return default
    # The splitter takes the log of every share: one at 0 would make an alarm at that
    # ring impossible, so each keeps at least a trace.
    shares = [max(share / total, 1e-6) for share in shares]
    total = sum(shares)
    return tuple(share / total for share in shares)


class _Collector(HindsightSplitter):
    """A stand-in splitter for ``regroup``: keeps every settled incident's alerts and
    splits none (the learning splits them itself, with each iteration's shares)."""

    def __init__(self, topology: TopologyGraph):
        super().__init__(topology, gain=0.0)
        self.settled: list[list[AlertRecord]] = []

    def split(self, alerts: Any) -> Split | None:
        members = list(alerts)
        if len(members) >= MIN_ALERTS:
            self.settled.append(members)
        return None


def settled_incidents(records: Sequence[AlertRecord], topology: TopologyGraph,
                      correlator: Correlator) -> list[list[AlertRecord]]:
    """The incidents of at least ``MIN_ALERTS`` alerts that ``correlator`` makes of a
    history's deduplicated alerts (``deduplicated``, in start order) as they settle,
    before any hindsight split (``regroup``, which places copies: ``records`` stay as
    they are)."""
    collector = _Collector(topology)
    regroup(records, correlator, collector)
    return collector.settled


class RingSharesEstimator:
    """Estimator of ``shares_``: a fault's share of alarms 0, 1, … hops from its origin.

    ``gain``: the split's, with which settled incidents are split before counting (0:
    none is); ``iterations``: EM rounds; ``prior_weight``: pseudo-alarms spread as
    ``RING_SHARES`` added to the counts; ``min_incidents``: the fewest faults (parts
    of at least ``MIN_ALERTS`` alerts) to learn from, else ``RING_SHARES`` stay.
    Why 30 and 50: 30 faults of six or more alarms hold a few hundred alarms, enough
    for each share to within a few points; 50 pseudo-alarms keep the far rings (2 %
    of alarms at four hops) from reading as impossible when a small history has none.
    """

    def __init__(self, gain: float = 25.0, iterations: int = 2, prior_weight: float = 50.0,
                 min_incidents: int = 30):
        self.gain = gain
        self.iterations = iterations
        self.prior_weight = prior_weight
        self.min_incidents = min_incidents
        self.shares_: tuple[float, ...] = RING_SHARES
        self.learned_: bool = False
        self.incidents_: int = 0  # faults (incident parts) counted in the last round
        self.alarms_: int = 0  # their alarms within the shares' reach
        self.settled_: int = 0  # settled incidents of at least MIN_ALERTS alerts
        self.seconds_: float = 0.0

    def fit(self, alerts: Sequence[Alert], topology: TopologyGraph,
            correlator: Correlator, settings: EngineSettings | None = None
            ) -> RingSharesEstimator:
        """Learn ``shares_`` from ``alerts`` grouped by ``correlator`` (module doc)."""
        records = deduplicated(alerts, topology, settings or EngineSettings())
        return self.fit_records(records, topology, correlator)

    def fit_records(self, records: Sequence[AlertRecord], topology: TopologyGraph,
                    correlator: Correlator) -> RingSharesEstimator:
        """The same from a history's already deduplicated alerts (``deduplicated``)."""
        started = time.perf_counter()
        self.fit_incidents(settled_incidents(records, topology, correlator), topology)
        self.seconds_ = round(time.perf_counter() - started, 3)
        return self

    def fit_incidents(self, incidents: Sequence[Sequence[AlertRecord]],
                      topology: TopologyGraph) -> RingSharesEstimator:
        """The EM rounds over already grouped settled incidents."""
        self.shares_, self.learned_ = RING_SHARES, False
        self.settled_ = len(incidents)
        shares = RING_SHARES
        splitter = HindsightSplitter(topology, self.gain, shares=shares)
        for _ in range(max(1, self.iterations)):
            splitter.use_shares(shares)
            counts, faults = self._count(incidents, splitter)
            self.incidents_, self.alarms_ = faults, int(sum(counts))
            if faults < self.min_incidents:
                return self
            shares = self._smoothed(counts)
        self.shares_, self.learned_ = shares, True
        return self

    def _count(self, incidents: Sequence[Sequence[AlertRecord]], splitter: HindsightSplitter
               ) -> tuple[list[float], int]:
        """Alarms per hop count from each fault's likeliest origin under the splitter's
        shares, and how many faults were counted."""
        counts = [0.0] * len(splitter.shares)
        faults = 0
        for incident in incidents:
            split = splitter.split(incident) if self.gain > 0 else None
            for part in (split.parts if split is not None else (list(incident),)):
                found = splitter.origin_hops(part)
                if found is None:
                    continue
                faults += 1
                for hops in found:
                    if hops is not None:
                        counts[hops] += 1
        return counts, faults

    def _smoothed(self, counts: list[float]) -> tuple[float, ...]:
        prior = [self.prior_weight * share for share in RING_SHARES]
        total = sum(counts) + self.prior_weight
        return valid_shares([(c + p) / total for c, p in zip(counts, prior, strict=True)])

    def summary(self) -> dict[str, Any]:
        """What was learned and from how much, for the model's metadata."""
        return {"shares": [round(s, 4) for s in self.shares_], "learned": self.learned_,
                "faults": self.incidents_, "alarms": self.alarms_,
                "settled_incidents": self.settled_, "seconds": self.seconds_,
                "min_faults": self.min_incidents}

