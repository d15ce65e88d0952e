"""`aiops model versions|promote|shadow|drift|retrain|schedule`: which correlation model runs.

`aiops train` promotes what it trains; these commands list the versions, compare one
with the promoted model on a window of stored alerts (shadow mode, nothing stored
changes), promote any version (which is also how a bad model is rolled back), say
how far recent alerts drifted from what the promoted model learned, and retrain it
from the database, on demand or on a schedule, promoting only by policy.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from aiops.cli_base import reports_bad_input, runtime_of
from aiops.cli_learning import model
from aiops.errors import DamagedFile, InputError
from aiops.learning.registry import ModelRegistry
from aiops.timeutil import parse_timestamp, to_rfc3339

KINDS = ("correlation", "root_priors", "remediation")  # the registry's model names


def _kind_option(function: Any) -> Any:
    return click.option("--model", "kind", type=click.Choice(KINDS), default="correlation",
                        show_default=True,
                        help="which model: correlation, root_priors (the root-cause priors "
                             "and the ranking learned from tickets) or remediation")(function)


def _summary(kind: str, meta: dict[str, Any]) -> str:
    """One line on what a version learned from."""
    if kind == "correlation":
        return f"alerts {meta.get('alerts', '?')}"
    if kind == "remediation":
        return f"resolved tickets {meta.get('cases', '?')}, actions {meta.get('actions', '?')}"
    from aiops.engine.rank_features import FEATURE_SCHEMA

    ranker = meta.get("ranker") or {}
    # Versions saved before the schema was recorded are schema 1 (LearnedRanker).
    stale = ranker.get("tickets_fitted", 0) and ranker.get("feature_schema", 1) != FEATURE_SCHEMA
    return (f"tickets {meta.get('tickets', '?')}, ranking learned from "
            f"{ranker.get('tickets_fitted', 0)} (correlation "
            f"v{ranker.get('correlation_version', '?')}"
            + ("; features of an earlier version: not used until trained again" if stale
               else "") + ")")


def _registry(ctx: click.Context) -> ModelRegistry:
    """The data dir's model registry alone, without opening the runtime (which loads
    the promoted models): listing and promoting must still work when a promoted
    version is damaged, since promoting another one is how that is repaired."""
    from aiops.learning.registry import ModelRegistry

    return ModelRegistry(ctx.obj["data_dir"].path / "models")


@model.command("versions")
@_kind_option
@click.pass_context
@reports_bad_input
def versions(ctx: click.Context, kind: str) -> None:
    """List the versions of a model (correlation by default); * marks the promoted one."""
    registry = _registry(ctx)
    try:
        promoted = registry.promoted_version(kind)
    except DamagedFile as exc:  # still list the versions: one of them is the repair
        click.echo(f"aiops: warning: {exc}", err=True)
        promoted = None
    found = registry.versions(kind)
    if not found:
        click.echo(f"no {kind} model trained yet ('aiops train'"
                   + (" --tickets)" if kind != "correlation" else ")"))
    for version in found:
        mark = "*" if version == promoted else " "
        try:
            meta = (registry.load(kind, version) or {}).get("meta", {})
        except DamagedFile as exc:
            click.echo(f"{mark} v{version}  damaged: {exc}")
            continue
        click.echo(f"{mark} v{version}  trained on {meta.get('trained_on', '?')}  "
                   f"{_summary(kind, meta)}")


@model.command("promote")
@click.argument("version", type=int)
@_kind_option
@click.pass_context
@reports_bad_input
def promote(ctx: click.Context, version: int, kind: str) -> None:
    """Make VERSION of a model (correlation by default) the one live ingestion and replay
    use: also a roll-back, of the ranking learned from tickets too. A running
    'aiops serve' switches within seconds (it looks at the registry on requests)."""
    registry = _registry(ctx)
    if version not in registry.versions(kind):
        raise InputError(f"no {kind} model version {version}", field="version")
    registry.promote(kind, version)  # reads the version back first: DamagedFile, exit 1
    click.echo(f"promoted {kind.replace('_', ' ')} model v{version}")


@model.command("shadow")
@click.option("--since", required=True, help="start of the window (RFC 3339 or epoch seconds)")
@click.option("--until", required=True, help="end of the window (exclusive)")
@click.option("--version", type=int, help="model version to try (default: the promoted one)")
@click.option("--json", "as_json", is_flag=True, help="print the whole report as JSON")
@click.pass_context
@reports_bad_input
def shadow_command(ctx: click.Context, since: str, until: str, version: int | None,
                   as_json: bool) -> None:
    """Regroup a window of stored alerts with a model version and the promoted one,
    and compare both with the stored incidents; nothing stored changes."""
    from aiops.shadow import shadow

    start, end = _timestamp(since, "since"), _timestamp(until, "until")
    report = shadow(runtime_of(ctx), start, end, version)
    if as_json:
        click.echo(json.dumps(report, indent=1))
        return
    click.echo(f"{report['alerts']} alerts from {to_rfc3339(start)} to {to_rfc3339(end)}")
    for label in ("promoted", "candidate"):
        part = report[label]
        agree = part["agreement"]
        click.echo(f"{label} (v{part['version']}): {part['regrouped_incidents']} incidents "
                   f"vs {part['stored_incidents']} stored; pairwise agreement with stored "
                   f"F1 {agree['f1']:.3f} (precision {agree['precision']:.3f}, recall "
                   f"{agree['recall']:.3f}); would split {len(part['splits'])} and merge "
                   f"{len(part['merges'])} groups of stored incidents")
    click.echo(f"candidate vs promoted: pairwise F1 {report['candidate_vs_promoted']['f1']:.3f}")


def _timestamp(value: str, name: str) -> float:
    """RFC 3339 or epoch seconds (which arrive as text on the command line)."""
    try:
        given: object = float(value)
    except ValueError:
        given = value
    try:
        return parse_timestamp(given, name)
    except ValueError as exc:
        raise InputError(str(exc), field=name) from None


@model.command("drift")
@click.option("--window", default=None,
              help="how much of the most recent stored alerts to look at: 24h, 90m, 7d or "
                   "seconds (default: the drift settings', 24h)")
@click.option("--version", type=int, help="model version to judge (default: the promoted one)")
@click.option("--json", "as_json", is_flag=True, help="print the whole report as JSON")
@click.pass_context
@reports_bad_input
def drift_command(ctx: click.Context, window: str | None, version: int | None,
                  as_json: bool) -> None:
    """How far the most recent stored alerts moved from what the model was trained on:
    a verdict (ok or drifting) and the reasons."""
    from aiops.learning.drift import model_drift
    from aiops.timeutil import parse_duration

    span = parse_duration(window) if window is not None else None
    report = model_drift(runtime_of(ctx), span, version)
    if as_json:
        click.echo(json.dumps(report, indent=1))
        return
    shown = report["window"]
    click.echo(f"model v{report['model_version']}: {report['verdict']} "
               f"({shown['alerts']} alerts, {shown['incidents']} incidents from "
               f"{shown['since']} to {shown['until']})")
    for reason in report["reasons"]:
        click.echo(f"  - {reason}")
    for name, measure in report["measures"].items():
        extra = {k: v for k, v in measure.items()
                 if k in ("training", "chance", "corrected_incidents")}
        told = "".join(f", {k} {v}" for k, v in extra.items())
        value = ("not judged (too little evidence)" if measure["value"] is None
                 else measure["value"])
        click.echo(f"  {name}: {value} (threshold {measure['threshold']}{told})"
                   + ("  DRIFTING" if measure["drifting"] else ""))


def _short_history_option(function: Any) -> Any:
    from aiops.retention_guard import OVERRIDE_FLAG

    return click.option(OVERRIDE_FLAG, "allow_short_history", is_flag=True,
                        help="train even when the days reach before the stored history "
                             "(the oldest stored alert, or a prune's cutoff); refused "
                             "without it")(function)


@model.command("retrain")
@click.option("--days", type=float, default=None,
              help="train on the stored alerts of the last N days (default: the retrain "
                   "settings', 7)")
@click.option("--promote", type=click.Choice(["auto", "never", "always"]), default=None,
              help="auto: promote only when the policy says so (docs/architecture.md); "
                   "never: save for review; always (default: the retrain settings', auto)")
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON")
@_short_history_option
@click.pass_context
@reports_bad_input
def retrain_command(ctx: click.Context, days: float | None, promote: str | None,
                    as_json: bool, allow_short_history: bool) -> None:
    """Train a new correlation model version from the stored alerts and operator
    feedback, try it in shadow mode on the most recent day, promote it by policy.
    Days reaching before the stored history (a young store, or pruned) are refused
    (exit 2) unless --allow-short-history."""
    from aiops.cli_learning import _show_fit_step
    from aiops.learning.retrain import retrain

    report = retrain(runtime_of(ctx), days, promote, progress=_show_fit_step,
                     allow_short_history=allow_short_history)
    if as_json:
        click.echo(json.dumps(report, indent=1))
        return
    click.echo(_describe_retrain(report))


def _describe_retrain(report: dict[str, Any]) -> str:
    meta = report["meta"]
    shadow = meta["retrain"]["shadow"]
    lines = [f"trained correlation model v{report['version']} on {meta['alerts']} events "
             f"({meta['trained_on']}), {meta['relations']} relations between "
             f"{meta['alert_types']} types"]
    span = meta["retrain"].get("span")
    if span is not None:
        lines.append(_describe_span(span))
    for label in ("promoted", "candidate"):
        part = shadow[label]
        told = (f"; on {part['corrected']['incidents']} corrected incidents F1 "
                f"{part['corrected']['f1']:.3f}" if part["corrected"] else "")
        lines.append(f"  shadow {label} (v{part['version']}): {part['regrouped_incidents']} "
                     f"incidents vs {part['stored_incidents']} stored, pairwise F1 with stored "
                     f"{part['agreement']['f1']:.3f}{told}")
    verdict = "promoted" if report["promoted"] else "not promoted"
    lines.append(f"{verdict} (policy {report['policy']}): " + "; ".join(report["reasons"]))
    tickets = report["tickets"]
    if "skipped" in tickets or "error" in tickets:
        lines.append(f"tickets: nothing learned ({tickets.get('skipped') or tickets['error']})")
    else:
        from aiops.cli_learning import describe_ticket_models

        lines.extend(describe_ticket_models(tickets))
    return "\n".join(lines)


def _describe_span(span: dict[str, Any]) -> str:
    """The span a retrain trained on, and, when short, why."""
    told = (f"  span: alerts that started from {span['first_start']} to {span['last_start']}"
            f" ({span['days_trained']:g} of the {span['days_asked']:g} days asked)"
            if span["first_start"] is not None else "  span: no alerts in the days asked")
    if span["short"]:
        told += (f"; SHORT: the stored history starts at {span['oldest_stored']}"
                 + (f", pruned before {span['pruned_before']}" if span["pruned_before"]
                    else ""))
    return told


@model.command("schedule")
@click.option("--every", "schedule", default=None,
              help="how often: a duration (1d, 6h) or a 5-field cron ('0 3 * * *'); "
                   "default: AIOPS_RETRAIN_SCHEDULE")
@click.option("--days", type=float, default=None, help="as 'aiops model retrain --days'")
@click.option("--promote", type=click.Choice(["auto", "never", "always"]), default=None,
              help="as 'aiops model retrain --promote'")
@click.option("--once", is_flag=True, help="Retrain once, then exit.")
@_short_history_option
@click.pass_context
@reports_bad_input
def schedule_command(ctx: click.Context, schedule: str | None, days: float | None,
                     promote: str | None, once: bool, allow_short_history: bool) -> None:
    """Retrain on a schedule in this process (the embedded default, no broker); with a
    broker, Celery beat runs the same task from AIOPS_RETRAIN_SCHEDULE. Days reaching
    before the stored history are refused when it starts (exit 2), as for 'aiops model
    retrain', unless --allow-short-history; the runs after do not refuse (a young store
    grows into them), their reports say the span they trained on."""
    from aiops.tasks import retrain_schedule, run_retrain_inline

    data_dir = ctx.obj["data_dir"]
    chosen = schedule or data_dir.retrain.schedule
    if not chosen.strip():
        raise InputError("no schedule: give --every (1d, or a cron such as '0 3 * * *') or "
                         "set AIOPS_RETRAIN_SCHEDULE", field="every")
    retrain_schedule(chosen, "--every")  # refuse a bad one before the first run
    if not allow_short_history:
        _check_history(data_dir, data_dir.retrain.days if days is None else days)

    def log(name: str, outcome: dict[str, Any] | str) -> None:
        text = outcome if isinstance(outcome, str) else (
            f"v{outcome['version']} " + ("promoted" if outcome["promoted"] else "not promoted")
            + ": " + "; ".join(outcome["reasons"]))
        click.echo(f"{name}: {text}", err=True)

    failures = run_retrain_inline(chosen, str(data_dir.path), data_dir.database_url or None,
                                  days, promote, once=once, on_result=log)
    if once and failures:
        sys.exit(1)


def _check_history(data_dir: Any, days: float) -> None:
    """The manual retrain's refusal (``refuse_short_history``), on the store as it is
    when the schedule starts; nothing stored yet is left to the first run to say."""
    from aiops.learning.retrain import refuse_short_history
    from aiops.store.db import open_database
    from aiops.stored_history import stored_history

    data_dir.path.mkdir(parents=True, exist_ok=True)
    db = open_database(data_dir.url())
    try:
        with db.connect() as conn:
            stored = stored_history(conn)
    finally:
        db.dispose()
    if stored is not None:
        refuse_short_history(stored, days)
