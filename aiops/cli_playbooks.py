"""``aiops playbooks list|check|match|run|runs``: remediation playbooks from the shell."""

from __future__ import annotations

import getpass
import json
import os
import sys
from typing import Any

import click

from aiops.cli_base import check_files, main, reports_bad_input, runtime_of
from aiops.errors import InputError


@main.group()
def playbooks() -> None:
    """Remediation playbooks in the data dir's playbooks/ folder: list, check, run."""


@playbooks.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def playbooks_list(ctx: click.Context, as_json: bool) -> None:
    """The playbooks that load, and why any file was refused."""
    from aiops.playbooks.request import load, playbooks_dir

    runtime = runtime_of(ctx)
    found, errors = load(runtime)
    if as_json:
        click.echo(json.dumps({"folder": str(playbooks_dir(runtime)),
                               "playbooks": [found[n].summary() for n in sorted(found)],
                               "errors": errors}, indent=1))
        return
    if not found and not errors:
        click.echo(f"no playbooks in {playbooks_dir(runtime)}", err=True)
    for name in sorted(found):
        book = found[name]
        criteria = "; ".join(f"{k}: {', '.join(v)}" for k, v in book.match.items()) or "any"
        click.echo(f"{name:<24} {len(book.steps)} steps  match {criteria}  {book.description}")
    for error in errors:
        click.echo(f"refused: {error}", err=True)


@playbooks.command("check")
@click.pass_context
def playbooks_check(ctx: click.Context) -> None:
    """Exit 2 naming every refused file (for CI on a repository of playbooks)."""
    from aiops.playbooks.request import load, playbooks_dir

    runtime = runtime_of(ctx)
    found, errors = load(runtime)
    check_files("playbooks", len(found), errors, playbooks_dir(runtime))


@playbooks.command("match")
@click.argument("incident_id")
@click.pass_context
@reports_bad_input
def playbooks_match(ctx: click.Context, incident_id: str) -> None:
    """The playbooks that fit an incident, and why."""
    from aiops.playbooks.match import matching
    from aiops.playbooks.request import load
    from aiops.tickets.recommend import incident_detail

    runtime = runtime_of(ctx)
    found, _ = load(runtime)
    with runtime.db.connect() as conn:
        fits = matching(found, incident_detail(conn, runtime, incident_id))
    if not fits:
        click.echo(f"no playbook fits incident {incident_id}", err=True)
    for item in fits:
        click.echo(f"{item['name']:<24} {'; '.join(item['reasons'])}")


def _print_run(run: dict[str, Any]) -> None:
    click.echo(f"run {run['id']}: {run['playbook']} on {run['incident_id']}: {run['status']}"
               + (f" ({run['error']})" if run.get("error") else ""))
    for step in run["steps"]:
        target = step["request"].get("url") or " ".join(step["request"].get("argv", []))
        click.echo(f"  {step['status']:<9} {step['name']}: {target}")
        if step.get("detail"):
            click.echo("            " + step["detail"].strip().replace("\n", "\n            "))


@playbooks.command("run")
@click.argument("incident_id")
@click.argument("name")
@click.option("--dry-run", is_flag=True, help="Record the filled steps; run nothing.")
@click.option("--queue", is_flag=True,
              help="Send it to a Celery worker (AIOPS_BROKER_URL) instead of running here.")
@click.option("--by", "requested_by", default=None, help="Who asks (default: $USER).")
@click.option("--idempotency-key", "key", default=None,
              help="Name this request: asking again with the same key shows the run it "
                   "made instead of running the playbook again.")
@click.option("--force", is_flag=True,
              help="Run even while another run of the playbook on the incident is "
                   "queued or running.")
@click.pass_context
@reports_bad_input
def playbooks_run(ctx: click.Context, incident_id: str, name: str, dry_run: bool,
                  queue: bool, requested_by: str | None, key: str | None,
                  force: bool) -> None:
    """Run playbook NAME for INCIDENT_ID; exit 1 if the run failed."""
    from aiops.playbooks import runs
    from aiops.playbooks.request import dispatch, submit_run

    if queue and not os.environ.get("AIOPS_BROKER_URL"):
        raise InputError("--queue sends the run to a Celery worker and needs "
                         "AIOPS_BROKER_URL (without it, leave --queue out to run it here)")
    runtime = runtime_of(ctx)
    record, created = submit_run(runtime, incident_id, name,
                                 requested_by or getpass.getuser(), dry_run,
                                 idempotency_key=key, force=force)
    if not created:
        click.echo(f"run {record['id']} was already asked for with this key; "
                   "not run again", err=True)
    elif not dry_run:
        if queue:
            dispatch(runtime, record["id"])
            click.echo(f"run {record['id']} sent to a worker; follow it with "
                       f"'aiops playbooks runs --incident {incident_id}'", err=True)
            return
        dispatch(runtime, record["id"], wait=True)
    view = runs.current_run(runtime.db, record["id"], runtime.data_dir.playbook)
    _print_run(view)
    if view["status"] == runs.FAILED:
        sys.exit(1)


@playbooks.command("approve")
@click.argument("run_id", type=int)
@click.option("--by", default=None, help="Who approves (default: $USER).")
@click.option("--comment", default=None, help="Why, for the record.")
@click.option("--queue", is_flag=True,
              help="Send it to a Celery worker (AIOPS_BROKER_URL) instead of running here.")
@click.pass_context
@reports_bad_input
def playbooks_approve(ctx: click.Context, run_id: int, by: str | None, comment: str | None,
                      queue: bool) -> None:
    """Say yes to RUN_ID, a run a policy asked for with approval, and run it; exit 1 if
    it failed."""
    _decide(ctx, run_id, True, by, comment, queue)


@playbooks.command("reject")
@click.argument("run_id", type=int)
@click.option("--by", default=None, help="Who rejects (default: $USER).")
@click.option("--comment", default=None, help="Why, for the record.")
@click.pass_context
@reports_bad_input
def playbooks_reject(ctx: click.Context, run_id: int, by: str | None,
                     comment: str | None) -> None:
    """Say no to RUN_ID, a run waiting for approval: nothing of it runs."""
    _decide(ctx, run_id, False, by, comment, False)


def _decide(ctx: click.Context, run_id: int, approve: bool, by: str | None,
            comment: str | None, queue: bool) -> None:
    from aiops.engine.feedback import check_text
    from aiops.playbooks import runs
    from aiops.playbooks.request import dispatch

    if queue and not os.environ.get("AIOPS_BROKER_URL"):
        raise InputError("--queue sends the run to a Celery worker and needs "
                         "AIOPS_BROKER_URL (without it, leave --queue out to run it here)")
    runtime = runtime_of(ctx)
    record = runs.decide(runtime.db, run_id, approve,
                         check_text(by or getpass.getuser(), "author", "--by"),
                         check_text(comment, "comment", "--comment"),
                         runtime.data_dir.playbook)
    if approve:
        if queue:
            dispatch(runtime, run_id)
            click.echo(f"run {run_id} approved and sent to a worker", err=True)
            return
        dispatch(runtime, run_id, wait=True)
    view = runs.current_run(runtime.db, record["id"], runtime.data_dir.playbook)
    _print_run(view)
    if view["status"] == runs.FAILED:
        sys.exit(1)


@playbooks.command("runs")
@click.option("--incident", "incident_id", default=None, help="Only this incident's runs.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def playbooks_runs(ctx: click.Context, incident_id: str | None, limit: int,
                   as_json: bool) -> None:
    """Recorded runs, newest first, with each step's outcome."""
    from aiops.playbooks.runs import current_runs

    runtime = runtime_of(ctx)
    items = current_runs(runtime.db, runtime.data_dir.playbook, incident_id, limit)
    if as_json:
        click.echo(json.dumps({"runs": items}, indent=1))
        return
    for run in items:
        _print_run(run)
