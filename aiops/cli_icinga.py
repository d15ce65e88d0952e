"""``aiops icinga follow|check``: Icinga 2's hard state changes as alerts.

``follow`` runs beside ``aiops serve`` (like ``aiops syslog listen``) and forwards to
its ``/api/v1/webhooks/icinga``; ``check`` tries the connection and the API user's
permissions once, which is how a setup is tested.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

import click

from aiops.cli_base import EXIT_BAD_INPUT, main, reports_bad_input
from aiops.cli_syslog import check_forward
from aiops.errors import InputError

PASSWORD_ENV = "AIOPS_ICINGA_PASSWORD"


def connection_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The options that say which Icinga API to read and as whom."""
    options = [
        click.option("--url", required=True,
                     help="Icinga 2's API, e.g. https://icinga.example.net:5665."),
        click.option("--user", required=True, help="An ApiUser of Icinga's (see docs/icinga.md)."),
        click.option("--password-file", type=click.Path(exists=True, dir_okay=False,
                                                        path_type=Path), default=None,
                     help=f"A file holding the user's password (else ${PASSWORD_ENV})."),
        click.option("--ca", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                     default=None, help="Icinga's CA certificate "
                     "(/var/lib/icinga2/certs/ca.crt); default: the system's CAs."),
        click.option("--insecure", is_flag=True,
                     help="Do not check Icinga's certificate (a test bed only)."),
    ]
    for option in reversed(options):
        func = option(func)

    @wraps(func)
    def wrapper(*args: Any, url: str, user: str, password_file: Path | None,
                ca: Path | None, insecure: bool, **kwargs: Any) -> Any:
        from connectors.icinga import IcingaApi

        if not url.startswith(("https://", "http://")):
            raise InputError(f"--url must be Icinga's https:// API URL, got {url!r}")
        if ca and insecure:
            raise InputError("give --ca or --insecure, not both")
        if password_file is not None:
            password = password_file.read_text(encoding="utf-8").strip()
        elif os.environ.get(PASSWORD_ENV):
            password = os.environ[PASSWORD_ENV]
        else:
            raise InputError(f"no password: give --password-file or set {PASSWORD_ENV}")
        api = IcingaApi(url.rstrip("/"), user, password,
                        verify=str(ca) if ca else not insecure)
        if insecure:
            click.echo("aiops: warning: --insecure: Icinga's certificate is not checked",
                       err=True)
        return func(*args, api=api, **kwargs)

    return wrapper


@main.group()
def icinga() -> None:
    """Icinga 2: follow its hard state changes into the engine, check a connection."""


@icinga.command("follow")
@connection_options
@click.option("--forward", required=True,
              help="The engine's base URL, e.g. http://127.0.0.1:8080.")
@click.option("--queue", default="aiops", show_default=True,
              help="The name of this follower's event queue in Icinga.")
@click.option("--lookback", default=3600.0, show_default=True, type=click.FloatRange(0),
              help="At a first start (no state file in DATA_DIR/icinga/), also send "
                   "recoveries of the last this many seconds.")
@click.option("--idle-timeout", default=300.0, show_default=True,
              type=click.FloatRange(1), help="Reopen a stream silent this many seconds.")
@click.option("--stats-every", default=30.0, show_default=True, type=click.FloatRange(0),
              help="Seconds between progress lines on stderr; 0: none.")
@click.pass_context
@reports_bad_input
def icinga_follow(ctx: click.Context, api: Any, forward: str, queue: str, lookback: float,
                  idle_timeout: float, stats_every: float) -> None:
    """Forward Icinga's hard state changes, and its current problems, to an engine."""
    from aiops.forwarder import Forwarder
    from aiops.icinga_follower import IcingaFollower

    check_forward(forward)
    logging.basicConfig(level=logging.INFO, format="aiops: %(message)s")
    forwarder = Forwarder(forward.rstrip("/") + "/api/v1/webhooks/icinga")
    if not queue.replace("-", "").replace("_", "").isalnum():
        raise InputError(f"--queue must be letters, digits, '-' or '_', got {queue!r}")
    state_file = ctx.obj["data_dir"].path / "icinga" / f"{queue}.json"
    follower = IcingaFollower(api, forwarder, queue=queue, lookback=lookback,
                              idle_timeout=idle_timeout, state_file=state_file)
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    # Threads: the stream blocks in a read until an event comes, so the follower cannot
    # see a stop at once; it is a daemon the process leaves behind when it ends.
    threads = [threading.Thread(target=follower.run, args=(stopping,), daemon=True),
               threading.Thread(target=forwarder.run, args=(stopping,), daemon=True)]
    for thread in threads:
        thread.start()
    click.echo(f"following {api.url} as {api.user}; forwarding to {forwarder.url}", err=True)
    last = time.monotonic()
    while not stopping.wait(0.5) and threads[0].is_alive():
        if stats_every and time.monotonic() - last >= stats_every:
            last = time.monotonic()
            click.echo(f"{follower.stats.line()}; {forwarder.progress()}", err=True)
    stopping.set()
    forwarder.wake()
    threads[1].join(timeout=forwarder.timeout + 5)
    click.echo(f"icinga: stopped; {forwarder.progress()}"
               + (f" (not sent: {forwarder.pending()}; the engine: {forwarder.last_error})"
                  if forwarder.pending() else ""), err=True)
    if follower.refused is not None:
        click.echo(f"aiops: error: {follower.refused}", err=True)
        raise SystemExit(EXIT_BAD_INPUT)
    if follower.failed is not None:
        click.echo(f"aiops: error: the follower failed: {follower.failed!r}", err=True)
        raise SystemExit(1)


@icinga.command("check")
@connection_options
@reports_bad_input
def icinga_check(api: Any) -> None:
    """Read Icinga's problems and open its event stream once; exit 1 if it cannot be
    reached, 2 if it refuses the user."""
    from connectors.icinga import IcingaError, IcingaRefused

    try:
        items = api.problems(time.time() - 3600)
        api.events("aiops-check", 5.0).close()
    except IcingaRefused as exc:
        raise InputError(str(exc)) from None
    except IcingaError as exc:
        click.echo(f"aiops: error: {exc}", err=True)
        raise SystemExit(1) from None
    problems = sum(item["state"] not in ("OK", "UP") for item in items)
    click.echo(f"{api.url}: {problems} hosts and services in a hard problem state, "
               f"{len(items) - problems} recovered in the last hour; event stream: ok")
