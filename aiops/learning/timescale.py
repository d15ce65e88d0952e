"""How fast this network's cascades unfold, learned from alert history alone.

Why: the correlator compares times in seconds (the 120 s window, the 60 s during
which an incident links at full strength, the 180 s fade, the 40 s between the
onsets of two pieces it may merge, the 30 s of fan-out, the 15 s of skew). Those
were chosen on scenarios whose alarms follow their cause within seconds, as traps
and streamed events do. Monitoring that polls every minute or so reports the same
cascade spread over minutes; with propagation and reporting delays three times as
long, those fixed times split incidents and pair F1 fell from 0.87 to 0.68 on the
development scenarios, below OpenNMS ALEC's fixed parameters (docs/architecture.md,
"Learned time scale"). One number learned by ``aiops train`` stretches all of them.

The estimate needs no labels. First each condition (type and entity) counts once
per run: a repeat less than the window after its previous alert is dropped, so a
storm of one condition is one alarm. Then take every pair of alarms started within
``window`` seconds of each other on the same or neighbouring nodes, on
clock-corrected times (``aiops.learning.clock``); where those say nothing, pairs up
to two hops apart (hosts behind one switch, a node and a Service through their pods:
benchmarks/k8s_node_failure.py learned no scale from one hop). Alarms that have nothing to do
with each other give lags spread evenly over the window (they arrive
independently); alarms of one cascade pile up at short lags. The density of lags
in the window's second half estimates the even part; the pairs in excess of it at
lags up to ``x`` grow with ``x`` as the cascade part's distribution, and the lag at
which half of the excess is reached is this history's *cascade lag*. No node
counts more pairs than the 90th percentile of the nodes (by the later alarm's
node): a busy node whose conditions burst together for an hour would otherwise
read as a slow cascade for the whole network. The median, because it is the
steadiest of the quantiles: on the development scenarios it lay within 10-13 s at
the default timing on every topology, noise level and causal graph, and within
27-38 s at delays three times as long.

The scale is that lag over ``REFERENCE_LAG`` × ``SLACK``, never below 1 nor above
``MAX_SCALE``; with fewer than ``min_excess`` pairs in excess, or an excess within
``MIN_Z`` times the even part's noise, the history says nothing about timing and the
scale stays 1 (pairs are weighed by the share of the history a pair that far apart
could start in, or unrelated alarms make a slope that reads as a slow cascade). Why
not the plain ratio: a scale read into the estimate's noise at the default timing is
churn (a first version that took the plain ratio moved held-out pair F1 by up to
−0.031 on a scenario it read as faster); shrinking the times costs more than
stretching them (forced 0.75 lost 0.018 pair F1 on the development scenarios, 1.25
lost 0.005); and the correlator's times already hold slack for clock skew that does
not grow with the delays, so the full ratio over-stretches (at delays three times
the defaults a forced 1.8 grouped better than 2.3 or 3). Details and numbers:
docs/architecture.md, "Learned time scale".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from operator import attrgetter

import numpy as np

from aiops.learning.alarm_pairs import AlarmPairs, corrected_lags
from aiops.learning.relations import TypeRelations
from aiops.models import Alert
from topology.graph import TopologyGraph

# Median cascade lag (as estimated here) of the development scenarios' histories at
# the default timing, where the correlator's times were chosen: seeds 21-22, every
# topology, both causal graphs, both noise levels gave 10-13 s.
REFERENCE_LAG = 11.0
# How far above the reference a lag must be before the times are stretched, and the
# divisor beyond: the estimate reached 1.18 times the reference at the default
# timing, and at three times the delays (lags 27-38 s) stretching by about 1.8 grouped
# better than by the full ratio (docs/architecture.md, "Learned time scale").
SLACK = 1.5
MAX_SCALE = 8.0
# Standard deviations of the even part's noise (the square root of the pairs counted)
# the excess must stand above: unrelated alarms alone read a lag otherwise, and the
# more pairs a busy history holds the larger their stray excess (0.4-0.7 of one
# deviation on 40,000 random alarms, where 200 pairs could be crossed).
MIN_Z = 4.0
_START = attrgetter("starts_at")  # sort key: no Python call per alert


class CascadeTimescale:
    """Estimator of ``scale_``: the history's median cascade lag over ``REFERENCE_LAG``.

    ``windows`` (seconds) are the widest lags counted, tried in turn: the second half
    of the window must be past nearly every cascade lag, so a lag above an eighth of
    the window is measured again in the next (the first suffices up to scale 4 and
    costs about 0.15 s on a day of 2,000 nodes' alarms). ``hops`` is how far apart
    two alarms' nodes may be, and ``far_hops`` how far where pairs ``hops`` apart say
    nothing (``hops_used_``: which gave the estimate); ``min_excess`` the fewest pairs
    in excess of the even part before the estimate is trusted.
    """

    def __init__(self, windows: Sequence[float] = (600.0, 2400.0), hops: int = 1,
                 min_excess: int = 200, far_hops: int = 2):
        self.windows = tuple(windows)
        self.hops = hops
        self.far_hops = far_hops
        self.min_excess = min_excess
        self.hops_used_: int = hops  # how far apart the pairs that gave the estimate were
        self.lag_: float | None = None  # seconds; None: too little evidence
        self.excess_pairs_: int = 0
        self.scale_: float = 1.0

    def fit(self, alerts: Sequence[Alert], topology: TopologyGraph,
            offsets: Mapping[str, float] | None = None) -> CascadeTimescale:
        """Learn ``scale_`` from ``alerts`` on ``topology`` (see the module doc)."""
        self.lag_, self.excess_pairs_, self.scale_ = None, 0, 1.0
        self.hops_used_ = self.hops
        onsets = condition_onsets(alerts, self.windows[0])
        lag, excess = None, 0
        for hops in dict.fromkeys((self.hops, max(self.hops, self.far_hops))):
            self.hops_used_ = hops
            lag, excess = self._widest_reading(onsets, topology, offsets, hops,
                                               further=hops > self.hops)
            if lag is not None:
                break
        self.excess_pairs_ = excess
        if lag is None:
            return self
        self.lag_ = lag
        self.scale_ = round(float(np.clip(lag / (REFERENCE_LAG * SLACK), 1.0, MAX_SCALE)), 2)
        return self

    def stretch(self, relations: TypeRelations) -> TypeRelations:
        """``relations`` (not yet fitted) with its precedence window and skew tolerance
        stretched by ``scale_``; the precedence window stays within the pairs its other
        windows make it learn from, so one set of alarm pairs still serves all of it.

        On the development scenarios with delays three times the defaults this raised
        AC@1 from 0.558 to 0.572 over stretching the correlator's times alone.
        """
        relations.precedence_window = min(relations.precedence_window * self.scale_,
                                          max(relations.window, relations.causal_window))
        relations.skew_tolerance = relations.skew_tolerance * self.scale_
        return relations

    def _widest_reading(self, onsets: Sequence[Alert], topology: TopologyGraph,
                        offsets: Mapping[str, float] | None, hops: int, further: bool
                        ) -> tuple[float | None, int]:
        """The cascade lag from pairs up to ``hops`` apart, None unless its excess passes
        the evidence thresholds, and the excess.

        A window is left for the next when its lag is past an eighth of it; looking
        ``further`` (the nearby pairs said nothing), also when it reads no excess at
        all: a cascade whose alarms follow each other by five to ten minutes (rules
        with ``for:``) fills a 600 s window's second half as much as its first. Then a
        window not shorter than the history is not measured: its second half, where the
        even part is read, would hold no pairs, and every pair would read as excess.
        The nearby pass is left exactly as it was measured: every history that reads
        from it, and the live pace, which reads only it, read what they read before."""
        lag, excess, paired = None, 0, 0.0
        span = onsets[-1].starts_at - onsets[0].starts_at if onsets else 0.0
        for window in self.windows:
            if further and window >= span:
                break
            lag, excess, paired = self._measure(onsets, topology, offsets, window, hops)
            if (lag is None and not further) or (lag is not None and lag <= window / 8.0):
                break
        # The excess is the first half's pairs less the second's: with no cascade at
        # all it still strays by about the square root of the pairs counted.
        if lag is not None and excess < max(self.min_excess, MIN_Z * paired ** 0.5):
            lag = None
        return lag, excess

    def _measure(self, onsets: Sequence[Alert], topology: TopologyGraph,
                 offsets: Mapping[str, float] | None, window: float, hops: int
                 ) -> tuple[float | None, int, float]:
        """The cascade lag and excess in ``window`` from pairs up to ``hops`` apart
        (``cascade_lag``), and the weight of the pairs counted in it (what the excess's
        noise grows with)."""
        pairs = AlarmPairs.build(onsets, topology, hops, window)
        ev = pairs.events
        cause, effect = pairs.cause, pairs.effect
        keep = pairs.hop <= hops
        cause, effect = cause[keep], effect[keep]
        lags = np.abs(corrected_lags(ev, cause, effect, ev.times[effect] - ev.times[cause],
                                      offsets))
        weights = node_weights(ev.locs[effect], ev.n_locs)
        # A pair ``lag`` apart can only start in the first ``span - lag`` of the history,
        # so even unrelated alarms make fewer long lags than short ones: over a day at
        # the 2,400 s window that slope alone read as a slow cascade (scale 8 from
        # random alarms on 2,000 nodes). Each pair counts as if every start were open.
        span = float(ev.times.max() - ev.times.min()) if len(ev.times) else 0.0
        if span > window and len(lags):
            weights = weights * (span / (span - np.minimum(lags, window)))
        lag, excess = cascade_lag(lags, window, weights)
        return lag, excess, float(weights[lags <= window].sum())


def source_scales(alerts: Sequence[Alert], topology: TopologyGraph,
                  offsets: Mapping[str, float] | None = None,
                  estimator: CascadeTimescale | None = None) -> dict[str, float]:
    """A time scale per alert ``source`` of ``alerts`` with evidence enough on its own.

    Why: a network half on traps (reports within seconds) and half on polling (a minute
    or more) reads one lag in between, too short for the polled half's cascades and too
    long for the trapped half's. Each source's alerts are fitted alone, with the
    estimator's evidence thresholds (``min_excess``, ``MIN_Z``): a source whose own
    pairs say nothing about timing is left out, and the correlator gives it the
    network-wide scale. Empty with fewer than two sources: the network-wide scale is
    then that source's.
    """
    template = estimator or CascadeTimescale()
    by_source: dict[str, list[Alert]] = {}
    for alert in alerts:
        by_source.setdefault(alert.source, []).append(alert)
    if len(by_source) < 2:
        return {}
    scales = {}
    for source, own in sorted(by_source.items()):
        # One hop only: on benchmarks/polled_hosts.py pairs two hops apart gave Nagios
        # (hosts) 2.3-2.73 and syslog (switches) 1.0 of their own, and a host alarm then
        # joined its switch's incident at the mean of the two, not the network's 4.1-4.6
        # (trained pair F1 0.929 / 0.888 / 0.940 fell to 0.544 / 0.480 / 0.544): a
        # source's own two-hop lag is the spread among its alarms, not its lag behind
        # the other source's.
        fitted = CascadeTimescale(template.windows, template.hops, template.min_excess,
                                  far_hops=template.hops).fit(own, topology, offsets)
        if fitted.lag_ is not None:
            scales[source] = fitted.scale_
    return scales


def condition_onsets(alerts: Sequence[Alert], gap: float) -> list[Alert]:
    """The alerts that start a run of their condition (type and entity): a repeat less
    than ``gap`` seconds after the condition's previous alert is left out.

    A storm of one condition (re-sends, a flapping port, a trap a second) is then one
    alarm, not thousands whose pairs with everything nearby would read as a cascade
    that lasts as long as the storm; and a condition is never paired with itself.
    """
    last: dict[tuple[str, str], float] = {}
    kept = []
    for alert in sorted(alerts, key=_START):
        key = (alert.name, alert.entity)
        previous = last.get(key)
        last[key] = alert.starts_at
        if previous is None or alert.starts_at - previous >= gap:
            kept.append(alert)
    return kept


def node_weights(locations: np.ndarray, n_locations: int) -> np.ndarray:
    """Per pair, a weight that holds every node's pairs (by the later alarm's node) to at
    most the 90th percentile of the nodes' counts.

    How fast cascades unfold is a property of the network; one busy node whose many
    conditions burst together for an hour must not speak for it (its pairs pile up at
    short lags as a slow cascade's would). Ordinary nodes keep weight 1.
    """
    counts = np.bincount(locations, minlength=n_locations).astype(np.float64)
    used = counts[counts > 0]
    if len(used) == 0:
        return np.ones(0, dtype=np.float64)
    cap = max(float(np.percentile(used, 90)), 1.0)
    return np.minimum(1.0, cap / counts[locations])


def cascade_lag(lags: np.ndarray, window: float, weights: np.ndarray | None = None
                ) -> tuple[float | None, int]:
    """The median of the lags in excess of an even spread, and how many are in excess.

    The even part's density comes from the lags in ``(window / 2, window]``; the
    excess is counted up to ``window / 2`` in steps of one second. ``weights``: one per
    lag (default 1). None when no lag is in excess.
    """
    half = window / 2.0
    if weights is None:
        weights = np.ones(len(lags), dtype=np.float64)
    inside = lags <= window
    lags, weights = lags[inside], weights[inside]
    if len(lags) == 0:
        return None, 0
    order = np.argsort(lags, kind="stable")
    ordered, cumulative = lags[order], np.cumsum(weights[order])
    even = float(weights[lags > half].sum()) / half  # weight per second of lag
    steps = np.arange(0.0, half + 1.0, 1.0)
    upto = np.searchsorted(ordered, steps, "right")
    counted = np.where(upto > 0, cumulative[np.maximum(upto - 1, 0)], 0.0)
    excess = counted - even * steps
    total = float(excess[-1])
    if total <= 0:
        return None, 0
    return float(steps[int(np.argmax(excess >= 0.5 * total))]), int(round(total))
