"""``aiops sinks status``: the outbox of incidents pushed to webhooks, ServiceNow, RT and Jira,
so that an operator sees an integration that is stuck (docs/sinks.md)."""

from __future__ import annotations

import json
import sys
import time

import click

from aiops.cli_base import main, runtime_of


@main.group()
def sinks() -> None:
    """Outbound incident delivery (AIOPS_SINK_*): webhooks, ServiceNow, RT and Jira."""


@sinks.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def sinks_status(ctx: click.Context, as_json: bool) -> None:
    """Per sink: pending, delivered and failed incidents and the last error; exit 1
    when an incident failed for good or a change waits for a sink no longer set."""
    from aiops.sinks.setup import sink_names
    from aiops.sinks.status import outbox_status

    runtime = runtime_of(ctx)
    with runtime.db.connect() as conn:
        status = outbox_status(conn, sink_names(runtime.data_dir.sinks), time.time())
    if as_json:
        click.echo(json.dumps(status, indent=1))
    elif not status["sinks"]:
        click.echo("no sinks configured (AIOPS_SINK_WEBHOOK_URLS, AIOPS_SINK_SERVICENOW_URL, "
                   "AIOPS_SINK_RT_URL, AIOPS_SINK_JIRA_URL) "
                   "and nothing in the outbox")
    for s in [] if as_json else status["sinks"]:
        waiting = "" if s["oldest_pending_seconds"] is None else \
            f", oldest pending {s['oldest_pending_seconds']:.0f} s"
        gone = "" if s["configured"] else " (not configured any more)"
        click.echo(f"{s['sink']}{gone}: {s['pending']} pending, {s['delivered']} delivered, "
                   f"{s['failed']} failed{waiting}")
        if s["last_error"]:
            e = s["last_error"]
            click.echo(f"  last error ({e['incident_id']}, {e['at']}, attempt "
                       f"{e['attempts']}, {e['status']}): {e['error']}")
        for f in s["failures"]:
            click.echo(f"  failed: {f['incident_id']} v{f['version']}: {f['error']}")
    if any(s["failed"] or (s["pending"] and not s["configured"]) for s in status["sinks"]):
        sys.exit(1)


@sinks.command("retry")
@click.option("--sink", "sink", default=None,
              help="Only this sink's failures (its name as `aiops sinks status` shows it).")
@click.option("--incident", "incident_id", default=None, help="Only this incident's.")
@click.pass_context
def sinks_retry(ctx: click.Context, sink: str | None, incident_id: str | None) -> None:
    """Send again what a receiver refused for good (a failure in `aiops sinks status`),
    once the cause is fixed (a credential, a required field, a workflow): the rows go
    back to pending and the delivery loop of `aiops serve` sends them within a second.
    Exit 1 when there was nothing failed to retry."""
    from aiops.sinks.outbox import retry_failed

    runtime = runtime_of(ctx)
    count = retry_failed(runtime.db, time.time(), sink, incident_id)
    click.echo(f"{count} failed deliveries pending again"
               + (f" for {sink}" if sink else "") + (f" of {incident_id}" if incident_id
                                                     else ""))
    if not count:
        sys.exit(1)
