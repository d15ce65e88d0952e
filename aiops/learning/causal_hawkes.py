"""Directed causal edges between alert types: a topological Hawkes process.

``TypeRelations.fit`` (``aiops.learning.relations``) hands the alarm pairs within
``causal_window`` and ``causal_hops`` to ``CausalSearch.fit``, which returns the
edges that ``aiops model export-causal-graph`` writes and the root-cause ranker reads.

The model is a topological Hawkes process (Cai et al., "THPs:
Topological Hawkes Processes for Learning Causal Structure on Event Sequences",
IEEE TNNLS 2022): an alarm of type ``i`` on node ``v`` happens spontaneously at a
rate ``mu[i, v]`` of its own, plus, for every earlier alarm of a parent type ``j``
on a node ``h`` hops away, an excitation ``alpha[j, h, lag bin]`` that depends on
how long ago it was. Why this and not co-occurrence: an excitation is fitted
*jointly* with every other parent of ``i``, so a type that merely co-occurs with the
real cause (a sibling, a grandparent whose effect is already explained by the
parent, a type that is frequent on the same busy node) adds nothing and gets no
edge; and excitation goes forward in time (up to the report jitter below), which
gives the direction.

What differs from THP as published, and why (details and measurements in
docs/causal-discovery.md):

* the kernel is piecewise constant over geometric lag bins (``LAG_SHARES`` of
  ``causal_window``) instead of one exponential with a fixed decay: the delay
  between cause and effect differs by orders of magnitude between networks (a fixed
  decay of 10 s, gcastle's default, misses a cascade that takes minutes); this is
  the nonparametric Hawkes kernel of Lewis & Mohler (J. Nonparametric Statistics
  2011) in its histogram form;
* one more bin takes effects stamped up to ``skew_tolerance`` seconds *before*
  their cause on another node (two clocks): otherwise such an effect is credited to
  whatever earlier alarm is around, typically a grandparent or a sibling;
* every alarm may be reported after a delay of its own, so the stamps of a cause and
  its effect differ by the true delay plus a random *report jitter*, which can put
  the effect first even on one node. The kernel of one type on another is therefore
  its lag bins smeared by a Laplace density of scale ``jitter_`` (one number for the
  history, estimated by maximum likelihood from a grid, 0 = exact clocks; a type's
  excitation of itself stays unsmeared). Where reports jitter more than effects
  lag, a forward-only kernel leaves the effects stamped early unexplained and
  grandparents and siblings stamped earlier take the credit: on simulated streams
  without topology that was most of the false edges (docs/causal-discovery.md);
* a cause must not have started after its effect significantly more often than
  before it (``_causal_order``): under independent report delays a cause comes first
  more often than not, and with smeared kernels the likelihood alone reads direction
  only weakly;
* the baseline is per type *and node*, and a type only counts as possible on the
  nodes where it was ever seen, so a busy node or a type confined to a few nodes
  does not look like excitation;
* the structure search uses that the log-likelihood is a sum of one term per effect
  type (Cai et al., eq. 9): every candidate cause of a type is scored at once by
  the likelihood it adds with the rest held fixed; a priority queue adds the edge
  with the largest gain net of a BIC-like penalty ``penalty * log(n_effect)``,
  never one that closes a directed cycle (as THP's hill climb), refitting only the
  effect type concerned by EM (the branching-structure EM of Lewis & Mohler); a
  backward pass then drops parents that later ones made redundant. THP's hill
  climb instead refits every type for every one-edge change of the whole graph.

Cost: with ``n`` alarms and ``m`` alarms on the nodes within ``causal_hops`` during
``causal_window`` before an alarm (at most ``MAX_PAIRS_PER_EVENT``): building the
lag pairs is O(n log n + n m), one EM step over all types O(n m), and the search
refits one effect type (at most ``EM_ITERATIONS`` steps, warm-started) per edge
tried. Estimating the jitter adds one EM fit of the found graph per jitter of
``JITTER_GRID`` climbed (two where clocks are exact) and, unless 0 wins, a second
search, whose entries are up to ``len(LAG_SHARES)`` times as many (a pair counts in
every bin it is smeared over). Memory O(n m), up to ``len(LAG_SHARES)`` times that
for the smeared entries (built one effect type at a time). The co-occurrence
statistics reuse the same pairs. The 30,691 alarms of the Huawei NeurIPS 2023
sample fit in about a second (jitter 0 wins there: the estimate adds about 0.2 s);
where a jitter wins the fit takes several times as long as with exact clocks
(docs/benchmarks.md, "Learning causal relations between alarm types", and
docs/causal-discovery.md).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np

from aiops.learning.alarm_pairs import AlarmEvents, indexes_by_key

# Upper edges of the lag bins of the excitation kernel, as shares of causal_window:
# geometric, so a delay of 2 s and one of 4 minutes both get a bin of their size.
LAG_SHARES = (1 / 128, 1 / 32, 1 / 8, 1 / 2, 1.0)
EM_ITERATIONS = 100  # per refit at most; warm-started, so later refits converge from close by
EM_TOLERANCE = 0.01  # log-likelihood gain per CHECK_EVERY EM steps under which EM stops
CHECK_EVERY = 5
GAIN_ITERATIONS = 12  # fixed-point steps when scoring a candidate parent
MAX_PARENTS = 30  # causes per effect type at most: bounds the search on dense data
# Report jitters tried when it is estimated (seconds: the scale of the difference of
# two alarms' reporting delays). 0 is exact clocks; 32 s is about what reports late by
# a median of 15 s, spread like a lognormal, give.
JITTER_GRID = (0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0)
JITTER_REACH = 5.0  # jitter scales before its cause an effect may still be stamped (e^-5)
ORDER_Z = 2.0  # standard errors "b came first" must lead by, in one test, to forbid a -> b


def _laplace_cdf(x: np.ndarray, scale: float) -> np.ndarray:
    """CDF of the Laplace distribution (that of the difference of two exponential
    delays), with ``scale``."""
    return np.where(x < 0, 0.5 * np.exp(np.minimum(x, 0.0) / scale),
                    1.0 - 0.5 * np.exp(-np.maximum(x, 0.0) / scale))


@dataclass(frozen=True)
class CausalEdges:
    """What the search found: ``edges`` (cause, effect) -> expected effects per cause
    alarm (capped at 1, rounded as stored), ``gains`` the log-likelihood each edge adds,
    ``jitter`` the report jitter they were learned with."""

    edges: dict[tuple[str, str], float]
    gains: dict[tuple[str, str], float]
    jitter: float


@dataclass(frozen=True)
class CausalSearch:
    """The search's parameters (``TypeRelations`` documents each) and the search.

    ``causal_window`` is the longest cause-to-effect delay modelled, ``causal_hops``
    how far from its cause an effect may land, ``skew_tolerance`` how much earlier
    than its cause an effect on another node may be stamped, ``penalty`` the
    log-likelihood an edge must add per kernel parameter times the log of the effect
    type's count, ``acyclic`` whether the graph must have no directed cycle,
    ``report_jitter`` the report jitter in seconds (``None``: estimated), and
    ``min_support`` the fewest alarms of a type, and pairs of an edge, considered.
    """

    causal_window: float
    causal_hops: int
    skew_tolerance: float
    penalty: float
    acyclic: bool
    report_jitter: float | None
    min_support: int

    def fit(self, ev: AlarmEvents, cause: np.ndarray, effect: np.ndarray, hop: np.ndarray,
            lag: np.ndarray) -> CausalEdges:
        """Fit the topological Hawkes process per effect type, then make one graph.

        ``cause``, ``effect``, ``hop``, ``lag``: the alarm pairs within
        ``causal_window`` and ``causal_hops`` (``aiops.learning.alarm_pairs``).
        Unless ``report_jitter`` is given, the jitter is estimated on the way: the
        graph searched with exact clocks (jitter 0) is refitted with the jitters of
        ``JITTER_GRID``, the edges fixed, and the most likely one kept
        (``likeliest_jitter``: maximum likelihood of one number for the whole history;
        the kernels have the same parameters whatever the jitter, so the likelihoods
        compare); the graph is then searched again with it, which is one round of
        alternating between the two.
        """
        setup = KernelSetup(self, ev, cause, effect, hop, lag)
        allowed = self.order_allowed(ev, cause, effect, lag)
        counts = np.bincount(ev.types, minlength=ev.n_types)
        # BIC: half the log of the sample size per parameter, times ``penalty`` / 0.5
        penalty = {i: self.penalty * math.log(counts[i]) for i in setup.effect_types}
        jitter = self.report_jitter or 0.0
        found = greedy_dag(setup.models(jitter), penalty, ev.n_types, self.acyclic, allowed)
        if self.report_jitter is None and found:
            jitter = likeliest_jitter(setup, found)
            if jitter > 0:
                found = greedy_dag(setup.models(jitter), penalty, ev.n_types, self.acyclic,
                                   allowed)
        return CausalEdges(
            edges={(ev.names[j], ev.names[i]): round(min(1.0, w), 4)
                   for (j, i), (_, w) in found.items()},
            gains={(ev.names[j], ev.names[i]): g for (j, i), (g, _) in found.items()},
            jitter=jitter)

    def order_allowed(self, ev: AlarmEvents, cause: np.ndarray, effect: np.ndarray,
                      lag: np.ndarray) -> np.ndarray:
        """``allowed[j, i]``: whether type ``j`` may be a cause of type ``i``.

        Not if ``i`` started first significantly more often than ``j`` when the two
        started close together nearby: when every alarm is reported after a delay of
        its own, independent of the others, a cause is stamped before its effect more
        often than after, and an ancestor before a descendant, so in expectation the
        rule forbids no true edge. The likelihood reads direction from the lags, but
        weakly where reports jitter as much as effects lag, and then explaining a
        rare type by a frequent one can outweigh the order of their stamps.

        The count is made within each of the kernel's lag scales (the upper edges of
        its bins: a relation of seconds would drown in five minutes of unrelated
        pairs), "significant" is ``ORDER_Z`` standard errors of a fair coin for one
        test, Bonferroni-corrected for the several scales.
        """
        n = ev.n_types
        windows = [s * self.causal_window for s in LAG_SHARES]
        level = (1.0 - NormalDist().cdf(ORDER_Z)) / len(windows)
        z = NormalDist().inv_cdf(1.0 - level)
        allowed = np.ones((n, n), dtype=bool)
        for window in windows:
            keep = (lag > 0) & (lag <= window)
            first = np.bincount(ev.types[cause[keep]] * n + ev.types[effect[keep]],
                                minlength=n * n).reshape(n, n).astype(float)
            lead = first.T - first  # at [j, i]: how many more times i came first
            allowed &= ~(lead > z * np.sqrt(first + first.T))
        return allowed


class _Sources:
    """Alarms summed per (type, location) that occurs: their room in each lag bin."""

    def __init__(self, types: np.ndarray, locs: np.ndarray, room: np.ndarray):
        self.type = types
        self.loc = locs
        self.room = room


class KernelSetup:
    """What the causal fit needs whatever the report jitter: the lag bins, every
    alarm's room in them, the hop rings, where each type can happen; and, for a given
    jitter, one ``_EffectModel`` per effect type over its sparse excitation entries."""

    def __init__(self, params: CausalSearch, ev: AlarmEvents, cause: np.ndarray,
                 effect: np.ndarray, hop: np.ndarray, lag: np.ndarray):
        self.ev, self.params = ev, params
        self.hops = hops = params.causal_hops + 1
        # lag bins: one for effects stamped up to skew_tolerance *before* their cause
        # on another node (skewed clocks), then geometric ones up to causal_window
        self.n_before = 1 if params.skew_tolerance > 0 else 0
        before = [-params.skew_tolerance] if self.n_before else []
        self.edges = edges = np.array([*before, 0.0,
                                       *(s * params.causal_window for s in LAG_SHARES)])
        self.widths = widths = np.diff(edges)
        self.n_bins = n_bins = len(widths)
        self.block = hops * n_bins  # kernel parameters per (cause type, effect type)
        self.span = float(ev.times[-1] - ev.times[0]) or 1.0
        t_start, t_end = float(ev.times[0]), float(ev.times[-1])
        counts = np.bincount(ev.types, minlength=ev.n_types)
        self.effect_types = [i for i in range(ev.n_types) if counts[i] >= params.min_support]
        # Exposure: how much room each alarm leaves in each lag bin (1, less where the
        # history ends), summed per (type, location) that occurs. Sparse on purpose:
        # a dense types x locations table does not fit for large networks.
        room = np.clip(np.minimum(ev.times[:, None] + edges[None, 1:], t_end)
                       - np.maximum(ev.times[:, None] + edges[None, :-1], t_start),
                       0.0, widths) / widths
        pair_key, pair_of = np.unique(ev.types * ev.n_locs + ev.locs, return_inverse=True)
        self.src = _Sources(pair_key // ev.n_locs, pair_key % ev.n_locs,
                            np.stack([np.bincount(pair_of, weights=room[:, b],
                                                  minlength=len(pair_key))
                                      for b in range(n_bins)], axis=1))
        # rings as arrays: (location, location at h hops, h) for h < hops
        self.ring = np.array([(v, u, h) for v, near in enumerate(ev.rings) for u, h in near
                              if h < hops], dtype=np.int64).reshape(-1, 3)
        # the bin before the cause exists between nodes only: on one node one clock
        # stamps both alarms
        possible = np.ones((hops, n_bins), dtype=bool)
        possible[0, :self.n_before] = False
        self.possible = possible.ravel()
        self.pairs = (cause, effect, hop, lag)
        self.by_effect = indexes_by_key(ev.types[effect], ev.n_types)

    def models(self, jitter: float, parents: dict[int, list[int]] | None = None,
               start: dict[int, _EffectModel] | None = None) -> dict[int, _EffectModel]:
        """One ``_EffectModel`` per effect type, fitted without parents; with
        ``parents``, only for the effect types listed there, with only those causes as
        candidates, and fitted with them (from the fit of ``start``, if given).

        The entries are built one effect type at a time, which bounds the memory a
        large jitter (every pair in several bins) takes.
        """
        ev, hops, p = self.ev, self.hops, self.params
        cause, effect, hop, lag = self.pairs
        mass = self._mass(jitter)
        reach = min(JITTER_REACH * jitter, p.causal_window)
        # pairs taken the other way round (the later alarm as the cause): for the bin
        # before the cause between nodes, and with jitter for the smeared bins
        back = np.flatnonzero((lag > 0) & (((lag <= p.skew_tolerance) & (hop > 0))
                                           | (lag <= reach)))
        back_by_effect = [back[g] for g in indexes_by_key(ev.types[cause[back]], ev.n_types)]
        models: dict[int, _EffectModel] = {}
        for i in self.effect_types if parents is None else sorted(parents):
            ahead, behind = self.by_effect[i], back_by_effect[i]
            if parents is not None:  # the causes given and the type itself only
                causes = np.array([i, *parents[i]])
                ahead = ahead[np.isin(ev.types[cause[ahead]], causes)]
                behind = behind[np.isin(ev.types[effect[behind]], causes)]
            rows, src_type, column, value = self._entries(ahead, behind, jitter)
            # where type i can happen (the locations it was ever seen on), and how many
            # such locations each location has at each hop
            host = np.zeros(ev.n_locs)
            host[self.src.loc[self.src.type == i]] = 1.0
            ring = self.ring
            host_ring = np.bincount(ring[:, 0] * hops + ring[:, 2], weights=host[ring[:, 1]],
                                    minlength=ev.n_locs * hops).reshape(ev.n_locs, hops)
            models[i] = _EffectModel(i, ev, rows, src_type, column, value, host, host_ring,
                                     self.src, self.block, self.possible, self.span,
                                     p.min_support, mass,
                                     () if parents is None else parents[i],
                                     None if start is None else start.get(i))
        return models

    def _mass(self, jitter: float) -> np.ndarray:
        """Share of each kernel column's mass on the lags paired: 1 for a bin, less for
        a bin smeared by ``jitter`` (its tails beyond the reach before the cause and
        beyond ``causal_window``)."""
        mass = np.ones(self.block)
        if jitter > 0:
            after = np.arange(self.n_before, self.n_bins)
            lo, hi = self.edges[after], self.edges[after + 1]
            reach = min(JITTER_REACH * jitter, self.params.causal_window)
            u = lo[:, None] + (hi - lo)[:, None] * (np.arange(256) + 0.5) / 256
            share = (_laplace_cdf(self.params.causal_window - u, jitter)
                     - _laplace_cdf(-reach - u, jitter)).mean(axis=1)
            for q, col in enumerate(after):
                mass[col::self.n_bins] = share[q]
        return mass

    def _entries(self, ahead: np.ndarray, behind: np.ndarray, jitter: float
                 ) -> tuple[np.ndarray, ...]:
        """``effect, cause type, column, value`` for the pairs ``ahead`` (the earlier
        alarm as the cause) and ``behind`` (the later one as the cause): one entry per
        (effect alarm, cause alarm, kernel column), valued the kernel's density there.

        With ``jitter`` 0 a pair counts in the bin of its lag. Otherwise every alarm is
        taken to be reported after a delay of its own, the difference of two such
        delays Laplace-distributed with scale ``jitter`` (as the difference of two
        exponential delays is): a bin of the true cause-to-effect delay then shows in
        the stamps as that bin smeared by the Laplace density, reaching before the
        cause, and a pair counts in every bin with the smeared density at its lag. A
        type's excitation of itself stays in its bins, forward in time: an alarm must
        not explain the alarm that explains it.
        """
        ev, p = self.ev, self.params
        cause, effect, hop, lag = self.pairs
        n_bins, edges, widths = self.n_bins, self.edges, self.widths
        cause, effect = (np.concatenate([cause[ahead], effect[behind]]),
                         np.concatenate([effect[ahead], cause[behind]]))
        hop = np.concatenate([hop[ahead], hop[behind]])
        lag = np.concatenate([lag[ahead], -lag[behind]])
        bins = np.clip(np.searchsorted(edges, lag, "right") - 1, 0, n_bins - 1)
        column = hop * n_bins + bins  # within a cause type's block
        value = 1.0 / widths[bins]
        if jitter > 0:
            same = ev.types[cause] == ev.types[effect]
            # in their own bin: a type after itself, and any type in the bin before
            # the cause between nodes
            skewed = (lag < 0) & (hop > 0) & (lag >= -p.skew_tolerance)
            hard = np.flatnonzero(np.where(same, (lag >= 0) | skewed, skewed))
            soft = np.flatnonzero(~same)
            after = np.arange(self.n_before, n_bins)
            cdf = _laplace_cdf(lag[soft, None] - edges[self.n_before:], jitter)
            share = cdf[:, :-1] - cdf[:, 1:]  # of a pair's smeared mass, per bin
            k, b = np.nonzero(share > 1e-6)  # shares under a millionth are dropped
            cause = np.concatenate([cause[hard], cause[soft[k]]])
            effect = np.concatenate([effect[hard], effect[soft[k]]])
            column = np.concatenate([column[hard], hop[soft[k]] * n_bins + after[b]])
            value = np.concatenate([value[hard], share[k, b] / widths[after[b]]])
        return effect, ev.types[cause], column, value


def likeliest_jitter(setup: KernelSetup, found: dict[tuple[int, int], Any]) -> float:
    """The jitter of ``JITTER_GRID`` under which the graph ``found`` is likeliest.

    The grid is climbed from 0 and the climb stops at the first jitter less likely
    than the one before: the likelihood has one peak in the jitter on every stream it
    was checked on (docs/causal-discovery.md), and data with exact clocks (the NeurIPS
    sample) then cost two refits instead of one per jitter. Types without parents fit
    alike whatever the jitter and are left out; each jitter's EM starts from the
    previous one's fit.
    """
    parents: dict[int, list[int]] = {}
    for j, i in found:
        parents.setdefault(i, []).append(j)
    best, best_loglik = 0.0, -math.inf
    fitted = None
    for jitter in JITTER_GRID:
        fitted = setup.models(jitter, parents, fitted)
        loglik = sum(m.loglik for m in fitted.values())
        if loglik <= best_loglik:
            break
        best, best_loglik = jitter, loglik
    return best


class _EffectModel:
    """The Hawkes intensity of one effect type and the greedy search for its parents.

    Rows are the alarms of the effect type; each (row, cause type, kernel column)
    entry holds how much one earlier alarm excites it. ``alpha`` per column is the
    expected number of effect alarms per cause alarm, per hosting location in the
    hop ring, per second of lag, and ``mu`` per location the spontaneous rate.
    """

    def __init__(self, i: int, ev: AlarmEvents, rows: np.ndarray, src: np.ndarray,
                 column: np.ndarray, value: np.ndarray, host: np.ndarray,
                 host_ring: np.ndarray, sources: _Sources, block: int,
                 possible: np.ndarray, span: float, min_support: int, mass: np.ndarray,
                 parents: Sequence[int] = (), start: _EffectModel | None = None):
        self.i = i
        own = np.flatnonzero(ev.types == i)
        local = np.full(len(ev.types), -1, dtype=np.int64)
        local[own] = np.arange(len(own))
        self.n = len(own)
        loc_ids = np.flatnonzero(host)
        loc_local = np.full(len(host), -1, dtype=np.int64)
        loc_local[loc_ids] = np.arange(len(loc_ids))
        self.row_loc = loc_local[ev.locs[own]]
        self.n_locs = len(loc_ids)
        self.span = span
        self.block = block
        # candidate cause types: itself (always in: alarms repeat) and types with support
        pair_count = np.bincount(src, minlength=ev.n_types)
        cands = [j for j in np.flatnonzero(pair_count >= min_support) if j != i]
        self.types = np.array([i, *cands], dtype=np.int64)
        self._cause_counts = np.bincount(ev.types, minlength=ev.n_types)[self.types]
        slot = np.full(ev.n_types, -1, dtype=np.int64)
        slot[self.types] = np.arange(len(self.types))
        keep = slot[src] >= 0
        # one entry per (row, column): a storm of alarms in one lag bin is one number
        n_cols = len(self.types) * block
        flat, inverse = np.unique(local[rows[keep]] * n_cols + slot[src[keep]] * block
                                  + column[keep], return_inverse=True)
        self.row = flat // n_cols
        self.col = flat % n_cols
        self.slot = self.col // block
        self.val = np.bincount(inverse, weights=value[keep], minlength=len(flat))
        # exposure per column: sum over cause alarms and their hosting rings, of the
        # part of each lag bin inside the history
        mine = slot[sources.type] >= 0
        per_source = (host_ring[sources.loc[mine]][:, :, None]
                      * sources.room[mine][:, None, :]).reshape(-1, block)  # (hop, bin)
        g = np.zeros((len(self.types), block))
        np.add.at(g, slot[sources.type[mine]], per_source)
        g[1:] *= mass[None, :]  # other types' kernels may be smeared by the report jitter
        # kernel parameters an edge really has: bins with exposure (hop rings that exist)
        self.dims = ((g > 0) & possible[None, :]).sum(axis=1)
        self.exposure = np.maximum(g.ravel(), 1e-12)
        # per-row sums for the candidate score: one key per (row, cause slot)
        self.key, self.key_inverse = np.unique(self.row * len(self.types) + self.slot,
                                               return_inverse=True)
        self.key_row = self.key // len(self.types)
        self.key_slot = self.key % len(self.types)
        self.alpha = np.zeros(len(self.types) * block)
        self.mu = np.bincount(self.row_loc, minlength=self.n_locs) / span
        # a location's spontaneous rate never reaches 0: an alarm there is never impossible
        self.mu_floor = 1e-6 / span
        self.active = np.zeros(len(self.types), dtype=bool)
        self.active[0] = True
        self._init_block(0)
        for j in parents:  # given causes: in from the start, their kernels from the data
            s = int(np.flatnonzero(self.types == j)[0])
            self.active[s] = True
            self._init_block(s)
        if start is not None and start.alpha.shape == self.alpha.shape:
            self.alpha, self.mu = start.alpha.copy(), start.mu.copy()  # warm start
        self.loglik = self.refit(EM_ITERATIONS)

    def _init_block(self, s: int) -> None:
        cols = slice(s * self.block, (s + 1) * self.block)
        mass = np.bincount(self.col, weights=self.val, minlength=len(self.alpha))[cols]
        self.alpha[cols] = 0.5 * mass / self.exposure[cols] + 1e-9

    def _intensity(self, alpha: np.ndarray) -> np.ndarray:
        on = self.active[self.slot]
        excite = np.bincount(self.row[on], weights=alpha[self.col[on]] * self.val[on],
                             minlength=self.n)
        return self.mu[self.row_loc] + excite

    def _loglik(self, lam: np.ndarray, alpha: np.ndarray, mu: np.ndarray) -> float:
        on = np.repeat(self.active, self.block)
        return float(np.log(lam).sum() - mu.sum() * self.span
                     - (alpha[on] * self.exposure[on]).sum())

    def refit(self, iterations: int) -> float:
        """EM on the active parents (warm start); returns the log-likelihood."""
        on = self.active[self.slot]
        row, col, val = self.row[on], self.col[on], self.val[on]
        alpha, mu = self.alpha, self.mu
        previous = -math.inf
        for step in range(iterations):
            lam = self.mu[self.row_loc] + np.bincount(row, weights=alpha[col] * val,
                                                      minlength=self.n)
            if step % CHECK_EVERY == 0:  # EM climbs monotonically: stop when it levels off
                current = self._loglik(lam, alpha, mu)
                if current - previous < EM_TOLERANCE:
                    break
                previous = current
            inv = 1.0 / lam
            # E-step share of every row explained by each source, M-step in closed form
            mu = np.maximum(mu * np.bincount(self.row_loc, weights=inv, minlength=self.n_locs)
                            / self.span, self.mu_floor)
            gain = np.bincount(col, weights=val * inv[row], minlength=len(alpha))
            alpha = alpha * gain / self.exposure
            self.alpha, self.mu = alpha, mu
        lam = self._intensity(self.alpha)
        return self._loglik(lam, self.alpha, self.mu)

    def _scores(self) -> tuple[np.ndarray, np.ndarray]:
        """Likelihood gain of adding each inactive candidate, the others held fixed."""
        lam = self._intensity(self.alpha)
        off = ~self.active[self.slot]
        if not off.any():
            return np.zeros(len(self.types)), self.alpha
        col, val = self.col[off], self.val[off]
        key = self.key_inverse[off]
        n_keys = len(self.key)
        lam_key = lam[self.key_row]
        alpha = self.alpha.copy()
        mass = np.bincount(col, weights=val, minlength=len(alpha))
        fresh = np.repeat(~self.active, self.block)
        alpha[fresh] = 0.5 * mass[fresh] / self.exposure[fresh] + 1e-9
        for _ in range(GAIN_ITERATIONS):
            s = np.bincount(key, weights=alpha[col] * val, minlength=n_keys)
            denom = lam_key + s
            gain = np.bincount(col, weights=val / denom[key], minlength=len(alpha))
            alpha = np.where(fresh, alpha * gain / self.exposure, alpha)
        s = np.bincount(key, weights=alpha[col] * val, minlength=n_keys)
        used = s > 0
        up = np.bincount(self.key_slot[used], weights=np.log1p(s[used] / lam_key[used]),
                         minlength=len(self.types))
        cost = np.bincount(np.repeat(np.arange(len(self.types)), self.block),
                           weights=np.where(fresh, alpha * self.exposure, 0.0),
                           minlength=len(self.types))
        score = np.where(self.active, -np.inf, up - cost)
        return score, alpha

    def add(self, s: int, alpha: np.ndarray, penalty: float) -> bool:
        """Add the cause in slot ``s`` (its kernel from the candidate score), refit, and
        keep it if the log-likelihood rose by more than ``penalty``."""
        saved = (self.alpha.copy(), self.mu.copy(), self.loglik)
        cols = slice(s * self.block, (s + 1) * self.block)
        self.alpha[cols] = alpha[cols]
        self.active[s] = True
        loglik = self.refit(EM_ITERATIONS)
        if loglik - saved[2] <= penalty:  # the quick score overrated it
            self.alpha, self.mu, self.loglik = saved
            self.active[s] = False
            return False
        self.loglik = loglik
        return True

    def parents(self, penalty: float) -> dict[int, tuple[float, float]]:
        """Parents after the backward pass: cause type -> (log-likelihood lost without
        it, expected effects per cause alarm)."""
        out: dict[int, tuple[float, float]] = {}
        for s, gain in self._prune(penalty).items():
            cols = slice(s * self.block, (s + 1) * self.block)
            # at the EM fixed point alpha * exposure = effects attributed to the column
            attributed = float((self.alpha[cols] * self.exposure[cols]).sum())
            out[int(self.types[s])] = (gain, attributed / max(1.0, float(self._cause_counts[s])))
        return out

    def _prune(self, penalty: float) -> dict[int, float]:
        """Drop parents whose removal costs less than ``penalty`` per kernel parameter;
        return the gains of the others (log-likelihood lost without each, the rest
        refitted)."""
        while True:
            parents = [s for s in np.flatnonzero(self.active) if s != 0]
            if not parents:
                return {}
            gains: dict[int, float] = {}
            full = (self.alpha.copy(), self.mu.copy(), self.loglik)
            for s in parents:
                self.active[s] = False
                without = self.refit(EM_ITERATIONS // 3)
                gains[int(s)] = full[2] - without
                self.alpha, self.mu = full[0].copy(), full[1].copy()
                self.active[s] = True
            self.loglik = full[2]
            worst = min(gains, key=lambda s: gains[s] - penalty * self.dims[s])
            if gains[worst] > penalty * self.dims[worst]:
                return gains
            self.active[worst] = False
            self.alpha[worst * self.block:(worst + 1) * self.block] = 0.0
            self.loglik = self.refit(EM_ITERATIONS)


def greedy_dag(models: dict[int, _EffectModel], penalty: dict[int, float], n: int,
                acyclic: bool, allowed: np.ndarray
                ) -> dict[tuple[int, int], tuple[float, float]]:
    """Add edges one at a time, the one that raises the penalised likelihood most first,
    never one that closes a directed cycle (THP's hill climb, restricted to additions,
    on the per-type decomposition) nor one ``allowed[cause, effect]`` forbids; then drop
    parents made redundant."""
    children: list[set[int]] = [set() for _ in range(n)]

    def reaches(a: int, b: int) -> bool:
        stack, seen = [a], {a}
        while stack:
            x = stack.pop()
            if x == b:
                return True
            for y in children[x]:
                if y not in seen:
                    seen.add(y)
                    stack.append(y)
        return False

    # A queue of candidate edges by net gain. A candidate that would close a cycle now
    # always will (edges are only added here), and one of an effect type whose model
    # changed since it was scored is stale: both are dropped when they come up.
    scores: dict[int, np.ndarray] = {}
    version = dict.fromkeys(models, 0)
    rejected: set[tuple[int, int]] = set()
    queue: list[tuple[float, int, int, int]] = []

    def rescore(i: int) -> None:
        score, alpha = models[i]._scores()
        scores[i] = alpha
        version[i] += 1
        if models[i].active.sum() > MAX_PARENTS:
            return
        cost = penalty[i] * models[i].dims
        for s in np.flatnonzero(score > cost):
            if (i, int(s)) in rejected or not allowed[models[i].types[s], i]:
                continue
            heapq.heappush(queue, (float(cost[s] - score[s]), i, int(s), version[i]))

    for i in models:
        rescore(i)
    while queue:
        _, i, s, seen = heapq.heappop(queue)
        j = int(models[i].types[s])
        if seen != version[i] or (acyclic and reaches(i, j)):
            continue
        if models[i].add(s, scores[i], penalty[i] * float(models[i].dims[s])):
            children[j].add(i)
            rescore(i)
        else:  # the refit gained less than the quick score promised: never again
            rejected.add((i, s))
    out: dict[tuple[int, int], tuple[float, float]] = {}
    for i, model in models.items():
        for j, found in model.parents(penalty[i]).items():
            out[(j, i)] = found
    return out
