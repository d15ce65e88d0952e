"""``aiops icinga follow|check``: Icinga 2's hard state changes as alerts.

``follow`` runs beside ``aiops serve`` (like ``aiops syslog listen``) and forwards to
its ``/api/v1/webhooks/icinga``; ``check`` tries the connection and the API user's
permissions once, which is how a setup is tested.
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
        password = read_secret(password_file, PASSWORD_ENV, "password", "--password-file")
        api = IcingaApi(url.rstrip("/"), user, password,
                        verify=str(ca) if ca else not insecure)
        if insecure:
            click.echo("aiops: warning: --insecure: Icinga's certificate is not checked",
                       err=True)
        return func(*args, api=api, **kwargs)

    # Its own checks fail before the command's ``reports_bad_input`` is reached.
    return reports_bad_input(wrapper)


@main.group()
def icinga() -> None:
    """Icinga 2: follow its hard state changes into the engine, check a connection."""


@icinga.command("follow")
@connection_options
@FORWARD
@click.option("--queue", default="aiops", show_default=True,
              help="The name of this follower's event queue in Icinga.")
@click.option("--lookback", default=3600.0, show_default=True, type=click.FloatRange(0),
              help="At a first start (no state file in DATA_DIR/icinga/), also send "
                   "recoveries of the last this many seconds.")
@click.option("--idle-timeout", default=300.0, show_default=True,
              type=click.FloatRange(1), help="Reopen a stream silent this many seconds.")
@STATS_EVERY
@click.pass_context
@reports_bad_input
def icinga_follow(ctx: click.Context, api: Any, forward: str, queue: str, lookback: float,
                  idle_timeout: float, stats_every: float) -> None:
    """Forward Icinga's hard state changes, and its current problems, to an engine."""
    from aiops.icinga_follower import IcingaFollower

    forwarder = engine_forwarder(forward, "icinga")
    logging.basicConfig(level=logging.INFO, format="aiops: %(message)s")
    if not queue.replace("-", "").replace("_", "").isalnum():
        raise InputError(f"--queue must be letters, digits, '-' or '_', got {queue!r}")
    state_file = ctx.obj["data_dir"].path / "icinga" / f"{queue}.json"
    follower = IcingaFollower(api, forwarder, queue=queue, lookback=lookback,
                              idle_timeout=idle_timeout, state_file=state_file)
    run_follower("icinga", follower, forwarder, f"{api.url} as {api.user}",
                 follower.stats.line, stats_every)


@icinga.command("check")
@connection_options
@reports_bad_input
def icinga_check(api: Any) -> None:
    """Read Icinga's problems and open its event stream once; exit 1 if it cannot be
    reached, 2 if it refuses the user."""
    from aiops.icinga_follower import WITHOUT, WITHOUT_QUERY
    from connectors.icinga import OPTIONAL_EVENTS, IcingaError, IcingaRefused, open_stream

    stream, who = "ok", "ok"
    try:
        items = api.problems(time.time() - 3600)
        opened, refused = open_stream(api, "aiops-check", 5.0, list(OPTIONAL_EVENTS))
        opened.close()
        if refused:
            # A user without some optional events still follows (aiops.icinga_follower):
            # say what it lacks, as the follower does.
            only = "state changes only" if len(refused) == len(OPTIONAL_EVENTS) \
                else "without " + ", ".join(refused)
            stream = f"ok, {only} (" + "; ".join(
                f"{WITHOUT[name]}: {exc}" for name, exc in refused.items()) + ")"
        # A user who may not query comments or downtimes also still follows.
        lacking = []
        for name, query in (("comments", api.acknowledgement_comments),
                            ("downtimes", api.downtimes_in_effect)):
            try:
                query()
            except IcingaRefused as exc:
                lacking.append(f"{WITHOUT_QUERY[name]}: {exc}")
        if lacking:
            who = "not readable (" + "; ".join(lacking) + ")"
    except IcingaRefused as exc:
        raise InputError(str(exc)) from None
    except IcingaError as exc:
        click.echo(f"aiops: error: {exc}", err=True)
        raise SystemExit(1) from None
    problems = sum(item["state"] not in ("OK", "UP") for item in items)
    click.echo(f"{api.url}: {problems} hosts and services in a hard problem state, "
               f"{len(items) - problems} recovered in the last hour; event stream: {stream}; "
               f"who acknowledged and which downtimes: {who}")
