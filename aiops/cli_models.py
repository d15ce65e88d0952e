"""`aiops model versions|promote|shadow`: choosing which correlation model runs.

`aiops train` promotes what it trains; these commands list the versions, compare one
with the promoted model on a window of stored alerts (shadow mode, nothing stored
changes) and promote any version, which is also how a bad model is rolled back.
"""

from __future__ import annotations

import json

import click

from aiops.cli_base import reports_bad_input, runtime_of
from aiops.cli_learning import model
from aiops.errors import InputError
from aiops.timeutil import parse_timestamp, to_rfc3339


@model.command("versions")
@click.pass_context
@reports_bad_input
def versions(ctx: click.Context) -> None:
    """List the correlation model versions; * marks the promoted one."""
    from aiops.learning.training import MODEL_NAME

    registry = runtime_of(ctx).registry
    promoted = registry.promoted_version(MODEL_NAME)
    found = registry.versions(MODEL_NAME)
    if not found:
        click.echo("no correlation model trained yet ('aiops train')")
    for version in found:
        meta = (registry.load(MODEL_NAME, version) or {}).get("meta", {})
        mark = "*" if version == promoted else " "
        click.echo(f"{mark} v{version}  trained on {meta.get('trained_on', '?')}  "
                   f"alerts {meta.get('alerts', '?')}")


@model.command("promote")
@click.argument("version", type=int)
@click.pass_context
@reports_bad_input
def promote(ctx: click.Context, version: int) -> None:
    """Make VERSION the model live ingestion and replay use (also a roll-back)."""
    from aiops.learning.training import MODEL_NAME, load_promoted

    runtime = runtime_of(ctx)
    if version not in runtime.registry.versions(MODEL_NAME):
        raise InputError(f"no correlation model version {version}")
    runtime.registry.promote(MODEL_NAME, version)
    runtime.use_model(load_promoted(runtime.registry))
    click.echo(f"promoted correlation model v{version}")


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
