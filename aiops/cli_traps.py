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
    """SNMP traps (v1, v2c) from network devices: listen and forward, check rules."""


@traps.command("listen")
@click.option("--udp", required=True, help="HOST:PORT to receive traps on (e.g. 0.0.0.0:162).")
@FORWARD
@click.option("--community", "communities", multiple=True,
              help="Accept only traps with this community (repeatable; default: any).")
@RULES
@STATS_EVERY
@click.pass_context
@reports_bad_input
def traps_listen(ctx: click.Context, udp: str, forward: str, communities: tuple[str, ...],
                 rules_dir: Path | None, stats_every: float) -> None:
    """Receive SNMP traps and forward the alert events their rules make to an engine."""
    from aiops.trap_listener import TrapHandler
    from connectors.snmp_traps import load_trap_rules

    forwarder = engine_forwarder(forward, "snmptrap")
    where = address(udp, "--udp")
    rules, errors = load_trap_rules(_rules_dir(ctx, rules_dir))
    for error in errors:
        click.echo(f"aiops: refused rule file: {error}", err=True)
    handler = TrapHandler(rules, forwarder, frozenset(communities) if communities else None)
    serve_listener("traps", handler, len(rules.rules), where, None, stats_every)


@traps.command("check")
@RULES
@click.pass_context
def traps_check(ctx: click.Context, rules_dir: Path | None) -> None:
    """Exit 2 naming every refused trap rule file."""
    from connectors.snmp_traps import load_trap_rules

    rules, errors = load_trap_rules(_rules_dir(ctx, rules_dir))
    check_files("rules", len(rules.rules), errors, _rules_dir(ctx, rules_dir))
