"""``aiops zabbix follow|history|check``: Zabbix's problems by polling its API.

The media type in deploy/zabbix/ pushes each problem as Zabbix notifies it; ``follow``
is for sites that cannot add one, or want what a failed notification would lose: it
polls the API and forwards to the engine's ``/api/v1/webhooks/zabbix`` (docs/webhooks.md,
"Zabbix: polling its API"). ``history`` writes the problems Zabbix recorded before
(which ``follow`` never sends) to a file for ``aiops train``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

import click

from aiops.cli_base import main, reports_bad_input
from aiops.cli_follow import (
    FORWARD,
    STATS_EVERY,
    engine_forwarder,
    read_secret,
    run_follower,
)
from aiops.errors import InputError
from aiops.timeutil import to_rfc3339

TOKEN_ENV, PASSWORD_ENV = "AIOPS_ZABBIX_TOKEN", "AIOPS_ZABBIX_PASSWORD"


def connection_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The options that say which Zabbix API to read and as whom."""
    options = [
        click.option("--url", required=True,
                     help="Zabbix's API, e.g. https://zabbix.example.net/api_jsonrpc.php."),
        click.option("--token-file", type=click.Path(exists=True, dir_okay=False,
                                                     path_type=Path), default=None,
                     help=f"A file holding an API token (else ${TOKEN_ENV}); or --user."),
        click.option("--user", default=None, help="A Zabbix user (with a password), "
                     "instead of a token."),
        click.option("--password-file", type=click.Path(exists=True, dir_okay=False,
                                                        path_type=Path), default=None,
                     help=f"The user's password (else ${PASSWORD_ENV})."),
        click.option("--ca", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                     default=None, help="A CA certificate for an https URL (default: the "
                     "system's CAs)."),
    ]
    for option in reversed(options):
        func = option(func)

    @wraps(func)
    def wrapper(*args: Any, url: str, token_file: Path | None, user: str | None,
                password_file: Path | None, ca: Path | None, **kwargs: Any) -> Any:
        from connectors.zabbix_api import ZabbixApi

        if not url.startswith(("https://", "http://")):
            raise InputError(f"--url must be Zabbix's http(s) API URL, got {url!r}")
        if user:
            api = ZabbixApi(url, user=user, verify=str(ca) if ca else True,
                            password=read_secret(password_file, PASSWORD_ENV, "password",
                                                 "--password-file"))
        else:
            api = ZabbixApi(url, token=read_secret(token_file, TOKEN_ENV, "API token",
                                                   "--token-file (or --user)"),
                            verify=str(ca) if ca else True)
        return func(*args, api=api, **kwargs)

    # Its own checks fail before the command's ``reports_bad_input`` is reached.
    return reports_bad_input(wrapper)


@main.group()
def zabbix() -> None:
    """Zabbix: poll its API for problems into the engine, pull its problem history into
    a file, check a connection."""


@zabbix.command("follow")
@connection_options
@FORWARD
@click.option("--interval", default=30.0, show_default=True, type=click.FloatRange(1),
              help="Seconds between polls.")
@STATS_EVERY
@click.pass_context
@reports_bad_input
def zabbix_follow(ctx: click.Context, api: Any, forward: str, interval: float,
                  stats_every: float) -> None:
    """Forward Zabbix's new problems, and the recoveries of those sent, to an engine."""
    from aiops.zabbix_follower import ZabbixFollower, state_file_for

    forwarder = engine_forwarder(forward, "zabbix")
    logging.basicConfig(level=logging.INFO, format="aiops: %(message)s")
    follower = ZabbixFollower(api, forwarder, interval=interval,
                              state_file=state_file_for(ctx.obj["data_dir"].path, api.url))
    run_follower("zabbix", follower, forwarder, api.url, follower.stats.line, stats_every)


@zabbix.command("check")
@connection_options
@reports_bad_input
def zabbix_check(api: Any) -> None:
    """Ask Zabbix for its open problems once, and whether it names the users who
    suppress problems by hand; exit 1 if it cannot be reached, 2 if it refuses the
    credentials."""
    from connectors.zabbix_api import ZabbixError, ZabbixRefused
    from connectors.zabbix_users import names_check

    try:
        open_ids = api.open_problem_ids()
    except ZabbixRefused as exc:
        raise InputError(str(exc)) from None
    except ZabbixError as exc:
        click.echo(f"aiops: error: {exc}", err=True)
        raise SystemExit(1) from None
    click.echo(f"{api.url}: {len(open_ids)} trigger problems open")
    # Not a failure: the follower says those it cannot name by id.
    click.echo(f"{api.url}: {names_check(api.users)}")


@zabbix.command("history")
@connection_options
@click.option("--since", required=True,
              help="Start of the span: a duration back from now (30d, 12h, 90m), a date "
                   "(2026-01-31, midnight UTC) or an RFC 3339 time.")
@click.option("--until", default=None,
              help="End of the span, written as --since (default: now).")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The alerts file to write (canonical JSON Lines, for 'aiops train "
                   "--alerts'); replaced only when the pull is complete.")
@click.option("--page-size", default=1000, show_default=True, type=click.IntRange(1, 10_000),
              help="Problem events listed per API call.")
@click.option("--resume", is_flag=True,
              help="Continue the stopped pull to --out (its OUT.partial and "
                   "OUT.checkpoint) with the same --url and span; a --since/--until "
                   "given as a duration (30d) means the checkpoint's.")
@click.pass_context
@reports_bad_input
def zabbix_history(ctx: click.Context, api: Any, since: str, until: str | None, out: Path,
                   page_size: int, resume: bool) -> None:
    """Write the trigger problems Zabbix recorded in a span as canonical alerts (the
    alerts 'follow' would have sent, ended at their recoveries); exit 1 if Zabbix fails
    or goes away part-way (the pages written kept for --resume), 2 for bad arguments,
    a checkpoint of another pull or refused credentials, 143 on SIGTERM and 130 on
    SIGINT (the pages written kept for --resume)."""
    from aiops.stop_signals import Stopped, stopping_on_signals
    from aiops.zabbix_history import LOCKING, NO_LOCKING

    if not LOCKING:
        click.echo(f"aiops: error: {NO_LOCKING}", err=True)
        raise SystemExit(1)
    with stopping_on_signals():
        try:
            _pull(ctx, api, since, until, out, page_size, resume)
        except Stopped as exc:  # outside the pull itself (which says what it kept)
            click.echo(f"aiops: error: {exc}", err=True)
            raise SystemExit(exc.exit_status) from None


def _pull(ctx: click.Context, api: Any, since: str, until: str | None, out: Path,
          page_size: int, resume: bool) -> None:
    """``zabbix history``'s work, stopped by ``Stopped``."""
    from aiops.stop_signals import Stopped
    from aiops.zabbix_checkpoint import pull_files, read_checkpoint
    from aiops.zabbix_history import HistoryFailed, parse_moment, pull_history
    from connectors.webhook_mapping import find_mapping
    from connectors.zabbix_api import ZabbixRefused

    now = time.time()
    start = parse_moment(since, "since", now)
    end = parse_moment(until, "until", now) if until is not None else now
    if end < start:
        raise InputError(f"--until {until!r} is before --since {since!r}")
    if out.is_dir() or not out.parent.is_dir():
        raise InputError(f"--out {out}: " + ("a directory" if out.is_dir()
                                              else f"no directory {out.parent}"))
    # The engine's own mapping (a data dir's zabbix.yml included): the alerts the
    # follower would have made of these problems.
    mapping = find_mapping(ctx.obj["data_dir"].path / "webhooks", "zabbix")
    partial, checkpoint_file = pull_files(out)
    checkpoint = None
    if resume:
        checkpoint = read_checkpoint(checkpoint_file)
        start, end = _resumed_span(checkpoint, checkpoint_file, api.url, mapping, since,
                                   until, start, end)
    elif partial.exists():
        click.echo(f"aiops: zabbix history: replacing the stopped pull in {partial} "
                   "(--resume would have continued it)", err=True)
    began = time.monotonic()
    try:
        pulled = pull_history(api, mapping, out, start, end, page=page_size,
                              resume=checkpoint,
                              progress=lambda p: click.echo(f"aiops: zabbix history: "
                                                            f"{p.line()}", err=True))
    except HistoryFailed as exc:
        if isinstance(exc.cause, ZabbixRefused):
            raise InputError(str(exc)) from None
        click.echo(f"aiops: error: {exc}", err=True)
        raise SystemExit(exc.cause.exit_status if isinstance(exc.cause, Stopped)
                         else 1) from None
    finally:
        api.logout()
    seconds = max(time.monotonic() - began, 1e-6)
    read = pulled.written + pulled.skipped - pulled.resumed  # by this run
    # Zabbix's whole seconds, as asked (time_from, time_till).
    span = f"{to_rfc3339(int(start))} to {to_rfc3339(int(end))}"
    resumed = (f"; resumed after {pulled.resumed} events" if checkpoint is not None
               else "")
    click.echo(f"{out}: {pulled.written} alerts ({pulled.still_open} still open, "
               f"{pulled.skipped} events skipped) of the trigger problems of {api.url} "
               f"from {span}; {pulled.pages - pulled.resumed_pages} pages in "
               f"{seconds:.2f} s ({read / seconds:.0f} events/s){resumed}")
    if not pulled.written:
        click.echo("aiops: warning: no problem in that span: 'aiops train' needs at least "
                   "one alert", err=True)


def _resumed_span(checkpoint: Any, where: Path, url: str, mapping: Any, since: str,
                  until: str | None, start: float, end: float) -> tuple[float, float]:
    """The span a ``--resume`` pulls: the checkpoint's, so that ``--since 30d`` means
    the moment it meant at the first run. A ``--since``/``--until`` given as a date or
    time must say the checkpoint's (or it is another pull: exit 2), as must ``--url``
    and the mapping."""
    from aiops.zabbix_checkpoint import Span, mapping_identity
    from aiops.zabbix_history import is_duration

    saved = checkpoint.span
    given = Span(url, saved.since if is_duration(since) else int(start),
                 saved.until if until is None or is_duration(until) else int(end),
                 mapping_identity(mapping))
    differs = saved.differences(given)
    if differs:
        raise InputError(f"--resume: {where} is of another pull: "
                         + "; ".join(differs))
    return float(saved.since), float(saved.until)
