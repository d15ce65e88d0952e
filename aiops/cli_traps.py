"""``aiops traps listen|check``: SNMP traps from network devices as alerts."""

from __future__ import annotations

from pathlib import Path

import click

from aiops.cli_base import check_files, main, reports_bad_input
from aiops.cli_follow import FORWARD, STATS_EVERY, engine_forwarder
from aiops.cli_syslog import address, serve_listener

RULES = click.option("--rules-dir", type=click.Path(file_okay=False, path_type=Path),
                     default=None, help="Folder of trap rule files (default: DATA_DIR/traps).")


def _rules_dir(ctx: click.Context, given: Path | None) -> Path:
    return given or ctx.obj["data_dir"].path / "traps"


@main.group()
def traps() -> None:
    """SNMP traps (v1, v2c, v3) from network devices: listen and forward, check rules."""


@traps.command("listen")
@click.option("--udp", required=True, help="HOST:PORT to receive traps on (e.g. 0.0.0.0:162).")
@FORWARD
@click.option("--community", "communities", multiple=True,
              help="Accept only v1/v2c traps with this community (repeatable; default: any).")
@click.option("--v3-users", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="YAML file of SNMPv3 users (USM) whose traps and informs are read "
                   "(docs/syslog.md); without it SNMPv3 is not read.")
@RULES
@STATS_EVERY
@click.pass_context
@reports_bad_input
def traps_listen(ctx: click.Context, udp: str, forward: str, communities: tuple[str, ...],
                 v3_users: Path | None, rules_dir: Path | None, stats_every: float) -> None:
    """Receive SNMP traps and forward the alert events their rules make to an engine."""
    from aiops.trap_listener import TrapHandler
    from connectors.snmp_traps import load_trap_rules

    v3 = None
    if v3_users is not None:
        from connectors.snmp_v3 import V3Receiver, read_v3_users

        v3 = V3Receiver(read_v3_users(v3_users))
        click.echo(f"SNMPv3: {len(v3.users)} users; our engine id 0x{v3.engine_id.hex()} "
                   "(what informs are sent to)", err=True)
    forwarder = engine_forwarder(forward, "snmptrap")
    where = address(udp, "--udp")
    rules, errors = load_trap_rules(_rules_dir(ctx, rules_dir))
    for error in errors:
        click.echo(f"aiops: refused rule file: {error}", err=True)
    handler = TrapHandler(rules, forwarder, frozenset(communities) if communities else None,
                          v3)
    serve_listener("traps", handler, len(rules.rules), where, None, stats_every)


@traps.command("check")
@RULES
@click.pass_context
def traps_check(ctx: click.Context, rules_dir: Path | None) -> None:
    """Exit 2 naming every refused trap rule file."""
    from connectors.snmp_traps import load_trap_rules

    rules, errors = load_trap_rules(_rules_dir(ctx, rules_dir))
    check_files("rules", len(rules.rules), errors, _rules_dir(ctx, rules_dir))
