"""Fitting the correlator's scoring weights to labelled groups (operator feedback).

Why replay rather than a closed-form fit: the placement is online and greedy (an
alert joins the best incident above the threshold, incidents it links are merged),
so how a weight changes the groups depends on the order and on every other weight.
Replaying the labelled period through the real engine with candidate weights and
scoring the groups it makes (pairwise F1 against the labels) measures exactly what
the weights will do live.

The search is a coordinate (pattern) search: each weight in turn tries a step down
and a step up with the others fixed, and the step shrinks when a whole pass moves
nothing. A move is kept only when it raises F1 by at least ``min_gain`` overall and
lowers it in none of ``folds`` consecutive periods of the labels, so a change that
only fits one stretch of history's accidents is not taken. Replays are cached, and a
time budget bounds the fit (the best weights found so far are kept).
``ScoringWeights`` is handled generically (its float fields, through
``dataclasses``), so a weight added to it later is fitted too.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import sqlalchemy as sa

from aiops.config import EngineSettings
from aiops.engine.engine import Engine
from aiops.engine.scored_correlator import ScoredCorrelator, ScoringWeights
from aiops.engine.state import IncidentRecord, RootCause
from aiops.learning.embeddings import TemplateEmbedder
from aiops.learning.pairwise import PairScore, pair_score
from aiops.learning.relations import TypeRelations
from aiops.learning.windows import Windows, group_spans, reach
from aiops.models import Alert
from aiops.store.metadata import metadata
from aiops.store.tables import alerts as alerts_table
from aiops.store.tables import incidents as incidents_table
from aiops.store.tables import raw_events
from topology.graph import TopologyGraph

BATCH_SIZE = 2000  # as replay feeds the engine


def weight_names(weights: ScoringWeights) -> list[str]:
    """The fields of ``weights`` that hold a float: the ones a search can move."""
    return [f.name for f in fields(weights) if isinstance(getattr(weights, f.name), float)]


def weights_from_dict(data: Mapping[str, Any]) -> ScoringWeights:
    """ScoringWeights from a stored dict; fields it no longer has are ignored and new
    ones keep their defaults, so models stored by another version still load."""
    known = {f.name for f in fields(ScoringWeights)}
    return ScoringWeights(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True, slots=True)
class FitStep:
    """One replayed candidate, reported to the progress callback."""

    evaluation: int
    max_evaluations: int
    name: str  # the weight moved for this candidate ("" for the starting weights)
    value: float
    f1: float
    # F1 of the weights kept so far; a candidate may score higher and still be refused
    # (it lowered F1 in one period of the labels).
    kept_f1: float
    seconds: float


class _NoRanking:
    """Fitting judges grouping only; ranking root causes would only cost time."""

    def rank(self, incident: IncidentRecord) -> list[RootCause]:
        return []


@dataclass(frozen=True, slots=True)
class _Trial:
    """Candidate weights with their score on all labels and on each period of them."""

    weights: ScoringWeights
    score: PairScore
    folds: tuple[PairScore, ...]

    def improves_on(self, base: _Trial, min_gain: float) -> bool:
        """Better by ``min_gain`` overall and worse in no period of the labels."""
        return (self.score.f1 >= base.score.f1 + min_gain
                and all(mine.f1 >= theirs.f1
                        for mine, theirs in zip(self.folds, base.folds, strict=True)))


class _Replay:
    """The labelled period, replayed through a fresh in-memory engine per candidate."""

    def __init__(self, alerts: Sequence[Alert], labels: Mapping[str, str],
                 topology: TopologyGraph, settings: EngineSettings,
                 relations: TypeRelations | None, embedder: TemplateEmbedder | None,
                 folds: int, offsets: Mapping[str, float] | None = None,
                 time_scale: float = 1.0):
        self.topology = topology
        self.settings = settings
        self.relations = relations
        self.offsets = dict(offsets or {})
        self.time_scale = time_scale
        self.embedder = embedder if settings.text_similarity else None
        ordered = sorted(alerts, key=lambda a: a.starts_at)
        self.labels = {a.id: labels[a.id] for a in ordered if a.id in labels}
        starts = {a.id: a.starts_at for a in ordered if a.id in self.labels}
        windows = Windows.around(group_spans(self.labels, starts), reach(settings, time_scale))
        # Only what can change a labelled group's fate is replayed.
        self.events = [a for a in ordered if a.starts_at in windows]
        self.folds = self._time_folds(folds)

    def _time_folds(self, count: int) -> list[dict[str, str]]:
        """The labels cut into ``count`` consecutive periods of about equal size, whole
        groups each (in the order of their first alert, as ``self.labels`` is)."""
        members: dict[str, list[str]] = {}
        for alert_id, group in self.labels.items():
            members.setdefault(group, []).append(alert_id)
        size = len(self.labels) / max(1, count)
        folds: list[dict[str, str]] = [{}]
        for group, alert_ids in members.items():
            if len(folds[-1]) >= size and len(folds) < count:
                folds.append({})
            folds[-1].update(dict.fromkeys(alert_ids, group))
        return folds

    def groups(self, weights: ScoringWeights) -> dict[str, str]:
        """Labelled alert → incident the engine puts it in with ``weights``."""
        db = sa.create_engine("sqlite://")  # one in-memory database per candidate
        try:
            metadata.create_all(db, tables=[incidents_table, alerts_table, raw_events])

            def correlator(topology: TopologyGraph, settings: EngineSettings
                           ) -> ScoredCorrelator:
                return ScoredCorrelator(topology, settings, relations=self.relations,
                                        embedder=self.embedder, weights=weights,
                                        offsets=self.offsets, time_scale=self.time_scale)

            engine = Engine(db, self.topology, self.settings, correlator_factory=correlator,
                            ranker_factory=lambda _topology: _NoRanking())
            for start in range(0, len(self.events), BATCH_SIZE):
                engine.ingest(self.events[start:start + BATCH_SIZE])
            query = (sa.select(raw_events.c.event_id, alerts_table.c.incident_id)
                     .join(alerts_table, alerts_table.c.id == raw_events.c.alert_id))
            with db.connect() as conn:
                return {event_id: incident for event_id, incident in conn.execute(query)
                        if event_id in self.labels}
        finally:
            db.dispose()

    def score(self, weights: ScoringWeights) -> _Trial:
        groups = self.groups(weights)
        return _Trial(weights, pair_score(groups, self.labels),
                      tuple(pair_score(groups, fold) for fold in self.folds))


class ScoringWeightsFitter:
    """Fits ``ScoringWeights`` to labelled groups (scikit-learn style: parameters in
    the constructor, ``fit`` sets the attributes ending in ``_``).

    ``steps``: step sizes tried in turn, coarse to fine; ``max_passes``: passes over
    all weights per step; ``max_seconds``: budget of the whole fit; ``min_gain``: F1 a
    move must add to be kept; ``folds``: consecutive periods of the labels, in none of
    which a move may lower F1; ``max_change``: how far any weight may end up from where
    the fit started; ``settings``: the engine settings replays run with.

    Why ``max_change``: operators correct the incidents that were wrong, so the
    labelled alerts over-represent one kind of error, and a few dozen corrections are
    enough for the search to over-correct: on a ba-500 scenario whose defaults already
    grouped well (eval pair F1 0.948), 28 corrections moved threshold 0.5 → 0.3 and
    merge ratio 0.9 → 0.5 and the eval period fell to 0.887; within ±0.1 it rose to
    0.976 (docs/architecture.md, "Fitting the scoring weights").
    """

    def __init__(self, steps: tuple[float, ...] = (0.2, 0.1, 0.05), max_passes: int = 3,
                 max_seconds: float = 300.0, min_gain: float = 0.002, folds: int = 2,
                 settings: EngineSettings | None = None, max_change: float = 0.1):
        self.max_change = max_change
        self.steps = steps
        self.max_passes = max_passes
        self.max_seconds = max_seconds
        self.min_gain = min_gain
        self.folds = folds
        self.settings = settings

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {"steps": self.steps, "max_passes": self.max_passes,
                "max_seconds": self.max_seconds, "min_gain": self.min_gain,
                "folds": self.folds, "settings": self.settings,
                "max_change": self.max_change}

    def set_params(self, **params: Any) -> ScoringWeightsFitter:
        for key, value in params.items():
            if key not in self.get_params():
                raise ValueError(f"unknown parameter '{key}'")
            setattr(self, key, value)
        return self

    def fit(self, alerts: Sequence[Alert], labels: Mapping[str, str],
            topology: TopologyGraph, relations: TypeRelations | None = None,
            embedder: TemplateEmbedder | None = None, start: ScoringWeights | None = None,
            progress: Callable[[FitStep], None] | None = None,
            offsets: Mapping[str, float] | None = None,
            time_scale: float = 1.0) -> ScoringWeightsFitter:
        """Search weights that group ``alerts`` as ``labels`` (alert id → group) say.

        ``relations``, ``embedder``, the devices' clock ``offsets`` and the learned
        ``time_scale`` (``aiops.learning.timescale``) are what the
        correlator will use live (the model being trained and the data dir's text
        model), so the fit sees the same evidence the engine will. Raises ValueError
        when no labelled alert is given.
        """
        started = time.perf_counter()
        replay = _Replay(alerts, labels, topology, self.settings or EngineSettings(),
                         relations, embedder, self.folds, offsets, time_scale)
        if not replay.labels:
            raise ValueError("none of the labelled alerts is among the alerts given")
        self.start_ = start or ScoringWeights()
        names = weight_names(self.start_)
        reach = self.max_change
        # Each weight stays within ±max_change of its start (and within 0..max(1, start)).
        low = {n: max(0.0, getattr(self.start_, n) - reach) for n in names}
        high = {n: min(max(1.0, getattr(self.start_, n)), getattr(self.start_, n) + reach)
                for n in names}
        limit = 1 + 2 * len(names) * len(self.steps) * self.max_passes
        cache: dict[tuple[float, ...], _Trial] = {}
        self.trace_: list[dict[str, Any]] = []
        self.stopped_early_ = False

        def evaluate(weights: ScoringWeights, name: str, value: float,
                     kept: _Trial | None) -> _Trial | None:
            key = tuple(getattr(weights, n) for n in names)
            if key not in cache:
                if cache and time.perf_counter() - started > self.max_seconds:
                    self.stopped_early_ = True
                    return None
                trial = cache[key] = replay.score(weights)
                if progress is not None:
                    progress(FitStep(len(cache), limit, name, value, trial.score.f1,
                                     (kept or trial).score.f1, time.perf_counter() - started))
            return cache[key]

        first = evaluate(self.start_, "", 0.0, None)
        assert first is not None  # the first replay always runs
        best = first
        for step in self.steps:
            for _ in range(self.max_passes):
                moved = False
                for name in names:
                    value = getattr(best.weights, name)
                    chosen: _Trial | None = None
                    for candidate in (value - step, value + step):
                        candidate = round(min(high[name], max(low[name], candidate)), 4)
                        if candidate == value:
                            continue
                        found = evaluate(replace(best.weights, **{name: candidate}), name,
                                         candidate, best)
                        if (found is not None and found.improves_on(best, self.min_gain)
                                and (chosen is None or found.score.f1 > chosen.score.f1)):
                            chosen = found
                    if chosen is not None:
                        self.trace_.append({"weight": name, "from": value,
                                            "to": getattr(chosen.weights, name),
                                            "f1": round(chosen.score.f1, 4)})
                        best, moved = chosen, True
                if not moved or self.stopped_early_:
                    break
            if self.stopped_early_:
                break
        self.weights_ = best.weights
        self.score_before_ = first.score
        self.score_after_ = best.score
        self.evaluations_ = len(cache)
        self.labelled_alerts_ = len(replay.labels)
        self.replayed_alerts_ = len(replay.events)
        self.seconds_ = round(time.perf_counter() - started, 3)
        return self

    def to_dict(self) -> dict[str, Any]:
        params = {k: (list(v) if isinstance(v, tuple) else v)
                  for k, v in self.get_params().items() if k != "settings"}
        out: dict[str, Any] = {"params": params}
        if self.settings is not None:
            out["settings"] = asdict(self.settings)
        if hasattr(self, "weights_"):
            out.update({
                "weights": self.weights_.to_dict(), "start": self.start_.to_dict(),
                "before": self.score_before_.to_dict(), "after": self.score_after_.to_dict(),
                "evaluations": self.evaluations_, "labelled_alerts": self.labelled_alerts_,
                "replayed_alerts": self.replayed_alerts_, "seconds": self.seconds_,
                "stopped_early": self.stopped_early_, "moves": self.trace_})
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ScoringWeightsFitter:
        params = dict(data.get("params", {}))
        if "steps" in params:
            params["steps"] = tuple(params["steps"])
        fitter = cls(**params)
        if "settings" in data:
            known = {f.name for f in fields(EngineSettings)}
            fitter.settings = EngineSettings(**{
                k: tuple(v) if isinstance(v, list) else v
                for k, v in data["settings"].items() if k in known})
        if "weights" in data:
            fitter.weights_ = weights_from_dict(data["weights"])
            fitter.start_ = weights_from_dict(data.get("start", {}))
            fitter.score_before_ = PairScore(**_score_fields(data["before"]))
            fitter.score_after_ = PairScore(**_score_fields(data["after"]))
            fitter.evaluations_ = data.get("evaluations", 0)
            fitter.labelled_alerts_ = data.get("labelled_alerts", 0)
            fitter.replayed_alerts_ = data.get("replayed_alerts", 0)
            fitter.seconds_ = data.get("seconds", 0.0)
            fitter.stopped_early_ = data.get("stopped_early", False)
            fitter.trace_ = list(data.get("moves", []))
        return fitter


def _score_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: data[k] for k in ("precision", "recall", "f1", "alerts")}
