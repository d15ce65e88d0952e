"""``aiops prune``: delete from the store what ended before a cutoff (docs/architecture.md,
"Retention"; what goes and what stays: ``aiops.retention``)."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING

import click

from aiops.cli_base import main, progress, reports_bad_input
from aiops.errors import InputError
from aiops.timeutil import parse_duration, parse_timestamp, to_rfc3339

if TYPE_CHECKING:
    from aiops.retention import PruneReport


def parse_cutoff(text: str, now: float) -> float:
    """``--older-than``: an age (``90d``, ``12h``, seconds) before ``now``, or an RFC 3339
    time; an InputError naming the option otherwise."""
    try:
        return now - parse_duration(text, "--older-than")
    except InputError:
        pass
    if not _is_number(text):  # a number is an age in seconds, never an epoch time
        try:
            return parse_timestamp(text, "--older-than")
        except ValueError:
            pass
    raise InputError(f"'--older-than' must be an age such as 90d, 12h, 30m or seconds, or "
                     f"an RFC 3339 time such as 2026-01-31T00:00:00Z, got {text!r}",
                     field="--older-than")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@main.command("prune")
@click.option("--older-than", "older_than", required=True,
              help="Delete what ended before this: an age (90d, 12h, 30m, seconds) or "
                   "an RFC 3339 time.")
@click.option("--dry-run", is_flag=True, help="Count what would go; delete nothing.")
@click.option("--vacuum", is_flag=True,
              help="Afterwards give the space back: SQLite rewrites the whole file "
                   "(locks the store meanwhile, needs as much free disk as the file); "
                   "PostgreSQL runs VACUUM ANALYZE on the pruned tables.")
@click.option("--batch", type=click.IntRange(1, 100_000), default=None,
              help="Rows per transaction (default 2000).")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@click.option("--allow-short-history", is_flag=True,
              help="Prune even inside the window scheduled retraining (AIOPS_RETRAIN_DAYS) "
                   "or the drift check (AIOPS_DRIFT_WINDOW) reads; refused without it.")
@click.pass_context
@reports_bad_input
def prune_command(ctx: click.Context, older_than: str, dry_run: bool, vacuum: bool,
                  batch: int | None, as_json: bool, allow_short_history: bool) -> None:
    """Delete resolved incidents, their alerts and raw events, and clears that ended no
    alert, all ended before the cutoff; open incidents, firing alerts and what a
    restart reads back stay (a cutoff inside that is moved back, with a message).
    A cutoff inside what scheduled retraining or the drift check reads is refused
    (exit 2) unless --allow-short-history. Ended and expired sign-in sessions go too,
    whatever the cutoff."""
    from aiops import retention
    from aiops.retention_guard import history_floor
    from aiops.store.db import open_database

    asked = parse_cutoff(older_than, time.time())
    data_dir = ctx.obj["data_dir"]
    data_dir.path.mkdir(parents=True, exist_ok=True)
    db = open_database(data_dir.url())
    try:
        plan = retention.plan(db, asked, data_dir.settings)
        if not allow_short_history:
            with db.connect() as conn:
                needed = history_floor(conn, data_dir)
            if needed is not None and plan.cutoff > needed.floor:
                raise InputError(needed.refusal(plan.cutoff), field="--older-than")
        if plan.clamped:
            click.echo(f"aiops: cutoff {to_rfc3339(asked)} is inside what the engine reads "
                       f"back on a restart; the earliest allowed is {to_rfc3339(plan.floor)},"
                       f" pruning before it instead", err=True)
        if dry_run:
            report = retention.dry_run(db, plan)
        else:
            total = sum(retention.count(db, plan).values())
            with progress(total, "pruning") as bar:
                report = retention.prune(db, plan, batch or retention.BATCH, bar.update)
        vacuumed = retention.vacuum(db) if vacuum and not dry_run else None
    finally:
        db.dispose()
    _show(report, vacuumed, as_json)


def _show(report: PruneReport, vacuumed: float | None, as_json: bool) -> None:
    counts = report.deleted
    if as_json:
        click.echo(json.dumps({"cutoff": to_rfc3339(report.cutoff), "clamped": report.clamped,
                               "dry_run": report.dry_run, "deleted": counts,
                               "seconds": round(report.seconds, 3),
                               "longest_batch_seconds": round(report.longest_batch, 3),
                               "vacuum_seconds": vacuumed}, indent=1))
        return
    verb = "would delete" if report.dry_run else "deleted"
    listed = ", ".join(f"{n} {table.replace('_', ' ')}" for table, n in counts.items())
    click.echo(f"{verb} what ended before {to_rfc3339(report.cutoff)}: {listed}")
    if not report.dry_run:
        click.echo(f"{report.total} rows in {report.seconds:.1f} s, longest transaction "
                   f"{report.longest_batch * 1000:.0f} ms")
    if vacuumed is not None:
        click.echo(f"vacuumed in {vacuumed:.1f} s")
