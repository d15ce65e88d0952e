"""``aiops incidents list|show|merge|split``."""

from __future__ import annotations

import getpass
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from aiops.cli_base import main, reports_bad_input, runtime_of
from aiops.models import SEVERITIES

if TYPE_CHECKING:
    from aiops.engine.feedback import FeedbackOutcome
    from aiops.runtime import Runtime


@main.group()
def incidents() -> None:
    """List, show, merge and split incidents."""


_OPTION_OF = {"q": "text"}  # a filter's option when it is not ``--`` its parameter


@incidents.command("list")
@click.option("--status", type=click.Choice(["open", "resolved", "merged"]))
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000))
@click.option("--severity", type=click.Choice(list(SEVERITIES)),
              help="The least grave kept: major keeps critical and major.")
@click.option("--entity", help="Incidents with an alert on this device or service, by any "
                               "of its names (resolved as an alert's entity is).")
@click.option("--text", help="In the title, or an alert's name or summary, any case.")
@click.option("--acknowledged", type=click.Choice(["true", "false"]),
              help="Whether all its firing alerts are acknowledged.")
@click.option("--suppressed", type=click.Choice(["true", "false"]),
              help="Whether all its firing alerts are suppressed (maintenance, downtime, "
                   "silence, by hand).")
@click.option("--since", help="Started at or after (RFC 3339 or epoch seconds).")
@click.option("--until", help="Started before (RFC 3339 or epoch seconds).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
@reports_bad_input
def incidents_list(ctx: click.Context, status: str | None, limit: int, as_json: bool,
                   **filters: str | None) -> None:
    """Newest incidents first; the filters are those of the incident view and of GET
    /api/v1/incidents (docs/contracts.md), so the three show the same incidents."""
    from aiops.api.incident_args import Naming, read_filter
    from aiops.store.queries import list_incidents

    runtime = runtime_of(ctx)
    args = {("q" if name == "text" else name): value for name, value in filters.items()
            if value is not None}
    option = Naming("option", lambda name: f"--{_OPTION_OF.get(name, name)}")
    chosen, _ = read_filter(args, runtime.current_topology().resolve, option)
    with runtime.db.connect() as conn:
        items = list_incidents(conn, status, limit, chosen=chosen)
    if as_json:
        click.echo(json.dumps({"incidents": items}, indent=1))
        return
    for inc in items:
        cause = inc["root_causes"][0]["entity"] if inc["root_causes"] else "-"
        click.echo(f"{inc['id']:<10} {inc['status']:<9} {inc['severity']:<9} "
                   f"{inc['alert_count']:>5} alerts  cause: {cause:<14} {inc['title']}"
                   f"{_status_note(inc)}")


def _status_note(inc: dict) -> str:
    """What the monitoring systems' operators said of the incident's alerts
    (``aiops.engine.alert_status``), or nothing."""
    if inc.get("suppressed"):
        return "  [suppressed]"
    notes = [f"{inc[key]} {word}" for key, word in (
        ("acknowledged_alerts", "acknowledged"), ("suppressed_alerts", "suppressed"))
        if inc.get(key)]
    return f"  [{', '.join(notes)}]" if notes else ""


@incidents.command("show")
@click.argument("incident_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--why", is_flag=True,
              help="Say under each alert why it is in this incident (its placement).")
@click.pass_context
@reports_bad_input
def incidents_show(ctx: click.Context, incident_id: str, as_json: bool, why: bool) -> None:
    """One incident with its root causes and alerts."""
    from aiops.store.queries import get_incident

    with runtime_of(ctx).db.connect() as conn:
        inc = get_incident(conn, incident_id, placement=True)
    if as_json:
        click.echo(json.dumps(inc, indent=1))
        return
    click.echo(f"{inc['id']}  {inc['status']}  {inc['severity']}  {inc['title']}"
               f"{_status_note(inc)}")
    click.echo(f"started {inc['started_at']}, updated {inc['updated_at']}, "
               f"resolved {inc['resolved_at'] or '-'}")
    click.echo("root causes:")
    for i, rc in enumerate(inc["root_causes"], 1):
        click.echo(f"  {i}. {rc['entity']} (score {rc['score']:.2f}): "
                   + "; ".join(rc["evidence"]))
    click.echo(f"alerts ({len(inc['alerts'])}):")
    for a in inc["alerts"]:
        click.echo(f"  {a['starts_at']}  {a['status']:<8} {a['severity']:<8} {a['name']:<20} "
                   f"{a['entity']}  (x{a['event_count']}){_alert_note(a['labels'])}")
        if why:
            click.echo(f"      why here: {a['why_here']}")


def _alert_note(labels: dict) -> str:
    from aiops.engine.alert_status import (
        ACKNOWLEDGED_BY,
        SUPPRESSED,
        SUPPRESSED_BY,
        is_acknowledged,
        is_suppressed,
    )

    notes = []
    if is_acknowledged(labels):
        who = labels.get(ACKNOWLEDGED_BY)
        notes.append(f"acknowledged by {who}" if who else "acknowledged")
    if is_suppressed(labels):
        which = labels.get(SUPPRESSED_BY)
        notes.append(f"suppressed: {which}" if which else f"suppressed: {labels[SUPPRESSED]}")
    return f"  [{', '.join(notes)}]" if notes else ""


def _author(author: str | None) -> str | None:
    """Who corrected the grouping: ``--author``, else the login name (for the audit trail)."""
    if author:
        return author
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name in some containers
        return None


def _report(runtime: Runtime, outcome: FeedbackOutcome, as_json: bool) -> None:
    from aiops.store.feedback import feedback_view
    from aiops.store.queries import incident_rows, incident_summary

    with runtime.db.connect() as conn:
        touched = [incident_summary(r) for r in incident_rows(conn, outcome.incidents)]
    if as_json:
        click.echo(json.dumps({"feedback": feedback_view(outcome.record), "incidents": touched},
                              indent=1))
        return
    for inc in touched:
        cause = inc["root_causes"][0]["entity"] if inc["root_causes"] else "-"
        where = f" into {inc['merged_into']}" if inc["merged_into"] else ""
        click.echo(f"{inc['id']:<10} {inc['status']}{where}  {inc['alert_count']} alerts  "
                   f"cause: {cause}")
    click.echo(f"feedback #{outcome.record['id']} stored; the next 'aiops train' learns from it")


_FEEDBACK_OPTIONS = (
    click.option("--author", help="Who made the correction (default: your login name)."),
    click.option("--comment", help="Why, for the audit trail."),
    click.option("--json", "as_json", is_flag=True, help="Print JSON."),
)


def _feedback_options(func: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(_FEEDBACK_OPTIONS):
        func = option(func)
    return func


@incidents.command("merge")
@click.argument("incident_id")
@click.argument("others", nargs=-1, required=True)
@_feedback_options
@click.pass_context
@reports_bad_input
def incidents_merge(ctx: click.Context, incident_id: str, others: tuple[str, ...],
                    author: str | None, comment: str | None, as_json: bool) -> None:
    """Fold incidents OTHERS into INCIDENT_ID: they are one fault.

    Run it against a data dir no server is writing to; with 'aiops serve' running, use
    POST /api/v1/incidents/{id}/merge, so the serving engine sees the change.
    """
    runtime = runtime_of(ctx)
    outcome = runtime.engine.merge_incidents(incident_id, list(others), author=_author(author),
                                             comment=comment)
    _report(runtime, outcome, as_json)


@incidents.command("split")
@click.argument("incident_id")
@click.argument("alert_ids", nargs=-1, required=True)
@_feedback_options
@click.pass_context
@reports_bad_input
def incidents_split(ctx: click.Context, incident_id: str, alert_ids: tuple[str, ...],
                    author: str | None, comment: str | None, as_json: bool) -> None:
    """Move ALERT_IDS (event ids as 'incidents show' lists them) of INCIDENT_ID to a new
    incident: they are another fault.

    As with merge, use POST /api/v1/incidents/{id}/split while a server is running.
    """
    runtime = runtime_of(ctx)
    outcome = runtime.engine.split_incident(incident_id, list(alert_ids), author=_author(author),
                                            comment=comment)
    _report(runtime, outcome, as_json)
