"""Retraining the correlation model from the database, tried in shadow mode first.

Why: alerts change (new devices, new software, new failure modes), so a model
trained once goes stale (``aiops.learning.drift`` measures how far). Retraining on
a schedule keeps it current, but a new version must not replace the one in use
blind. So a retrain:

1. reads the stored raw events of the alerts that started in the last ``days`` days
   (event time, up to the latest stored alert): exactly what came in, the database's
   equivalent of the history file ``aiops train`` reads, and trains on them with the
   stored operator feedback as ``aiops train`` does, except that corrections of the
   most recent day (the shadow window) are held out of the weight fit, so the
   comparison in 3 is on corrections the candidate has not seen;
2. saves the new version without promoting it;
3. regroups the shadow window's stored alerts with the candidate and with the
   promoted model (as ``aiops model shadow``) and scores both against the stored
   grouping and against the incidents operators corrected in that window;
4. promotes it only when the policy says so, and records the decision, the reasons
   and the comparison in the version's metadata;
5. refits what resolved tickets teach (remediations, root-cause priors and ranking:
   ``aiops.learning.ticket_training``, as ``aiops train --tickets``) from the stored
   tickets opened since those days began, against the correlation model that runs
   after 4; promoted unless the policy is ``never`` or the promoted ones learned from
   more tickets (no shadow test can judge them).

Policies: ``never`` (save for review), ``always``, and ``auto``:

* if the candidate's pairwise F1 with the stored grouping of the window is under
  ``min_stored_agreement``, it is not promoted: it would regroup most of it
  differently and an operator should look first (``aiops model shadow``);
* else, if operators corrected incidents in the window, it is promoted when its
  pairwise F1 against those corrections is at least the promoted model's, and kept
  out when it is lower, drifting or not (the operators' word beats the statistics);
* else (no corrections to judge by) it is promoted when the promoted model is
  drifting over the window, or when no model was promoted yet; otherwise nothing
  says it is better and the promoted model still fits the alerts, so it is not.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa

from aiops.engine.regroup import compare, load_lead_in, load_window
from aiops.engine.state import AlertRecord
from aiops.errors import InputError
from aiops.learning.drift import measure_drift, window_stats
from aiops.learning.labels import WEAK_MODES, GroupLabels, read_labels
from aiops.learning.pairwise import pair_score
from aiops.learning.training import MODEL_NAME, CorrelationModel, train
from aiops.learning.weights import FitStep, ScoringWeightsFitter
from aiops.learning.windows import reach
from aiops.models import OWN_SOURCE, Alert, parse_alert
from aiops.retention_guard import OVERRIDE_FLAG
from aiops.runtime import Runtime
from aiops.store.tables import alerts, raw_events
from aiops.stored_history import StoredHistory, stored_history, trained_span
from aiops.timeutil import to_rfc3339
from topology.graph import TopologyGraph

POLICIES = ("auto", "never", "always")
log = logging.getLogger(__name__)
DAY = 86400.0


def refuse_short_history(stored: StoredHistory, days: float) -> None:
    """An InputError (exit 2 on the command line) when ``days`` up to the latest stored
    start reach before the stored history (``aiops.stored_history``): what ``aiops
    model retrain`` and ``aiops model schedule`` check unless ``--allow-short-history``."""
    if stored.is_short(days):
        raise InputError(stored.refusal(days, "--days", OVERRIDE_FLAG), field="days")


def load_history(conn: sa.Connection, since: float, until: float) -> list[Alert]:
    """Every stored raw event of the alerts that started in [since, until], in the order
    they arrived: what a history file of that period would hold (without the engine's
    own alerts, which are not the network's)."""
    query = (sa.select(raw_events.c.payload)
             .select_from(raw_events.join(alerts, alerts.c.id == raw_events.c.alert_id))
             .where(alerts.c.starts_at.between(since, until), alerts.c.source != OWN_SOURCE)
             .order_by(raw_events.c.seq))
    return [parse_alert(payload) for (payload,) in conn.execute(query)]


def first_event_ids(conn: sa.Connection, since: float, until: float) -> set[str]:
    """First event ids (what labels name) of the alerts that started in [since, until)."""
    query = sa.select(alerts.c.first_event_id).where(alerts.c.starts_at >= since,
                                                     alerts.c.starts_at < until)
    return {row[0] for row in conn.execute(query)}


def trial(runtime: Runtime, model: CorrelationModel, records: Sequence[AlertRecord],
          topology: TopologyGraph, corrected: GroupLabels,
          lead_in: Sequence[AlertRecord] = ()) -> dict[str, Any]:
    """How ``model`` regroups ``records`` (after placing ``lead_in``, the alerts just
    before them, ``Runtime.regroup``): agreement with the stored grouping and, when
    operators corrected some of them, with the incidents as they left them."""
    groups = runtime.regroup(model, records, topology, lead_in)
    stored = {r.id: r.incident_id for r in records if r.incident_id is not None}
    seen = compare(stored, groups)
    out: dict[str, Any] = {"version": model.version, "stored_incidents": seen.stored_incidents,
                           "regrouped_incidents": seen.regrouped_incidents,
                           "agreement": seen.agreement, "splits": len(seen.splits),
                           "merges": len(seen.merges), "corrected": None}
    if corrected.corrected:
        predicted = {r.event.id: groups[r.id] for r in records}
        out["corrected"] = {"incidents": corrected.corrected,
                            **pair_score(predicted, corrected.groups).to_dict()}
    return out


def decide(policy: str, promoted: dict[str, Any], candidate: dict[str, Any],
           drift: dict[str, Any] | None, min_stored_agreement: float
           ) -> tuple[bool, list[str]]:
    """Whether to promote the candidate, and why (the module docstring's policy)."""
    if policy == "never":
        return False, ["policy 'never': saved for review ('aiops model shadow --version "
                       f"{candidate['version']}', then 'aiops model promote')"]
    if policy == "always":
        return True, ["policy 'always'"]
    version = promoted["version"]
    name = f"v{version}" if version is not None else "the untrained default"
    agree = float(candidate["agreement"]["f1"])
    if candidate["stored_incidents"] and agree < min_stored_agreement:
        return False, [f"the candidate would regroup the shadow window very differently from "
                       f"what is stored (pairwise F1 {agree:.3f}, under "
                       f"{min_stored_agreement:g}): an operator decides ('aiops model "
                       "shadow', 'aiops model promote')"]
    mine, theirs = candidate["corrected"], promoted["corrected"]
    if mine is not None and theirs is not None:
        told = (f"on the {mine['incidents']} incidents operators corrected in the shadow "
                f"window, pairwise F1 {mine['f1']:.3f} against {theirs['f1']:.3f} of {name}")
        if mine["f1"] < theirs["f1"]:
            return False, [f"worse {told}"]
        return True, [f"at least as good {told}"]
    if version is None:
        return True, ["no model was promoted: the engine ran on the default weights without "
                      "learned relations; no operator corrected an incident of the window"]
    if drift is not None and drift.get("verdict") == "drifting":
        return True, [f"the promoted model {name} is drifting: " + "; ".join(drift["reasons"])]
    why = ("is not drifting" if drift is not None and drift.get("verdict") == "ok"
           else f"could not be judged for drift ({(drift or {}).get('error', 'unknown')})")
    return False, [f"no operator corrected an incident of the shadow window and the promoted "
                   f"model {name} {why}: nothing says the candidate is better"]


def _promoted(runtime: Runtime) -> tuple[CorrelationModel, dict[str, Any] | None]:
    stored = runtime.registry.load(MODEL_NAME)
    if stored is None:
        return CorrelationModel(), None
    return CorrelationModel.from_dict(stored["model"], version=stored["version"]), stored


def _record(runtime: Runtime, version: int, meta: dict[str, Any]) -> None:
    """Store the decision in the saved version's metadata (the model is unchanged)."""
    runtime.registry.update_meta(MODEL_NAME, version, meta)


def retrain(runtime: Runtime, days: float | None = None, promote: str | None = None, *,
            weak_labels: str | None = None, fit_seconds: float | None = None,
            progress: Callable[[FitStep], None] | None = None,
            allow_short_history: bool = True) -> dict[str, Any]:
    """Train a candidate on the last ``days`` days of stored alerts, shadow-test it on
    the most recent day, promote it per ``promote`` (auto, never, always); the report,
    whose ``meta["retrain"]["span"]`` says which span it really trained on.

    With ``allow_short_history=False`` (``aiops model retrain`` without
    ``--allow-short-history``) days that reach before the stored history
    (``aiops.stored_history``) are refused, an InputError naming ``--days``. Allowed by
    default: the scheduled runs (Celery beat, ``aiops model schedule``, whose window is
    checked once when it starts) must not fail every night on a store younger than
    their days; their report says the span was short."""
    cfg = runtime.data_dir.retrain
    days = cfg.days if days is None else days
    policy = cfg.promote if promote is None else promote
    weak = cfg.weak_labels if weak_labels is None else weak_labels
    if policy not in POLICIES:
        raise InputError(f"'promote' must be one of {', '.join(POLICIES)}, got {policy!r}",
                         field="promote")
    if not (isinstance(days, int | float) and math.isfinite(days) and days > 0):
        raise InputError(f"'days' must be a positive number, got {days!r}", field="days")
    if weak not in WEAK_MODES:
        raise InputError(f"'weak_labels' must be one of {', '.join(WEAK_MODES)}, got {weak!r}",
                         field="weak_labels")
    settings = runtime.data_dir.settings
    started = time.perf_counter()
    with runtime.db.connect() as conn:
        stored = stored_history(conn)
        if stored is None:
            raise InputError("no alerts stored yet: nothing to train on", field="days")
        if not allow_short_history:
            refuse_short_history(stored, days)
        now = stored.latest
        since = stored.window_start(days)
        stats = window_stats(conn, since, now)
        if stats.alerts < cfg.min_alerts:
            raise InputError(f"only {stats.alerts} stored alerts started in the {days:g} days "
                             f"up to {to_rfc3339(now)}; at least {cfg.min_alerts} are needed "
                             "to train: choose more days", field="days")
        history = load_history(conn, since, now)
        first, last = conn.execute(
            sa.select(sa.func.min(alerts.c.starts_at), sa.func.max(alerts.c.starts_at))
            .where(alerts.c.starts_at.between(since, now), alerts.c.source != OWN_SOURCE)).one()
        span = trained_span(stored, days, first, last)
        shadow_since = max(since, now - cfg.shadow_window)
        promoted, promoted_doc = _promoted(runtime)
        labels = read_labels(conn, weak=weak, reach=reach(settings, promoted.time_scale))
        fit_labels = labels.restricted_to(first_event_ids(conn, since, shadow_since))
        try:
            records = load_window(conn, shadow_since, math.nextafter(now, math.inf))
            lead_in = load_lead_in(conn, shadow_since)
        except ValueError as exc:  # over the regrouping bound: a shorter shadow window
            raise InputError(str(exc), field="shadow_window") from None
        corrected = read_labels(conn, weak="none").restricted_to(r.event.id for r in records)
        drift: dict[str, Any] | None = None
        if promoted_doc is not None:
            try:
                drift = measure_drift(conn, promoted_doc, runtime.data_dir.drift,
                                      now - shadow_since, now,
                                      topology=runtime.engine.topology)
            except InputError as exc:
                drift = {"verdict": None, "error": str(exc)}

    text = runtime.embedder if settings.text_similarity else None
    source = (f"stored alerts {to_rfc3339(since)} .. {to_rfc3339(now)} "
              f"({days:g} day{'' if days == 1 else 's'}"
              + (f"; history only from {to_rfc3339(stored.whole_from)}, "
                 f"{span['days_trained']:g} days trained on)" if span["short"] else ")"))
    model, meta = train(runtime.registry, history, runtime.engine.topology, source,
                        embedder=text, labels=fit_labels, settings=settings,
                        fitter=ScoringWeightsFitter(
                            max_seconds=cfg.fit_seconds if fit_seconds is None else fit_seconds),
                        progress=progress, promote=False)
    if labels.corrected and not fit_labels.corrected and not meta["weights"]["fitted"]:
        meta["weights"]["reason"] = ("the stored operator feedback is all in the shadow "
                                     "window, held out to judge the candidate")
    assert model.version is not None
    # What drift compares later windows with (aiops.learning.drift.baseline).
    meta["noise_reduction"] = round(stats.noise_reduction, 4)
    meta["unresolved_share"] = round(stats.unresolved_share, 4)

    engine = runtime.engine
    topology = engine.timeline.at(shadow_since).graph if engine.timeline is not None \
        else engine.topology
    shadow = {"since": to_rfc3339(shadow_since), "until": to_rfc3339(now),
              "alerts": len(records),
              "promoted": trial(runtime, promoted, records, topology, corrected, lead_in),
              "candidate": trial(runtime, model, records, topology, corrected, lead_in)}
    chosen, reasons = decide(policy, shadow["promoted"], shadow["candidate"], drift,
                             cfg.min_stored_agreement)
    meta["retrain"] = {"policy": policy, "promoted": chosen, "reasons": reasons,
                       "days": days, "span": span, "shadow": shadow,
                       "drift_of_promoted": _drift_summary(drift),
                       "held_out_corrected_incidents": corrected.corrected,
                       "seconds": round(time.perf_counter() - started, 3)}
    _record(runtime, model.version, meta)
    if chosen:
        runtime.registry.promote(MODEL_NAME, model.version)
        runtime.use_model(model)
    tickets = _retrain_from_tickets(runtime, history, since, model if chosen else promoted,
                                    policy, source)
    return {"version": model.version, "promoted": chosen, "policy": policy,
            "reasons": reasons, "previous": promoted.version, "meta": meta,
            "tickets": tickets}


def _retrain_from_tickets(runtime: Runtime, history: Sequence[Alert], since: float,
                          running: CorrelationModel, policy: str, source: str
                          ) -> dict[str, Any]:
    """Refit what tickets teach (remediations, root-cause priors and ranking) from the
    stored tickets opened since the history's start (later ones too: a ticket is opened
    after its alerts), against the correlation model that runs after this retrain, as
    ``aiops train --tickets`` does; a report with ``skipped`` without such tickets, or
    ``error`` when it failed (the correlation step above stands either way).

    Saved, then promoted model by model unless the policy is ``never`` or the promoted
    version learned from more tickets (``promote_if_not_weaker``): there is no shadow
    test for them (the stored grouping says nothing about which device was at fault).
    Why here at all: tickets keep arriving from the ITSM connectors, and a ranking
    learned once is not used under a newer correlation model (its features come from
    that model's relations) until it is learned again."""
    from aiops.learning.ticket_training import promote_if_not_weaker, train_ticket_models
    from aiops.tickets.store import load_tickets

    try:
        with runtime.db.connect() as conn:
            stored = load_tickets(conn, opened_since=since)
        if not stored:
            return {"skipped": "no stored tickets were opened in the days trained on"}
        learned = train_ticket_models(runtime, stored, history, running,
                                      f"stored tickets, {source}", promote=False)
        if policy != "never":
            promote_if_not_weaker(runtime, learned, running)
        return learned
    except Exception as exc:  # the correlation model is already saved (and maybe promoted)
        log.exception("retrain: learning from the stored tickets failed")
        return {"error": f"learning from the stored tickets failed: "
                         f"{type(exc).__name__}: {exc}"}


def _drift_summary(drift: dict[str, Any] | None) -> dict[str, Any] | None:
    """The verdict and reasons (the full report is ``aiops model drift``'s)."""
    if drift is None:
        return None
    if drift.get("verdict") is None:
        return drift
    return {"model_version": drift["model_version"], "verdict": drift["verdict"],
            "reasons": drift["reasons"], "window": drift["window"]}


def run_retrain(data_dir: str | None = None, database_url: str | None = None,
                days: float | None = None, promote: str | None = None) -> dict[str, Any]:
    """The plain function behind the Celery task: open the data dir, retrain, report.

    The report is JSON (the task's result); a Celery worker promotes by moving the
    data dir's PROMOTED pointer, which a separately running ``aiops serve`` reads when
    it starts (the CLI in this process switches at once).
    """
    from pathlib import Path

    from aiops.config import DataDir
    from aiops.runtime import open_runtime

    runtime = open_runtime(DataDir.from_env(Path(data_dir) if data_dir else None,
                                            database_url))
    try:
        report = retrain(runtime, days, promote)
    finally:
        runtime.close()
    meta = report.pop("meta")
    return {**report, "trained_on": meta["trained_on"], "alerts": meta["alerts"],
            "span": meta["retrain"]["span"], "shadow": meta["retrain"]["shadow"],
            "drift_of_promoted": meta["retrain"]["drift_of_promoted"]}
