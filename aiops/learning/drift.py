"""Drift: how far the recent alerts have moved from what a correlation model learned on.

A model learns relations between the alert types of its training period, on the
topology of that time. When new types appear, when the mix of types changes, when
entities stop resolving to topology nodes, or when the engine groups far less than
it did (or operators keep correcting it), or when cascades unfold at another pace
than in training (monitoring moved from traps to polling: the time scale the window
calls for, ``aiops.learning.timescale``, is not the model's), the model's evidence no
longer describes the alerts and it should be retrained. Each of those is measured over a recent
window of stored alerts and compared with a threshold (``DriftSettings``); any one
over its threshold makes the verdict ``drifting`` and is named in the reasons.

The engine's clock is event time, so "recent" is the window up to the latest stored
``starts_at``, never the wall clock: a replay of last month is judged as it was.

Like is compared with like: the model's type counts (``TypeRelations.type_counts_``)
count the events it was trained on (re-sends included), so the window's type
frequencies count the stored raw events of its alerts too. Alerts arrive in
cascades, so a small window differs from the training mix by chance alone; the
divergence must exceed both ``max_divergence`` and what chance gives at the window's
size (a Monte Carlo quantile with one draw per incident's worth of events), so a
quiet hour is not called drift.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import sqlalchemy as sa

from aiops.config import DriftSettings
from aiops.errors import InputError
from aiops.learning.relations import TypeRelations
from aiops.learning.timescale import CascadeTimescale
from aiops.learning.training import MODEL_NAME
from aiops.models import OWN_SOURCE, Alert
from aiops.store.tables import alerts, feedback, raw_events
from aiops.timeutil import to_rfc3339
from topology.graph import TopologyGraph

if TYPE_CHECKING:
    from aiops.runtime import Runtime

CHANCE_DRAWS = 400  # Monte Carlo draws for the chance level of the divergence
MOST_CHANGED = 5  # types listed in a reason and the report
@dataclass(frozen=True)
class WindowStats:
    """What the stored alerts that started in [since, until] look like."""

    since: float
    until: float
    alerts: int
    events_by_type: Counter[str]  # raw events of those alerts, by type
    alerts_by_type: Counter[str]
    unresolved: int  # alerts whose entity matched no topology node
    incidents: int  # distinct incidents holding them
    corrected: int  # of those, incidents an operator merge or split touched

    @property
    def events(self) -> int:
        return sum(self.events_by_type.values())

    @property
    def noise_reduction(self) -> float:
        return 1.0 - self.incidents / self.alerts if self.alerts else 0.0

    @property
    def unresolved_share(self) -> float:
        return self.unresolved / self.alerts if self.alerts else 0.0


def latest_start(conn: sa.Connection) -> float | None:
    """The engine's "now": the latest stored ``starts_at`` (None when nothing is stored)."""
    value = conn.execute(sa.select(sa.func.max(alerts.c.starts_at))
                         .where(alerts.c.source != OWN_SOURCE)).scalar()
    return float(value) if value is not None else None


def window_stats(conn: sa.Connection, since: float, until: float) -> WindowStats:
    """Counts over the stored alerts that started in [since, until]; a few grouped
    queries, so a day of alerts costs no more than reading their names."""
    # the engine's own alerts (its drift alert) are not the network's: left out
    inside = alerts.c.starts_at.between(since, until) & (alerts.c.source != OWN_SOURCE)
    by_type: Counter[str] = Counter()
    unresolved = 0
    for name, resolved, count in conn.execute(
            sa.select(alerts.c.name, alerts.c.node_id.is_not(None), sa.func.count())
            .where(inside).group_by(alerts.c.name, alerts.c.node_id.is_not(None))):
        by_type[name] += int(count)
        if not resolved:
            unresolved += int(count)
    events: Counter[str] = Counter({name: int(count) for name, count in conn.execute(
        sa.select(alerts.c.name, sa.func.count())
        .select_from(raw_events.join(alerts, alerts.c.id == raw_events.c.alert_id))
        .where(inside).group_by(alerts.c.name))})
    held = {row[0] for row in conn.execute(
        sa.select(alerts.c.incident_id).where(inside, alerts.c.incident_id.is_not(None))
        .distinct())}
    touched: set[str] = set()
    for named, after in conn.execute(sa.select(feedback.c.incidents, feedback.c.alerts_after)):
        touched.update(named or [])
        touched.update(after or {})
    return WindowStats(since=since, until=until, alerts=sum(by_type.values()),
                       events_by_type=events, alerts_by_type=by_type, unresolved=unresolved,
                       incidents=len(held), corrected=len(held & touched))


def jensen_shannon(p: Mapping[str, int], q: Mapping[str, int]) -> float:
    """Jensen-Shannon divergence in bits (0: same frequencies, 1: no type in common)."""
    names = sorted(set(p) | set(q))
    a = np.array([p.get(n, 0) for n in names], dtype=float)
    b = np.array([q.get(n, 0) for n in names], dtype=float)
    if a.sum() == 0 or b.sum() == 0:
        return 0.0
    return float(_jsd(a[None, :] / a.sum(), b[None, :] / b.sum())[0])


def _jsd(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Row-wise Jensen-Shannon divergence (bits) of two matrices of distributions."""
    m = (p + q) / 2

    def kl(x: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(x > 0, x * np.log2(x / m), 0.0)
        return terms.sum(axis=1)

    return np.clip(0.5 * kl(p) + 0.5 * kl(q), 0.0, 1.0)


def chance_divergence(p: Mapping[str, int], q: Mapping[str, int], size_p: float,
                      size_q: float, quantile: float, seed: int = 0) -> float:
    """The ``quantile`` of the divergence between two samples of ``size_p`` and
    ``size_q`` draws from one distribution (the pooled frequencies): how far two
    equally distributed periods of these sizes differ by chance alone."""
    names = sorted(set(p) | set(q))
    pooled = np.array([p.get(n, 0) + q.get(n, 0) for n in names], dtype=float)
    if pooled.sum() == 0:
        return 0.0
    pooled /= pooled.sum()
    rng = np.random.default_rng(seed)
    n_p, n_q = max(1, round(size_p)), max(1, round(size_q))
    a = rng.multinomial(n_p, pooled, size=CHANCE_DRAWS) / n_p
    b = rng.multinomial(n_q, pooled, size=CHANCE_DRAWS) / n_q
    return float(np.quantile(_jsd(a, b), quantile))


@dataclass(frozen=True)
class Baseline:
    """What is known of the training period: type counts, and what the database says
    about its alerts when they are stored (None when not)."""

    version: int | None
    type_counts: dict[str, int]
    period: list[float] | None
    noise_reduction: float | None
    unresolved_share: float | None


def baseline(conn: sa.Connection, stored: Mapping[str, Any], min_alerts: int) -> Baseline:
    """The training period of a stored model version (``ModelRegistry.load``)."""
    relations = (stored.get("model") or {}).get("relations")
    counts = TypeRelations.from_dict(relations).type_counts_ if relations else {}
    if not counts:
        raise InputError(f"correlation model v{stored.get('version')} stores no alert type "
                         "counts of its training period; retrain it ('aiops model retrain')",
                         field="version")
    meta = stored.get("meta") or {}
    period = meta.get("period")
    nr, unresolved = meta.get("noise_reduction"), meta.get("unresolved_share")
    if period and (nr is None or unresolved is None):
        seen = window_stats(conn, float(period[0]), float(period[1]))
        if seen.alerts >= min_alerts:  # the training alerts (or most) are stored here
            nr = seen.noise_reduction if nr is None else nr
            unresolved = seen.unresolved_share if unresolved is None else unresolved
    return Baseline(version=stored.get("version"), type_counts=dict(counts), period=period,
                    noise_reduction=nr, unresolved_share=unresolved)


def assess(base: Baseline, window: WindowStats, settings: DriftSettings,
           timing: dict[str, Any] | None = None) -> dict[str, Any]:
    """The drift report: every measure with its threshold, the verdict and the reasons.

    ``timing``: the time-scale measure (``timing_measure``), when the topology was at
    hand to measure it."""
    reasons: list[str] = []
    measures: dict[str, dict[str, Any]] = {}

    unseen = Counter({t: n for t, n in window.alerts_by_type.items()
                      if t not in base.type_counts})
    share = sum(unseen.values()) / window.alerts
    flag = share > settings.max_unseen_share
    measures["unseen_type_share"] = {"value": round(share, 4),
                                     "threshold": settings.max_unseen_share,
                                     "drifting": flag, "types": dict(unseen.most_common(20))}
    if flag:
        listed = ", ".join(f"{t} ({n})" for t, n in unseen.most_common(MOST_CHANGED))
        reasons.append(f"{share:.0%} of the alerts are of types the model never saw "
                       f"(over {settings.max_unseen_share:.0%}): {listed}")

    divergence = jensen_shannon(base.type_counts, window.events_by_type)
    per_incident = window.events / max(window.incidents, 1)  # events per independent draw
    chance = chance_divergence(base.type_counts, window.events_by_type,
                               sum(base.type_counts.values()) / per_incident,
                               window.events / per_incident, settings.chance_quantile)
    flag = divergence > max(settings.max_divergence, chance)
    changed = _most_changed(base.type_counts, window.events_by_type)
    measures["type_divergence"] = {"value": round(divergence, 4),
                                   "threshold": settings.max_divergence,
                                   "chance": round(chance, 4), "drifting": flag,
                                   "most_changed": changed}
    if flag:
        listed = ", ".join(f"{c['type']} {c['training_share']:.1%} -> {c['window_share']:.1%}"
                           for c in changed)
        reasons.append(f"the mix of alert types moved: Jensen-Shannon divergence "
                       f"{divergence:.3f} (over {settings.max_divergence:g}, and over "
                       f"{chance:.3f} that chance gives at this size); most changed: {listed}")

    value = window.unresolved_share
    if base.unresolved_share is not None:
        limit = base.unresolved_share + settings.max_unresolved_increase
        told = f"{base.unresolved_share:.0%} in the training period"
    else:
        limit, told = settings.max_unresolved_share, "training period not stored"
    flag = value > limit
    measures["unresolved_share"] = {"value": round(value, 4),
                                    "training": _round(base.unresolved_share),
                                    "threshold": round(limit, 4), "drifting": flag}
    if flag:
        reasons.append(f"{value:.0%} of the alerts name entities that match no topology "
                       f"node (threshold {limit:.0%}; {told}): import or discover the "
                       "topology they are on")

    value = window.noise_reduction
    flag = (base.noise_reduction is not None
            and base.noise_reduction - value > settings.max_noise_reduction_drop)
    measures["noise_reduction"] = {"value": round(value, 4),
                                   "training": _round(base.noise_reduction),
                                   "threshold": settings.max_noise_reduction_drop,
                                   "drifting": flag}
    if flag:
        reasons.append(f"noise reduction fell from {base.noise_reduction:.0%} in the training "
                       f"period to {value:.0%} (1 - incidents/alerts; a drop over "
                       f"{settings.max_noise_reduction_drop:.0%})")

    value = window.corrected / window.incidents if window.incidents else 0.0
    flag = value > settings.max_corrected_share
    measures["corrected_share"] = {"value": round(value, 4),
                                   "corrected_incidents": window.corrected,
                                   "threshold": settings.max_corrected_share, "drifting": flag}
    if flag:
        reasons.append(f"operators corrected {window.corrected} of the {window.incidents} "
                       f"incidents ({value:.0%}, over {settings.max_corrected_share:.0%})")

    if timing is not None:
        measures["time_scale"] = timing
        if timing["drifting"]:
            reasons.append(
                f"cascades unfold at another pace: the window's alerts call for a time scale "
                f"of {timing['value']:g} (cascade lag {timing['cascade_lag_seconds']:g} s), the "
                f"model stretches the correlator's times by {timing['training']:g} (a change "
                f"over {settings.max_time_scale_change:g} times)")

    return {
        "model_version": base.version,
        "verdict": "drifting" if reasons else "ok",
        "reasons": reasons,
        "window": {"since": to_rfc3339(window.since), "until": to_rfc3339(window.until),
                   "seconds": window.until - window.since, "alerts": window.alerts,
                   "events": window.events, "incidents": window.incidents},
        "training": {"period": [to_rfc3339(t) for t in base.period] if base.period else None,
                     "events": sum(base.type_counts.values()),
                     "types": len(base.type_counts)},
        "measures": measures,
    }


def _most_changed(p: Mapping[str, int], q: Mapping[str, int]) -> list[dict[str, Any]]:
    total_p, total_q = sum(p.values()) or 1, sum(q.values()) or 1
    shares = {t: (p.get(t, 0) / total_p, q.get(t, 0) / total_q) for t in set(p) | set(q)}
    ranked = sorted(shares.items(), key=lambda kv: (-abs(kv[1][0] - kv[1][1]), kv[0]))
    return [{"type": t, "training_share": round(a, 4), "window_share": round(b, 4)}
            for t, (a, b) in ranked[:MOST_CHANGED]]


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def timing_measure(conn: sa.Connection, stored: Mapping[str, Any], settings: DriftSettings,
                   topology: TopologyGraph, since: float, until: float) -> dict[str, Any]:
    """The time scale the window's stored alerts call for against the model's.

    Measured as ``aiops train`` does (``CascadeTimescale``, on the model's clock
    offsets); with too little evidence in the window it is not judged. Both scales are
    at least 1, so a network that became faster than the reference is not told apart
    from it, as the correlator's times would not change either."""
    model = stored.get("model") or {}
    trained = float(model.get("time_scale") or 1.0)
    rows = conn.execute(sa.select(alerts.c.id, alerts.c.name, alerts.c.entity,
                                  alerts.c.starts_at)
                        .where(alerts.c.starts_at.between(since, until),
                               alerts.c.source != OWN_SOURCE)).all()
    recent = [Alert(str(i), "stored", name, entity, "info", "", float(at))
              for i, name, entity, at in rows]
    fitted = CascadeTimescale().fit(recent, topology, offsets=model.get("clock_offsets"))
    known = fitted.lag_ is not None
    change = max(fitted.scale_ / trained, trained / fitted.scale_)
    trained_lag = ((stored.get("meta") or {}).get("time_scale") or {}).get(
        "cascade_lag_seconds")
    return {"value": fitted.scale_ if known else None, "training": trained,
            "cascade_lag_seconds": fitted.lag_, "training_cascade_lag_seconds": trained_lag,
            "excess_pairs": fitted.excess_pairs_,
            "threshold": settings.max_time_scale_change,
            "drifting": known and change > settings.max_time_scale_change}


def measure_drift(conn: sa.Connection, stored: Mapping[str, Any], settings: DriftSettings,
                  window: float | None = None, until: float | None = None,
                  topology: TopologyGraph | None = None) -> dict[str, Any]:
    """Drift of a stored model version over the ``window`` seconds up to ``until`` (by
    default the latest stored alert); refuses a window with too few alerts to judge.
    With ``topology`` the pace of cascades is compared too (``timing_measure``)."""
    span = settings.window if window is None else window
    end = latest_start(conn) if until is None else until
    if end is None:
        raise InputError("no alerts stored yet: nothing to measure drift on", field="window")
    stats = window_stats(conn, end - span, end)
    if stats.alerts == 0:
        raise InputError(f"no stored alerts started in the {span:g} s up to "
                         f"{to_rfc3339(end)}: choose a longer window", field="window")
    if stats.alerts < settings.min_alerts:
        raise InputError(f"only {stats.alerts} stored alerts started in the {span:g} s up to "
                         f"{to_rfc3339(end)}; at least {settings.min_alerts} are needed to "
                         "judge drift: choose a longer window", field="window")
    timing = (timing_measure(conn, stored, settings, topology, end - span, end)
              if topology is not None else None)
    return assess(baseline(conn, stored, settings.min_alerts), stats, settings, timing)


def model_drift(runtime: Runtime, window: float | None = None,
                version: int | None = None) -> dict[str, Any]:
    """Drift of correlation model ``version`` (default: the promoted one) in a data dir."""
    registry = runtime.registry
    if version is not None and version not in registry.versions(MODEL_NAME):
        raise InputError(f"no correlation model version {version}", field="version")
    stored = registry.load(MODEL_NAME, version)
    if stored is None:
        raise InputError("no correlation model promoted yet: nothing to compare the alerts "
                         "with ('aiops train' or 'aiops model retrain')", field="version")
    with runtime.db.connect() as conn:
        return measure_drift(conn, stored, runtime.data_dir.drift, window,
                             topology=runtime.engine.topology)
