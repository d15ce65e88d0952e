"""``aiops zabbix follow|check``: Zabbix's problems by polling its API.

The media type in deploy/zabbix/ pushes each problem as Zabbix notifies it; ``follow``
is for sites that cannot add one, or want what a failed notification would lose: it
polls the API and forwards to the engine's ``/api/v1/webhooks/zabbix`` (docs/webhooks.md,
"Zabbix: polling its API").
"""

from __future__ import annotations

import logging
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
    """Zabbix: poll its API for problems into the engine, check a connection."""


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
    """Ask Zabbix for its open problems once; exit 1 if it cannot be reached, 2 if it
    refuses the credentials."""
    from connectors.zabbix_api import ZabbixError, ZabbixRefused

    try:
        open_ids = api.open_problem_ids()
    except ZabbixRefused as exc:
        raise InputError(str(exc)) from None
    except ZabbixError as exc:
        click.echo(f"aiops: error: {exc}", err=True)
        raise SystemExit(1) from None
    click.echo(f"{api.url}: {len(open_ids)} trigger problems open")
