"""``aiops tickets ...``: pull resolved tickets from ITSM systems, import exports, link
them to incidents, list and export them.

A pull or import is all or nothing: every page is fetched and every ticket
validated before one transaction stores the tickets and their links to the stored
incidents; incidents that resolve later are linked to them as they resolve
(``aiops.tickets.autolink``). A system that cannot be read exits with status 1 and
a message naming it, the URL and why; a bad file exits with status 2 naming the
file, the line and the field.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from aiops.cli_base import main, reports_bad_input, runtime_of
from aiops.models import Ticket
from aiops.runtime import Runtime
from aiops.timeutil import to_rfc3339

# Built in; other systems register under the ``aiops.connectors`` entry point group.
BUILT_IN = {"servicenow": "connectors.servicenow:ServiceNowConnector",
            "jira": "connectors.jira:JiraConnector",
            "rt": "connectors.rt:RTConnector"}
QUERY_PARAMETER = {"servicenow": "query", "jira": "jql", "rt": "query"}


def _connector_class(name: str) -> Any:
    target = BUILT_IN.get(name)
    if target is None:
        from connectors.registry import load

        try:
            return load(name)
        except KeyError as exc:
            raise click.BadParameter(str(exc.args[0]), param_hint="SOURCE") from None
    module, _, attr = target.partition(":")
    return getattr(__import__(module, fromlist=[attr]), attr)


def _store_and_link(runtime: Runtime, items: list[Ticket], source: str) -> tuple[Any, int]:
    """One transaction: the tickets, then their links to the stored incidents (incidents
    that resolve later are linked to them by the engine's ticket-link sink)."""
    from aiops.tickets.autolink import store_and_link

    embedder = runtime.embedder if runtime.data_dir.settings.text_similarity else None
    return store_and_link(runtime.db, items, source, runtime.engine.topology, embedder)


@main.group()
def tickets() -> None:
    """Resolved tickets: pull, import, link to incidents, list, export."""


@tickets.command()
@click.argument("source")
@click.argument("url")
@click.option("--user", help="User name (Jira Cloud: the account e-mail).")
@click.option("--password", envvar="AIOPS_TICKETS_PASSWORD",
              help="Password (env AIOPS_TICKETS_PASSWORD).")
@click.option("--token", envvar="AIOPS_TICKETS_TOKEN",
              help="API token (env AIOPS_TICKETS_TOKEN): bearer for ServiceNow and Jira "
                   "Data Center, with --user for Jira Cloud, 'token' scheme for RT.")
@click.option("--query", help="ServiceNow encoded query, Jira JQL or RT TicketSQL "
                              "(default: resolved tickets).")
@click.option("--since", help="Only tickets resolved at or after this date (the system's "
                              "date syntax, e.g. 2026-01-01).")
@click.option("--page-size", type=click.IntRange(1, 10_000), help="Records per request.")
@click.option("--timeout", type=click.FloatRange(0.1, 600), default=30.0, show_default=True,
              help="Seconds per request.")
@click.option("--entity-field", help="Field holding the configuration item / device.")
@click.option("--root-cause-field", help="Field holding the root cause text.")
@click.option("--resolution-field", help="Jira: field holding the resolution text "
                                         "(default: the last comment).")
@click.option("--alert-ids-field", help="Field holding the linked alert ids.")
@click.option("--api-version", type=click.Choice(["2", "3"]), help="Jira REST API version.")
@click.pass_context
@reports_bad_input
def pull(ctx: click.Context, source: str, url: str, **options: Any) -> None:
    """Pull resolved tickets from SOURCE (servicenow, jira, rt) at URL; store and link them."""
    from connectors.ticket_http import TicketSourceError, split_userinfo

    cls = _connector_class(source)
    kwargs = {k: v for k, v in options.items() if v is not None}
    if "query" in kwargs:
        kwargs[QUERY_PARAMETER.get(source, "query")] = kwargs.pop("query")
    if "api_version" in kwargs:
        kwargs["api_version"] = int(kwargs["api_version"])
    if source != "jira":
        kwargs.pop("resolution_field", None)
    try:
        connector = cls(url, **kwargs)
    except TypeError as exc:
        raise click.UsageError(f"connector '{source}' does not take these options: {exc}") \
            from None
    except TicketSourceError as exc:
        click.echo(f"aiops: error: {exc}", err=True)
        sys.exit(1)
    try:
        items = connector.pull()
    except TicketSourceError as exc:
        click.echo(f"aiops: error: {exc}", err=True)
        sys.exit(1)
    if not items:
        click.echo(f"no tickets matched at {split_userinfo(url)[0]}; nothing stored")
        return
    result, links = _store_and_link(runtime_of(ctx), items, source)
    click.echo(f"pulled {len(items)} tickets from {source}: {result.inserted} new, "
               f"{result.updated} updated; {links} links to incidents")


@tickets.command("import")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--source", default="file", show_default=True, help="Name stored with them.")
@click.pass_context
@reports_bad_input
def import_(ctx: click.Context, path: Path, source: str) -> None:
    """Import a ticket export (.jsonl, .csv or .json; CONTRACTS.md §5); store and link."""
    from connectors.tickets_csv import read_ticket_file

    items = read_ticket_file(path)
    result, links = _store_and_link(runtime_of(ctx), items, source)
    click.echo(f"imported {len(items)} tickets from {path}: {result.inserted} new, "
               f"{result.updated} updated; {links} links to incidents")


@tickets.command()
@click.pass_context
@reports_bad_input
def link(ctx: click.Context) -> None:
    """Link every stored ticket to incidents again (after a replay or new topology)."""
    from aiops.tickets.store import load_tickets, ticket_sources

    runtime = runtime_of(ctx)
    with runtime.db.connect() as conn:
        items = load_tickets(conn)
        source_of = ticket_sources(conn)
    if not items:
        click.echo("no tickets stored")
        return
    linked = 0
    for source in sorted(set(source_of.values())):  # re-stored under the source they had
        group = [t for t in items if source_of.get(t.id) == source]
        linked += _store_and_link(runtime, group, source)[1]
    click.echo(f"linked {len(items)} tickets: {linked} links to incidents")


def _ticket_dict(ticket: Ticket) -> dict[str, Any]:
    return {"id": ticket.id, "opened_at": to_rfc3339(ticket.opened_at),
            "resolved_at": to_rfc3339(ticket.resolved_at), "title": ticket.title,
            "description": ticket.description, "entity": ticket.entity,
            "root_cause": ticket.root_cause, "resolution": ticket.resolution,
            "alert_ids": ticket.alert_ids, "labels": ticket.labels}


@tickets.command("list")
@click.option("--limit", type=click.IntRange(1, 100_000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Canonical JSON Lines on stdout.")
@click.pass_context
def list_(ctx: click.Context, limit: int, as_json: bool) -> None:
    """Stored tickets, newest first."""
    from aiops.tickets.store import count_tickets, load_tickets

    runtime = runtime_of(ctx)
    with runtime.db.connect() as conn:
        items = load_tickets(conn)[::-1][:limit]
        total, links = count_tickets(conn)
    for ticket in items:
        if as_json:
            click.echo(json.dumps(_ticket_dict(ticket)))
        else:
            click.echo(f"{ticket.id}\t{to_rfc3339(ticket.opened_at)}\t{ticket.entity or '-'}\t"
                       f"{ticket.title[:60]}")
    if not as_json:
        click.echo(f"{total} tickets stored, {links} links to incidents", err=True)


@tickets.command()
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
@reports_bad_input
def export(ctx: click.Context, output: Path) -> None:
    """Write stored tickets as canonical JSON Lines (for ``aiops train --tickets``)."""
    from aiops.tickets.store import load_tickets

    runtime = runtime_of(ctx)
    with runtime.db.connect() as conn:
        items = load_tickets(conn)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f".{output.name}.tmp")  # renamed into place: complete or absent
    with tmp.open("w", encoding="utf-8") as handle:
        for ticket in items:
            handle.write(json.dumps(_ticket_dict(ticket)) + "\n")
    tmp.replace(output)
    click.echo(f"wrote {len(items)} tickets to {output}")
