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
    from aiops.retention_audit import AuditReport


def parse_cutoff(text: str, now: float, option: str = "--older-than") -> float:
    """``--older-than`` (or ``option``): an age (``90d``, ``12h``, seconds) before ``now``,
    or an RFC 3339 time; an InputError naming the option otherwise."""
    try:
        return now - parse_duration(text, option)
    except InputError:
        pass
    if not _is_number(text):  # a number is an age in seconds, never an epoch time
        try:
            return parse_timestamp(text, option)
        except ValueError:
            pass
    raise InputError(f"'{option}' must be an age such as 90d, 12h, 30m or seconds, or "
                     f"an RFC 3339 time such as 2026-01-31T00:00:00Z, got {text!r}",
                     field=option)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@main.command("prune")
@click.option("--older-than", "older_than", default=None,
              help="Delete what ended before this: an age (90d, 12h, 30m, seconds) or "
                   "an RFC 3339 time.")
@click.option("--audit-older-than", "audit_older_than", default=None,
              help="Also delete the audit trails older than this (operator feedback, "
                   "finished playbook runs, resolved tickets): an age or an RFC 3339 time; "
                   "off unless given.")
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
                   "or the drift check (AIOPS_DRIFT_WINDOW) reads, feedback and tickets "
                   "too; refused (kept) without it.")
@click.pass_context
@reports_bad_input
def prune_command(ctx: click.Context, older_than: str | None, audit_older_than: str | None,
                  dry_run: bool, vacuum: bool, batch: int | None, as_json: bool,
                  allow_short_history: bool) -> None:
    """Delete resolved incidents, their alerts and raw events, and clears that ended no
    alert, all ended before the cutoff; open incidents, firing alerts and what a
    restart reads back stay (a cutoff inside that is moved back, with a message).
    A cutoff inside what scheduled retraining or the drift check reads is refused
    (exit 2) unless --allow-short-history. Ended and expired sign-in sessions go too,
    whatever the cutoff. With --audit-older-than, feedback, finished playbook runs and
    resolved tickets older than it go too (those retraining or drift read stay)."""
    from aiops import retention, retention_audit
    from aiops.retention_guard import history_floor
    from aiops.store.db import open_database

    if older_than is None and audit_older_than is None:
        raise InputError("give --older-than, --audit-older-than or both", field="--older-than")
    now = time.time()
    asked = None if older_than is None else parse_cutoff(older_than, now)
    audit_plan = None if audit_older_than is None else retention_audit.AuditRetention(
        parse_cutoff(audit_older_than, now, "--audit-older-than"))
    data_dir = ctx.obj["data_dir"]
    data_dir.path.mkdir(parents=True, exist_ok=True)
    db = open_database(data_dir.url())
    size = batch or retention.BATCH
    report = audit = None
    try:
        needed = None
        if not allow_short_history:
            with db.connect() as conn:
                needed = history_floor(conn, data_dir)
        plan = None if asked is None else retention.plan(db, asked, data_dir.settings, now)
        if plan is not None:
            if needed is not None and plan.cutoff > needed.floor:
                raise InputError(needed.refusal(plan.cutoff), field="--older-than")
            if plan.clamped:
                click.echo(f"aiops: cutoff {to_rfc3339(asked)} is inside what the engine "
                           f"reads back on a restart; the earliest allowed is "
                           f"{to_rfc3339(plan.floor)}, pruning before it instead", err=True)
        if audit_plan is not None and needed is not None:
            audit_plan = retention_audit.AuditRetention(audit_plan.cutoff, needed.floor)
        if dry_run:
            report = None if plan is None else retention.dry_run(db, plan)
            audit = None if audit_plan is None else retention_audit.count(db, audit_plan, size)
        else:
            total = 0 if plan is None else sum(retention.count(db, plan).values())
            if audit_plan is not None:
                total += retention_audit.count(db, audit_plan, size).total
            with progress(total, "pruning") as bar:
                if plan is not None:
                    report = retention.prune(db, plan, size, bar.update)
                if audit_plan is not None:
                    audit = retention_audit.prune_audit(db, audit_plan, size, bar.update)
        tables = retention.TABLES + (retention_audit.AUDIT_TABLES if audit else ())
        vacuumed = retention.vacuum(db, tables) if vacuum and not dry_run else None
    finally:
        db.dispose()
    _show(report, audit, vacuumed, as_json, dry_run)


def _show(report: PruneReport | None, audit: AuditReport | None, vacuumed: float | None,
          as_json: bool, dry_run: bool) -> None:
    if as_json:
        seconds = sum(r.seconds for r in (report, audit) if r is not None)
        longest = max((r.longest_batch for r in (report, audit) if r is not None), default=0.0)
        click.echo(json.dumps({
            "cutoff": None if report is None else to_rfc3339(report.cutoff),
            "clamped": None if report is None else report.clamped, "dry_run": dry_run,
            "deleted": None if report is None else report.deleted,
            "audit": None if audit is None else {
                "cutoff": to_rfc3339(audit.cutoff), "deleted": audit.deleted,
                "kept_for_history": audit.kept},
            "seconds": round(seconds, 3), "longest_batch_seconds": round(longest, 3),
            "vacuum_seconds": vacuumed}, indent=1))
        return
    verb = "would delete" if dry_run else "deleted"
    if report is not None:
        listed = ", ".join(f"{n} {table.replace('_', ' ')}"
                           for table, n in report.deleted.items())
        click.echo(f"{verb} what ended before {to_rfc3339(report.cutoff)}: {listed}")
    if audit is not None:
        listed = ", ".join(f"{n} {table.replace('_', ' ')}" for table, n in audit.deleted.items())
        kept = audit.kept
        click.echo(f"{verb} the audit trails older than {to_rfc3339(audit.cutoff)}: {listed}"
                   f" (kept, read by retraining or drift: {kept['feedback']} feedback, "
                   f"{kept['tickets']} tickets)")
    for done in (report, audit):
        if done is not None and not dry_run:
            click.echo(f"{done.total} rows in {done.seconds:.1f} s, longest transaction "
                       f"{done.longest_batch * 1000:.0f} ms")
    if vacuumed is not None:
        click.echo(f"vacuumed in {vacuumed:.1f} s")
