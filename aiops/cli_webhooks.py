"""``aiops webhooks list|check|try``: the mappings that turn tools' JSON into alerts.

``try`` is how an operator writes a mapping: it shows the canonical alerts a saved
notification would become, or the error naming the item and field, and stores nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from aiops.cli_base import check_files, main, reports_bad_input
from aiops.errors import InputError


def _folder(ctx: click.Context) -> Path:
    return ctx.obj["data_dir"].path / "webhooks"


@main.group()
def webhooks() -> None:
    """Webhook mappings: built-in ones and the data dir's webhooks/*.yml."""


@webhooks.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def webhooks_list(ctx: click.Context, as_json: bool) -> None:
    """The mappings that load (each is POST /api/v1/webhooks/NAME), and refused files."""
    from connectors.webhook_mapping import load_mappings

    found, errors = load_mappings(_folder(ctx))
    if as_json:
        click.echo(json.dumps({"folder": str(_folder(ctx)),
                               "webhooks": [found[n].summary_view() for n in sorted(found)],
                               "errors": errors}, indent=1))
        return
    for name in sorted(found):
        click.echo(f"{name:<20} source {found[name].source:<14} {found[name].origin}")
    for error in errors:
        click.echo(f"refused: {error}", err=True)


@webhooks.command("check")
@click.pass_context
def webhooks_check(ctx: click.Context) -> None:
    """Exit 2 naming every refused mapping file (for CI on a repository of them)."""
    from connectors.webhook_mapping import load_mappings

    found, errors = load_mappings(_folder(ctx))
    check_files("mappings", len(found), errors, _folder(ctx))


@webhooks.command("try")
@click.argument("name")
@click.argument("payload", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
@reports_bad_input
def webhooks_try(ctx: click.Context, name: str, payload: Path) -> None:
    """Print the alerts that mapping NAME makes of the JSON in PAYLOAD (nothing stored)."""
    from connectors.webhook_mapping import find_mapping

    mapping = find_mapping(_folder(ctx), name)
    try:
        body = json.loads(payload.read_bytes())
    except UnicodeDecodeError:
        raise InputError(f"{payload.name}: not UTF-8 text") from None
    except ValueError as exc:
        raise InputError(f"{payload.name}: not JSON ({exc})") from None
    mapped = mapping.apply(body)
    for i, alert in enumerate(mapped.alerts):
        record = alert.to_dict()
        if i in mapped.start_unknown and i in mapped.state_report \
                and "ends_at" not in record:
            record["note"] = ("a state report that says no start: the firing alert of "
                              "its condition takes its severity, summary and status "
                              "labels; with none it makes no alert")
        elif i in mapped.start_unknown:
            record["note"] = ("a recovery that does not say when its problem began: the "
                              "engine gives it the start of the live alert it ends")
        elif i in mapped.state_report:
            record["note"] = ("a state report: the firing alert of its condition takes "
                              "its severity and summary")
        click.echo(json.dumps(record))
