"""Commands that feed the engine or serve it: serve, replay, demo, pull."""

from __future__ import annotations

import json
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from aiops.cli_base import main, progress, reports_bad_input, runtime_of
from aiops.errors import InputError
from aiops.runtime import Runtime
from aiops.text_index_loop import EVERY, interval
from aiops.timeutil import to_rfc3339


def _text_index_every(ctx: click.Context, param: click.Parameter, value: str) -> float:
    """Seconds between two catch-ups, 0 to 86,400. Checked here rather than by a
    click type so that a bad value from the environment names the variable an
    operator set, not a flag they never typed."""
    source = ctx.get_parameter_source(param.name or "")
    where = ("AIOPS_TEXT_INDEX_EVERY" if source is click.core.ParameterSource.ENVIRONMENT
             else "--text-index-every")
    try:
        return interval(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=where) from None


# Serving's catch-up of the text search (aiops/text_index_loop.py): `aiops serve` and
# `aiops demo`, which serves the same way.
text_index_every_option = click.option(
    "--text-index-every", envvar="AIOPS_TEXT_INDEX_EVERY", default=str(EVERY),
    show_default=True, type=str, callback=_text_index_every, metavar="SECONDS",
    help="SQLite: seconds between two catch-ups of the text search's index (0: none; "
         "searches then scan every row stored since the last one). Env "
         "AIOPS_TEXT_INDEX_EVERY.")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@text_index_every_option
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, text_index_every: float) -> None:
    """Serve the API and the incident view."""
    # SIGTERM (systemd, docker stop) stops it, exit 143, and the runtime is closed on
    # the way out (click's call_on_close): the retention loop and the text index's
    # catch-up end after the transaction they are in, the delivery and auto-run
    # threads stop. Killed outright, an unfinished transaction is rolled back all the
    # same, but nothing is closed or said.
    with _closing_on_signals((signal.SIGTERM,)):
        _serve(runtime_of(ctx), host, port, text_index_every)


@contextmanager
def _closing_on_signals(signals: tuple[signal.Signals, ...]) -> Iterator[None]:
    """Within: the first of ``signals`` stops the command where it stands, says so
    and exits 128 + its number; ``ctx.call_on_close`` then closes the runtime."""
    from aiops.stop_signals import Stopped, stopping_on_signals

    with stopping_on_signals(signals):
        try:
            yield
        except Stopped as exc:
            click.echo(f"aiops: {exc}, closing", err=True)
            raise SystemExit(exc.exit_status) from None


def _serve(runtime: Runtime, host: str, port: int, text_index_every: float) -> None:
    from werkzeug.serving import run_simple

    from aiops.api import create_app
    from aiops.retention_guard import check_keep

    try:
        # An AIOPS_RETENTION_KEEP shorter than what retraining or the drift check reads
        # (aiops/retention_guard.py): refused before anything starts.
        check_keep(runtime.data_dir)
        app = create_app(runtime=runtime)
    except ValueError as exc:  # AIOPS_API_TOKENS_FILE that cannot be read or is wrong
        click.echo(f"aiops: error: {exc}", err=True)
        sys.exit(2)
    if runtime.data_dir.settings.text_similarity:
        from aiops.learning.embeddings import EmbeddingsUnavailable, load_text_model

        click.echo("aiops: loading the text model", err=True)
        try:  # now, so the first alerts are not kept waiting for it
            load_text_model()
        except EmbeddingsUnavailable as exc:
            # Serving anyway would refuse every alert sent to it; say so before binding.
            click.echo(f"aiops: error: {exc}; or set AIOPS_TEXT_SIMILARITY=off to serve "
                       "without text similarity", err=True)
            sys.exit(1)
    from aiops.sinks.setup import start_delivery

    try:
        delivery = start_delivery(runtime, f"http://{host}:{port}")
    except ValueError as exc:  # a secret file of AIOPS_SINK_* that cannot be read
        click.echo(f"aiops: error: {exc}", err=True)
        sys.exit(2)
    if delivery is not None:
        click.echo(f"aiops: delivering incidents to {', '.join(delivery.targets)}", err=True)
    from aiops.playbooks.auto import start_auto_runs

    start_auto_runs(runtime)  # playbooks whose policy says to run unasked (docs/playbooks.md)
    from aiops.retention_loop import start_retention

    if start_retention(runtime) is not None:
        kept = runtime.data_dir.retention
        if kept.keep:
            click.echo(f"aiops: pruning what ended more than {kept.keep:.0f} s ago every "
                       f"{kept.every:.0f} s (AIOPS_RETENTION_KEEP)", err=True)
        if kept.audit_keep:
            click.echo(f"aiops: pruning the audit trails older than {kept.audit_keep:.0f} s "
                       f"every {kept.every:.0f} s (AIOPS_RETENTION_AUDIT_KEEP)", err=True)
    _start_text_index(runtime, text_index_every)
    click.echo(f"aiops: serving the incident view on http://{host}:{port}/ "
               f"(API under /api/v1, OpenAPI at /api/v1/openapi.json)", err=True)
    if runtime.data_dir.api_tokens_file:
        click.echo(f"aiops: every request but /api/v1/health needs a token of "
                   f"{runtime.data_dir.api_tokens_file}", err=True)
    run_simple(host, port, app, threaded=True, use_reloader=False)


def _start_text_index(runtime: Runtime, every: float) -> None:
    """The text search's catch-up (SQLite), or why there is none: with it off, every
    search scans the rows stored since the last catch-up, a tail that only grows."""
    from aiops.text_index_loop import start_text_index

    if start_text_index(runtime, every) is not None:
        click.echo(f"aiops: indexing new alerts and incidents for the text search every "
                   f"{every:g} s (--text-index-every)", err=True)
    elif runtime.db.dialect.name == "sqlite":
        click.echo("aiops: text search catch-up off (--text-index-every 0): new alerts and "
                   "incidents are not indexed, so every text search also scans all those "
                   "stored since the last catch-up (slower as they grow, never wrong)",
                   err=True)


@main.command()
@click.argument("alerts", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the incidents document here (CONTRACTS.md §3).")
@click.pass_context
@reports_bad_input
def replay(ctx: click.Context, alerts: Path, output: Path | None) -> None:
    """Feed a canonical alerts file through the live ingestion path."""
    document = _replay_withprogress(runtime_of(ctx), alerts, output)
    click.echo(f"replayed {alerts}: {len(document['incidents'])} incidents"
               + (f", written to {output}" if output else ""), err=True)
    if output is None:
        click.echo(json.dumps(document, indent=1))


def _replay_withprogress(runtime: Runtime, alerts: Path, output: Path | None) -> dict:
    from aiops.replay import load_alerts, replay_alerts

    started = time.perf_counter()
    events = load_alerts(alerts)
    with progress(len(events), f"replaying {len(events)} alerts") as bar:
        document = replay_alerts(runtime, events, output, progress=bar.update)
    elapsed = time.perf_counter() - started
    click.echo(f"replay took {elapsed:.2f} s", err=True)
    return document


@main.command()
@click.option("--serve/--no-serve", default=True, show_default=True,
              help="Serve the incident view after loading the demo.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--faults", default=30, show_default=True, type=click.IntRange(1, 10_000))
@text_index_every_option
@click.pass_context
@reports_bad_input
def demo(ctx: click.Context, serve: bool, host: str, port: int, faults: int,
         text_index_every: float) -> None:
    """Load the demo topology, replay a demo alert stream, then serve. SIGTERM stops it
    at any step, exit 143 (Ctrl-C: 130), as 'aiops serve'."""
    # `make run` runs this under systemd, docker or a terminal: a stop may come while it
    # trains or replays, not only while it serves. Stopped where it stands, what it
    # left is what a second start expects: each batch of the replay and the topology
    # import is one transaction (rolled back when cut), a model version is claimed by
    # a hard link of a finished file (aiops.learning.registry), and the demo files
    # are written anew on every start; the runtime's threads are closed on the way out.
    from aiops.stop_signals import SIGNALS

    with _closing_on_signals(SIGNALS):
        _demo(ctx, serve, host, port, faults, text_index_every)


def _demo(ctx: click.Context, serve: bool, host: str, port: int, faults: int,
          text_index_every: float) -> None:
    from aiops.demo.generate import SPAN, write_demo, write_demo_playbook, write_history
    from aiops.learning.training import train
    from connectors.jsonl import read_alerts
    from topology.loader import read_topology

    runtime = runtime_of(ctx)
    demo_dir = runtime.data_dir.path / "demo"
    start = time.time() - SPAN
    topo_path, alerts_path, data = write_demo(demo_dir, start, faults=faults)
    nodes, edges = read_topology(topo_path)
    runtime.import_topology(nodes, edges, source="demo")
    click.echo(f"demo topology: {len(nodes)} devices, {len(edges)} links ({topo_path})", err=True)
    history_path = write_history(demo_dir, start - 4 * SPAN, faults)
    history = read_alerts(history_path)
    text = runtime.embedder if runtime.data_dir.settings.text_similarity else None
    model, meta = train(runtime.registry, history, runtime.engine.topology, str(history_path),
                        embedder=text)
    runtime.use_model(model)
    click.echo(f"demo: trained model v{model.version} on {meta['alerts']} earlier alerts "
               f"({meta['relations']} relations between alarm types)", err=True)
    document = _replay_withprogress(runtime, alerts_path, demo_dir / "incidents.json")
    playbook = write_demo_playbook(runtime.data_dir.path / "playbooks",
                                   demo_dir / "playbook-log.txt")
    click.echo(f"demo: {len(data.alerts)} alerts from {data.faults} simulated faults and "
               f"background noise became {len(document['incidents'])} incidents "
               f"({demo_dir / 'incidents.json'}); playbook {playbook} can be run from the "
               "incident view", err=True)
    if serve:
        _serve(runtime, host, port, text_index_every)


@main.command()
@click.argument("url")
@click.option("--interval", default=30.0, show_default=True, type=click.FloatRange(1, 3600),
              help="Seconds between pulls.")
@click.option("--once", is_flag=True, help="Pull once and exit.")
@click.pass_context
def pull(ctx: click.Context, url: str, interval: float, once: bool) -> None:
    """Pull alerts from an Alertmanager's /api/v2/alerts into the engine."""
    from connectors.alertmanager import AlertmanagerPuller

    runtime = runtime_of(ctx)
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
            result = runtime.engine.ingest(events, live=True)  # sent now: times bounded
            click.echo(f"{to_rfc3339(time.time())} pulled {len(events)} events: "
                       f"{dict(result.dispositions)}", err=True)
        if once:
            return
        time.sleep(interval)
