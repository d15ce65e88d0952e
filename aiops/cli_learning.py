"""``aiops train`` and ``aiops model ...``: learning from history, learned models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from aiops.cli_base import main, reports_bad_input, runtime_of
from aiops.errors import InputError
from aiops.models import Alert, Ticket
from aiops.runtime import Runtime


@main.command()
@click.option("--alerts", "alerts_path", required=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="Past alerts, canonical JSON Lines (CONTRACTS.md §1).")
@click.option("--tickets", "tickets_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Resolved tickets (CONTRACTS.md §5): .jsonl, .csv or .json; learns "
                   "remediations.")
@click.option("--weak-labels", type=click.Choice(["near", "all", "none"]), default="near",
              show_default=True,
              help="Which incidents no operator corrected also count as labels when the "
                   "scoring weights are fitted: those near a corrected one in time, all, or "
                   "none (docs/architecture.md says why 'near').")
@click.option("--fit-seconds", default=300.0, show_default=True,
              type=click.FloatRange(1.0, 86_400.0),
              help="Time budget for fitting the scoring weights; the best found is kept.")
@click.option("--no-promote", is_flag=True,
              help="Save the new correlation model version without promoting it (try it "
                   "with 'aiops model shadow', then 'aiops model promote N').")
@click.pass_context
@reports_bad_input
def train(ctx: click.Context, alerts_path: Path, tickets_path: Path | None,
          weak_labels: str, fit_seconds: float, no_promote: bool) -> None:
    """Learn from history; the new model version is promoted and used from now on
    (unless --no-promote).

    Operator feedback stored in the data dir (incidents merged or split through the
    API or 'aiops incidents merge|split') fits the scoring weights; without any they
    keep their defaults.
    """
    from aiops.learning.labels import read_labels
    from aiops.learning.training import load_promoted
    from aiops.learning.training import train as fit
    from aiops.learning.weights import ScoringWeightsFitter
    from aiops.learning.windows import reach
    from connectors.jsonl import read_alerts
    from connectors.tickets_csv import read_ticket_file

    alerts = read_alerts(alerts_path)
    tickets = read_ticket_file(tickets_path) if tickets_path else []
    runtime = runtime_of(ctx)
    if len(runtime.engine.topology) == 0:
        click.echo("aiops: warning: no topology imported; relations are learned between "
                   "alerts on the same entity only", err=True)
    settings = runtime.data_dir.settings
    with runtime.db.connect() as conn:
        # Near a corrected incident as the promoted model's correlator reaches.
        scale = load_promoted(runtime.registry).time_scale
        labels = read_labels(conn, weak=weak_labels, reach=reach(settings, scale))
    text = runtime.embedder if settings.text_similarity else None
    model, meta = fit(runtime.registry, alerts, runtime.engine.topology, str(alerts_path),
                      embedder=text, labels=labels, settings=settings,
                      fitter=ScoringWeightsFitter(max_seconds=fit_seconds),
                      progress=_show_fit_step, promote=not no_promote)
    if not no_promote:
        runtime.use_model(model)
    click.echo(f"trained correlation model v{model.version} on {meta['alerts']} alerts "
               f"({meta['alert_types']} alert types): {meta['relations']} relations between "
               f"types, in {meta['seconds']} s; "
               + ("saved, not promoted" if no_promote else "promoted"))
    click.echo(_describe_time_scale(meta["time_scale"]))
    click.echo(_describe_ring_shares(meta["ring_shares"]))
    click.echo(_describe_parents(meta["parents"]))
    click.echo(_describe_weights(meta["weights"]))
    if tickets:
        _train_from_tickets(runtime, tickets, alerts, str(tickets_path))


def _show_fit_step(step: Any) -> None:
    """One line per replay on stderr, so a long fit shows it is moving."""
    what = f"{step.name}={step.value:g}" if step.name else "starting weights"
    click.echo(f"  fitting weights: replay {step.evaluation} (at most {step.max_evaluations}) "
               f"{what}: pairwise F1 {step.f1:.4f}, kept {step.kept_f1:.4f}, "
               f"{step.seconds:.0f} s", err=True)


def _describe_time_scale(meta: dict[str, Any]) -> str:
    """Why the correlator's times are (or are not) stretched, in one line."""
    if meta["cascade_lag_seconds"] is None:
        return (f"time scale: 1 (too few nearby alarms in excess of chance to measure how "
                f"fast cascades unfold: {meta['excess_pairs']})")
    from aiops.learning.timescale import REFERENCE_LAG, SLACK

    line = (f"time scale: {meta['scale']:g} (cascade lag {meta['cascade_lag_seconds']:g} s "
            f"from {meta['excess_pairs']} pairs of nearby alarms; the correlator's times "
            f"were chosen at {REFERENCE_LAG:g} s and are stretched beyond "
            f"{REFERENCE_LAG * SLACK:g} s)")
    sources = meta.get("sources") or {}  # absent from models trained before
    if sources:
        line += "; per source: " + ", ".join(f"{s} {v:g}" for s, v in sorted(sources.items()))
    return line


def _describe_parents(meta: dict[str, Any]) -> str:
    """Whether small settled incidents can be absorbed (a Hawkes parent model was
    learned), and from how much, in one line."""
    if not meta["learned"]:
        return (f"absorbing small incidents: off (no parent model: {meta['alerts']} "
                f"alerts on known devices in the history, {meta['min_alerts']} needed)")
    return (f"absorbing small incidents: parent model of {meta['types']} alarm types "
            f"learned from {meta['alerts']} alerts ({meta['pairs']} candidate pairs) in "
            f"{meta['seconds']:g} s")


def _describe_ring_shares(meta: dict[str, Any]) -> str:
    """What the hindsight split will take as a fault's alarms around its origin, and
    from how many faults it was read, in one line."""
    shares = ", ".join(f"{round(100 * s):d} %" for s in meta["shares"])
    if not meta["learned"]:
        return (f"hindsight split: alarms by hops from a fault's origin {shares} (the "
                f"defaults: {meta['faults']} incidents of 6 or more alerts in the history, "
                f"{meta['min_faults']} needed)")
    return (f"hindsight split: alarms by hops from a fault's origin {shares} (read from "
            f"{meta['faults']} incidents of 6 or more alerts, {meta['alarms']} alarms)")


def _describe_weights(meta: dict[str, Any]) -> str:
    if not meta["fitted"]:
        return f"scoring weights: defaults kept ({meta['reason']})"
    changed = ", ".join(f"{k} {a:g} -> {b:g}" for k, (a, b) in meta["changed"].items())
    budget = "; time budget reached" if meta["stopped_early"] else ""
    return (f"scoring weights fitted to {meta['corrected_incidents']} corrected incidents "
            f"and {meta['weak_incidents']} uncorrected ones ({meta['labelled_alerts']} "
            f"labelled alerts, {meta['feedback_records']} feedback records): pairwise F1 "
            f"{meta['f1_before']:.4f} -> {meta['f1_after']:.4f} in {meta['evaluations']} "
            f"replays, {meta['seconds']} s{budget}; "
            + (f"changed {changed}" if changed else "defaults kept, no change helped"))


def _train_from_tickets(runtime: Runtime, tickets: list[Ticket], alerts: list[Alert],
                        source: str) -> None:
    """Learn remediations, root-cause priors and the ranking from resolved tickets
    (``aiops.learning.ticket_training``, as scheduled retraining does), against the
    correlation model that runs (the one just trained unless --no-promote); promoted."""
    from aiops.learning.ticket_training import train_ticket_models
    from aiops.learning.training import load_promoted

    learned = train_ticket_models(runtime, tickets, alerts, load_promoted(runtime.registry),
                                  source)
    for line in describe_ticket_models(learned):
        click.echo(line, err=line.startswith("aiops: warning"))


def _fate(part: dict[str, Any]) -> str:
    if part["promoted"]:
        return "promoted"
    why = part.get("kept_because")
    return f"saved, not promoted: {why}" if why else "saved, not promoted"


def describe_ticket_models(learned: dict[str, Any]) -> list[str]:
    """What ``train_ticket_models`` learned, one line per model."""
    total = learned["tickets"]
    remediation = learned["remediation"]
    if remediation is None:
        lines = [f"aiops: warning: none of the {total} tickets says how it was resolved "
                 "(field 'resolution'); no remediation model trained"]
    else:
        lines = [f"trained remediation model v{remediation['version']} on "
                 f"{remediation['cases']} resolved tickets of {total} "
                 f"({remediation['actions']} distinct actions, {remediation['with_alerts']} "
                 f"matched to past alerts), in {remediation['seconds']} s; "
                 f"{_fate(remediation)}"]
    priors = learned["root_priors"]
    fate = _fate(priors)
    used = "used by root-cause ranking" if priors["usable"] else (
        f"not used yet: fewer than {priors['min_tickets']} tickets name a known device and "
        "match past alerts")
    lines.append(f"learned root-cause priors from {priors['tickets']} tickets "
                 f"({priors['silent']} with a silent faulty device, {priors['types']} alert "
                 f"types); {used}")
    fitted = priors["ranker"]
    if fitted["incidents_replayed"] == 0:
        lines.append(f"no root-cause ranking learned: it needs {priors['ranker_min_tickets']} "
                     f"tickets that name a known device and match past alerts, "
                     f"{priors['tickets']} do (root_priors v{priors['version']}, {fate})")
        return lines
    used = "replaces the hand-weighted ranking" if fitted["usable"] else (
        f"not used yet: fewer than {priors['ranker_min_tickets']} tickets")
    lines.append(f"learned a root-cause ranking from {fitted['tickets_fitted']} tickets "
                 f"matched to {fitted['incidents_replayed']} past incidents; {used} "
                 f"(root_priors v{priors['version']}, {fate})")
    return lines


@main.group()
def model() -> None:
    """Inspect learned models."""


@model.command("export-causal-graph")
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
@reports_bad_input
def export_causal_graph(ctx: click.Context, output: Path) -> None:
    """Write the learned relations between alert types (CONTRACTS.md §4)."""
    from aiops.learning.training import load_promoted
    from aiops.replay import write_json_atomically

    runtime = runtime_of(ctx)
    learned = load_promoted(runtime.registry)
    if learned.relations is None:
        raise InputError(f"no trained model in {runtime.data_dir.path}; run 'aiops train' first")
    edges = learned.relations.edges()
    write_json_atomically(output, {"edges": edges, "model_version": learned.version})
    click.echo(f"wrote {len(edges)} relations of model v{learned.version} to {output}")
