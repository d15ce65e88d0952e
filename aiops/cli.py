"""The ``aiops`` command: serve, topology import, replay, incidents, demo, pull.

Bad input exits with status 2 and a one-line message naming the file, line and
field; nothing is written in that case.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

import click

from aiops.config import DataDir
from aiops.errors import InputError, NotFound
from aiops.runtime import Runtime, open_runtime
from aiops.timeutil import to_rfc3339

EXIT_BAD_INPUT = 2


def _fail(message: str) -> None:
    click.echo(f"aiops: error: {message}", err=True)
    sys.exit(EXIT_BAD_INPUT)


def reports_bad_input(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn InputError/NotFound into exit status 2 with the message on stderr."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (InputError, NotFound) as exc:
            _fail(str(exc))

    return wrapper


def _runtime(ctx: click.Context) -> Runtime:
    if "runtime" not in ctx.obj:
        ctx.obj["runtime"] = open_runtime(ctx.obj["data_dir"])
        ctx.call_on_close(ctx.obj["runtime"].close)
    return ctx.obj["runtime"]


def _progress(total: int, label: str):
    return click.progressbar(length=total, label=label, file=sys.stderr, show_pos=True,
                             show_eta=True, item_show_func=None)


@click.group()
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
              envvar="AIOPS_DATA_DIR", default="aiops-data", show_default=True,
              help="Where the engine keeps its database and files.")
@click.option("--database-url", envvar="AIOPS_DATABASE_URL", default=None,
              help="SQLAlchemy URL (e.g. postgresql://...); default: SQLite in the data dir.")
@click.version_option(package_name="aiops-engine")
@click.pass_context
def main(ctx: click.Context, data_dir: Path, database_url: str | None) -> None:
    """Alert correlation and root-cause engine."""
    ctx.ensure_object(dict)
    ctx.obj["data_dir"] = DataDir.from_env(data_dir, database_url)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.pass_context
def serve(ctx: click.Context, host: str, port: int) -> None:
    """Serve the API and the incident view."""
    _serve(_runtime(ctx), host, port)


def _serve(runtime: Runtime, host: str, port: int) -> None:
    from werkzeug.serving import run_simple

    from aiops.api import create_app

    app = create_app(runtime=runtime)
    click.echo(f"aiops: serving the incident view on http://{host}:{port}/ "
               f"(API under /api/v1, OpenAPI at /api/v1/openapi.json)", err=True)
    run_simple(host, port, app, threaded=True, use_reloader=False)


@main.group()
def topology() -> None:
    """Import and inspect the topology."""


@topology.command("import")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--source", default="import", show_default=True,
              help="Name recorded as the origin of these nodes and edges.")
@click.pass_context
@reports_bad_input
def topology_import(ctx: click.Context, path: Path, source: str) -> None:
    """Import a canonical topology JSON document (CONTRACTS.md §2)."""
    from topology.loader import read_topology

    nodes, edges = read_topology(path)
    runtime = _runtime(ctx)
    runtime.import_topology(nodes, edges, source)
    total_nodes, total_edges = runtime.topology_store.counts()
    click.echo(f"imported {len(nodes)} nodes and {len(edges)} edges from {path} "
               f"(topology now {total_nodes} nodes, {total_edges} edges)")


@main.command()
@click.argument("alerts", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the incidents document here (CONTRACTS.md §3).")
@click.pass_context
@reports_bad_input
def replay(ctx: click.Context, alerts: Path, output: Path | None) -> None:
    """Feed a canonical alerts file through the live ingestion path."""
    document = _replay_with_progress(_runtime(ctx), alerts, output)
    click.echo(f"replayed {alerts}: {len(document['incidents'])} incidents"
               + (f", written to {output}" if output else ""), err=True)
    if output is None:
        click.echo(json.dumps(document, indent=1))


def _replay_with_progress(runtime: Runtime, alerts: Path, output: Path | None) -> dict:
    from aiops.replay import load_alerts, replay_alerts

    started = time.perf_counter()
    events = load_alerts(alerts)
    with _progress(len(events), f"replaying {len(events)} alerts") as bar:
        document = replay_alerts(runtime, events, output, progress=bar.update)
    elapsed = time.perf_counter() - started
    click.echo(f"replay took {elapsed:.2f} s", err=True)
    return document


@main.command()
@click.option("--alerts", "alerts_path", required=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="Past alerts, canonical JSON Lines (CONTRACTS.md §1).")
@click.option("--tickets", "tickets_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Resolved tickets, canonical JSON Lines (CONTRACTS.md §5).")
@click.pass_context
@reports_bad_input
def train(ctx: click.Context, alerts_path: Path, tickets_path: Path | None) -> None:
    """Learn from history; the new model version is promoted and used from now on."""
    from aiops.learning.training import train as fit
    from connectors.jsonl import read_alerts, read_tickets

    alerts = read_alerts(alerts_path)
    tickets = read_tickets(tickets_path) if tickets_path else []
    runtime = _runtime(ctx)
    if len(runtime.engine.topology) == 0:
        click.echo("aiops: warning: no topology imported; relations are learned between "
                   "alerts on the same entity only", err=True)
    model, meta = fit(runtime.registry, alerts, runtime.engine.topology, str(alerts_path))
    runtime.use_model(model)
    click.echo(f"trained correlation model v{model.version} on {meta['alerts']} alerts "
               f"({meta['alert_types']} alert types): {meta['relations']} relations between "
               f"types, in {meta['seconds']} s; promoted")
    if tickets:
        click.echo(f"validated {len(tickets)} tickets; learning from tickets (root-cause priors, "
                   "remediations) is not built yet", err=True)


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

    runtime = _runtime(ctx)
    learned = load_promoted(runtime.registry)
    if learned.relations is None:
        raise InputError(f"no trained model in {runtime.data_dir.path}; run 'aiops train' first")
    edges = learned.relations.edges()
    write_json_atomically(output, {"edges": edges, "model_version": learned.version})
    click.echo(f"wrote {len(edges)} relations of model v{learned.version} to {output}")


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

    with _runtime(ctx).db.connect() as conn:
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

    with _runtime(ctx).db.connect() as conn:
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


@main.command()
@click.option("--serve/--no-serve", default=True, show_default=True,
              help="Serve the incident view after loading the demo.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--faults", default=30, show_default=True, type=click.IntRange(1, 10_000))
@click.pass_context
def demo(ctx: click.Context, serve: bool, host: str, port: int, faults: int) -> None:
    """Load the demo topology, replay a demo alert stream, then serve."""
    from aiops.demo.generate import SPAN, write_demo
    from topology.loader import read_topology

    runtime = _runtime(ctx)
    demo_dir = runtime.data_dir.path / "demo"
    start = time.time() - SPAN
    topo_path, alerts_path, data = write_demo(demo_dir, start, faults=faults)
    nodes, edges = read_topology(topo_path)
    runtime.import_topology(nodes, edges, source="demo")
    click.echo(f"demo topology: {len(nodes)} devices, {len(edges)} links ({topo_path})", err=True)
    document = _replay_with_progress(runtime, alerts_path, demo_dir / "incidents.json")
    click.echo(f"demo: {len(data.alerts)} alerts from {data.faults} simulated faults and "
               f"background noise became {len(document['incidents'])} incidents "
               f"({demo_dir / 'incidents.json'})", err=True)
    if serve:
        _serve(runtime, host, port)


@main.command()
@click.argument("url")
@click.option("--interval", default=30.0, show_default=True, type=click.FloatRange(1, 3600),
              help="Seconds between pulls.")
@click.option("--once", is_flag=True, help="Pull once and exit.")
@click.pass_context
def pull(ctx: click.Context, url: str, interval: float, once: bool) -> None:
    """Pull alerts from an Alertmanager's /api/v2/alerts into the engine."""
    from connectors.alertmanager import AlertmanagerPuller

    runtime = _runtime(ctx)
    puller = AlertmanagerPuller(url)
    while True:
        try:
            events = puller.pull()
        except (ConnectionError, InputError) as exc:
            click.echo(f"aiops: pull failed: {exc}", err=True)
            if once:
                sys.exit(1)
            events = []
        if events:
            result = runtime.engine.ingest(events)
            click.echo(f"{to_rfc3339(time.time())} pulled {len(events)} events: "
                       f"{dict(result.dispositions)}", err=True)
        if once:
            return
        time.sleep(interval)
