"""``aiops incidents list|show``."""

from __future__ import annotations

import json

import click

from aiops.cli_base import main, reports_bad_input, runtime_of


@main.group()
def incidents() -> None:
    """List and show incidents."""


@incidents.command("list")
@click.option("--status", type=click.Choice(["open", "resolved", "merged"]))
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def incidents_list(ctx: click.Context, status: str | None, limit: int, as_json: bool) -> None:
    """Newest incidents first."""
    from aiops.store.queries import list_incidents

    with runtime_of(ctx).db.connect() as conn:
        items = list_incidents(conn, status, limit)
    if as_json:
        click.echo(json.dumps({"incidents": items}, indent=1))
        return
    for inc in items:
        cause = inc["root_causes"][0]["entity"] if inc["root_causes"] else "-"
        click.echo(f"{inc['id']:<10} {inc['status']:<9} {inc['severity']:<9} "
                   f"{inc['alert_count']:>5} alerts  cause: {cause:<14} {inc['title']}")


@incidents.command("show")
@click.argument("incident_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
@reports_bad_input
def incidents_show(ctx: click.Context, incident_id: str, as_json: bool) -> None:
    """One incident with its root causes and alerts."""
    from aiops.store.queries import get_incident

    with runtime_of(ctx).db.connect() as conn:
        inc = get_incident(conn, incident_id)
    if as_json:
        click.echo(json.dumps(inc, indent=1))
        return
    click.echo(f"{inc['id']}  {inc['status']}  {inc['severity']}  {inc['title']}")
    click.echo(f"started {inc['started_at']}, updated {inc['updated_at']}, "
               f"resolved {inc['resolved_at'] or '-'}")
    click.echo("root causes:")
    for i, rc in enumerate(inc["root_causes"], 1):
        click.echo(f"  {i}. {rc['entity']} (score {rc['score']:.2f}): "
                   + "; ".join(rc["evidence"]))
    click.echo(f"alerts ({len(inc['alerts'])}):")
    for a in inc["alerts"]:
        click.echo(f"  {a['starts_at']}  {a['status']:<8} {a['severity']:<8} {a['name']:<20} "
                   f"{a['entity']}  (x{a['event_count']})")
