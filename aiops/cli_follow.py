"""What the commands that forward events to an engine share: the listeners (``aiops
syslog listen``, ``aiops traps listen``) and the followers of another tool's API
(``aiops icinga follow``, ``aiops zabbix follow``): the ``--forward`` and
``--stats-every`` options, the forwarder to a mapping's URL, the line said at a stop;
and, for the followers, reading a secret without putting it on the command line and
running beside the forwarder until SIGTERM with progress lines."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from aiops.cli_base import EXIT_BAD_INPUT
from aiops.errors import InputError

if TYPE_CHECKING:  # imported when a forwarder is made: HTTP is no part of other commands
    from aiops.forwarder import Forwarder

FORWARD = click.option("--forward", required=True,
                       help="The engine's base URL, e.g. http://127.0.0.1:8080.")
STATS_EVERY = click.option("--stats-every", default=30.0, show_default=True,
                           type=click.FloatRange(0),
                           help="Seconds between progress lines on stderr; 0: none.")


def engine_forwarder(forward: str, mapping: str) -> Forwarder:
    """A forwarder to the engine at ``forward`` (its base URL, checked) posting to the
    webhook mapping ``mapping``."""
    if not forward.startswith(("http://", "https://")):
        raise InputError(f"--forward must be an http(s) URL, got {forward!r}")
    from aiops.forwarder import Forwarder

    token_file = os.environ.get("AIOPS_FORWARD_TOKEN_FILE")
    token = read_secret(Path(token_file), "AIOPS_FORWARD_TOKEN_FILE", "token",
                        "AIOPS_FORWARD_TOKEN_FILE") if token_file else None
    return Forwarder(forward.rstrip("/") + f"/api/v1/webhooks/{mapping}", token=token)


def stopped_line(name: str, forwarder: Forwarder) -> str:
    """What a command says when it stops: what was forwarded, and what was not."""
    return (f"{name}: stopped; {forwarder.progress()}"
            + (f" (not sent: {forwarder.pending()}; the engine: {forwarder.last_error})"
               if forwarder.pending() else ""))


def read_secret(path: Path | None, env: str, what: str, option: str) -> str:
    """From a file (a password file, a token file), else the environment: never from
    the command line, which every user of the machine can read in the process list."""
    if path is not None:
        try:
            secret = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:  # unreadable, or not text
            raise InputError(f"{option} {path} cannot be read: "
                             f"{getattr(exc, 'strerror', None) or exc}") from None
        if not secret:
            raise InputError(f"{option} {path} is empty")
        return secret
    if os.environ.get(env):
        return os.environ[env]
    raise InputError(f"no {what}: give {option} or set {env}")


def run_follower(name: str, follower: Any, forwarder: Forwarder, source: str,
                 stats: Callable[[], str], stats_every: float) -> None:
    """Run ``follower.run`` and ``forwarder.run`` until SIGTERM or Ctrl-C (or the
    follower stops: refused, failed), then send what is held and let the follower write
    its state (``follower.finish``). Exit 2 when the source refused the credentials or
    a call, 1 on an unforeseen failure."""
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    # Threads: the follower may block in a read (an event stream) and not see a stop at
    # once; it is a daemon the process leaves behind when it ends.
    threads = [threading.Thread(target=follower.run, args=(stopping,), daemon=True),
               threading.Thread(target=forwarder.run, args=(stopping,), daemon=True)]
    for thread in threads:
        thread.start()
    click.echo(f"following {source}; forwarding to {forwarder.url}", err=True)
    last = time.monotonic()
    while not stopping.wait(0.5) and threads[0].is_alive():
        if stats_every and time.monotonic() - last >= stats_every:
            last = time.monotonic()
            click.echo(f"{stats()}; {forwarder.progress()}", err=True)
    stopping.set()
    # A poll in progress ends first (``stop_grace`` seconds at most; a stream read,
    # which only an event ends, is left behind), so what it queues is in the
    # forwarder's last flush and in what ``finish`` writes.
    threads[0].join(timeout=follower.stop_grace)
    forwarder.wake()
    threads[1].join(timeout=forwarder.timeout + 5)
    follower.finish()
    click.echo(stopped_line(name, forwarder), err=True)
    if follower.refused is not None:
        click.echo(f"aiops: error: {follower.refused}", err=True)
        raise SystemExit(EXIT_BAD_INPUT)
    if follower.failed is not None:
        click.echo(f"aiops: error: the follower failed: {follower.failed!r}", err=True)
        raise SystemExit(1)

