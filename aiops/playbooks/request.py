"""Asking for a playbook run: check it, fill its steps, record it, hand it to a worker.

Everything that can be wrong with a request (unknown incident or playbook, a
playbook that does not fit the incident, a placeholder with no value for it) is
refused here, before anything is recorded or run. With ``AIOPS_BROKER_URL`` the run
goes to a Celery worker (task ``aiops.playbook``); without a broker, the embedded
default, it runs on a thread of the process that asked (``aiops serve``), or in the
foreground of ``aiops playbooks run``.
"""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import sqlalchemy as sa

from aiops.errors import BrokerUnavailable, Conflict, InputError, NotFound
from aiops.playbooks import runs
from aiops.playbooks.definition import Playbook, load_playbooks
from aiops.playbooks.execute import execute_run
from aiops.playbooks.match import context, match, render
from aiops.runtime import Runtime
from aiops.tickets.recommend import incident_detail
from aiops.timeutil import to_rfc3339

BROKER_TIMEOUT = 5.0  # seconds to reach the broker before a run request fails
MAX_REQUESTER = 256  # characters of ``requested_by`` (the column's size)
MAX_KEY = 256  # characters of an idempotency key (the column's size)


def playbooks_dir(runtime: Runtime) -> Path:
    return runtime.data_dir.path / "playbooks"


def load(runtime: Runtime) -> tuple[dict[str, Playbook], list[str]]:
    """The data dir's playbooks (read on every call: editing a file needs no restart)."""
    return load_playbooks(playbooks_dir(runtime))


def find(runtime: Runtime, name: str) -> Playbook:
    playbooks, errors = load(runtime)
    if name in playbooks:
        return playbooks[name]
    files = (f"{name}.yml:", f"{name}.yaml:")
    refused = [e for e in errors if e.startswith(files) or f"playbook name '{name}'" in e]
    if refused:  # its file is there but was refused: say why rather than "no such"
        raise InputError(f"playbook '{name}' cannot be used: {refused[0]}")
    also = f" ({len(errors)} files were refused: aiops playbooks check)" if errors else ""
    raise NotFound(f"no playbook named '{name}' in {playbooks_dir(runtime)}{also}")


def _url(url: str, values: dict[str, str | None], where: str) -> str:
    """The URL with placeholder values percent-encoded, so an entity name holding '/',
    '?' or '#' stays one path segment or parameter."""
    quoted = {k: (quote(v, safe="") if v else v) for k, v in values.items()}
    filled = render(url, quoted, where)
    _refuse_dot_segments(url, filled, where)
    return filled


def _refuse_dot_segments(template: str, filled: str, where: str) -> None:
    """Refuse a filled URL whose path gained a '.' or '..' segment from a value.

    Percent-encoding leaves dots alone, and the HTTP client resolves dot segments
    before sending (``/devices/../reset`` goes out as ``/reset``): an alert whose
    entity is ``..`` would move the request to another endpoint of the same server.
    Values hold no '/' once encoded, so the template's segments and the filled ones
    line up one to one."""
    before = urlsplit(template).path.split("/")
    after = urlsplit(filled).path.split("/")
    for old, new in zip(before, after, strict=False):
        if new in (".", "..") and old != new:
            raise InputError(f"{where}: the URL's path segment '{old}' would be '{new}' for "
                             "this incident, which moves the request to another path; "
                             "refused")


def fill_steps(playbook: Playbook, values: dict[str, str | None]) -> list[dict[str, Any]]:
    """Each step as it will run (``${NAME}`` left for the worker), status ``pending``."""
    steps = []
    for i, step in enumerate(playbook.steps):
        where = f"{playbook.name}: steps[{i}] ({step.name})"
        if step.http is not None:
            request = {"method": step.http["method"],
                       "url": _url(step.http["url"], values, f"{where}.url"),
                       "headers": render(step.http["headers"], values, f"{where}.headers")}
            if "json" in step.http:
                request["json"] = render(step.http["json"], values, f"{where}.json")
        else:
            request = {"argv": render(list(step.command or ()), values, f"{where}.command",
                                      argument=True)}
        steps.append({"name": step.name, "kind": step.kind, "timeout": step.timeout,
                      "continue_on_error": step.continue_on_error, "request": request,
                      "status": "pending"})
    return steps


def _check_requester(requested_by: str | None) -> None:
    """Refuse a name the ``requested_by`` column cannot hold: longer than it, or with a
    NUL, which PostgreSQL refuses in text (the API answered 503 "storage unavailable")
    and SQLite stored, unlike every other text the engine takes in."""
    if requested_by is not None and (len(requested_by) > MAX_REQUESTER
                                     or "\x00" in requested_by):
        raise InputError(f"'requested_by' must be at most {MAX_REQUESTER} characters, "
                         "no NUL", field="requested_by")


def _check_key(key: str | None) -> None:
    """Refuse an idempotency key the column cannot hold (as ``requested_by``)."""
    if key is not None and (not key.strip() or len(key) > MAX_KEY or "\x00" in key):
        raise InputError(f"'idempotency_key' must be 1 to {MAX_KEY} characters, no NUL",
                         field="idempotency_key")


def _same_request(existing: dict[str, Any], dry_run: bool, key: str) -> dict[str, Any]:
    """The run stored for ``key``, when the request asks for the same kind of run; a
    key reused for a real run after a dry run (or the reverse) is a client's mistake,
    not a retry, and returning the other run would hide it."""
    if bool(existing["dry_run"]) != dry_run:
        kind = "a dry run" if existing["dry_run"] else "a real run"
        raise InputError(f"idempotency key '{key}' was used for run {existing['id']}, {kind}; "
                         "use another key for this request", field="idempotency_key")
    return existing


def _conflict(running: dict[str, Any]) -> Conflict:
    by = f" by {running['requested_by']}" if running["requested_by"] else ""
    waiting = running["status"] == runs.NEEDS_APPROVAL
    state = "waits for approval" if waiting else f"is already {running['status']}"
    follow = "approve or reject it" if waiting else "follow it"
    return Conflict(f"playbook '{running['playbook']}' {state} on "
                    f"incident '{running['incident_id']}': run {running['id']}, asked for{by} "
                    f"at {to_rfc3339(running['requested_at'])}; {follow}, or ask again "
                    "with force to run it once more", run_id=running["id"])


def request_run(runtime: Runtime, incident_id: str, name: str, requested_by: str | None = None,
                dry_run: bool = False, *, idempotency_key: str | None = None,
                force: bool = False) -> dict[str, Any]:
    """Record a run of playbook ``name`` for the incident; a dry run is recorded with
    its filled steps and nothing executes. Returns the stored record (``submit_run``)."""
    return submit_run(runtime, incident_id, name, requested_by, dry_run,
                      idempotency_key=idempotency_key, force=force)[0]


def submit_run(runtime: Runtime, incident_id: str, name: str, requested_by: str | None = None,
               dry_run: bool = False, *, idempotency_key: str | None = None,
               force: bool = False,
               approve_within: float | None = None) -> tuple[dict[str, Any], bool]:
    """(the stored run, whether this request stored it). Asking again is not running
    again: with ``idempotency_key`` the run already stored for that key on this
    incident and playbook is returned (False) and nothing new is recorded; without
    ``force`` a real run is refused (``Conflict``) while another of the same playbook
    on the same incident waits for approval, is queued or is running. Dry runs never
    conflict. With ``approve_within`` (a policy's ``approval``) the run is stored
    ``needs-approval`` and waits that many seconds for an operator's yes
    (``runs.decide``); the caller does not dispatch it."""
    _check_requester(requested_by)
    _check_key(idempotency_key)
    if idempotency_key is not None:
        with runtime.db.connect() as conn:
            existing = runs.find_by_key(conn, incident_id, name, idempotency_key)
        if existing is not None:
            return _same_request(existing, dry_run, idempotency_key), False
    playbook = find(runtime, name)
    with runtime.db.connect() as conn:
        incident = incident_detail(conn, runtime, incident_id)
    if incident["status"] == "merged":
        raise InputError(f"incident '{incident_id}' was merged into "
                         f"'{incident['merged_into']}'; run the playbook there")
    fits, reasons, action = match(playbook, incident)
    if not fits:
        wanted = "; ".join(f"{k}: {', '.join(v)}" for k, v in playbook.match.items())
        raise InputError(f"playbook '{name}' does not match incident '{incident_id}' "
                         f"({wanted})")
    steps = fill_steps(playbook, context(incident, action))
    if dry_run:
        for step in steps:
            step["status"] = "not run"
    check = not dry_run and not force
    if check:
        # A run nothing will finish must not block the next request for good.
        runs.expire_stale(runtime.db, runtime.data_dir.playbook)
    now = time.time()
    waits = approve_within is not None and not dry_run
    status = runs.DRY_RUN if dry_run else runs.NEEDS_APPROVAL if waits else runs.QUEUED
    wait = approve_within if waits else runtime.data_dir.playbook.start_within
    return _store(runtime, {
        "incident_id": incident_id, "playbook": name,
        "status": status, "dry_run": dry_run,
        "requested_by": requested_by, "requested_at": now,
        "start_by": None if dry_run else now + wait,
        "action": action or None, "reasons": reasons, "steps": steps,
        "idempotency_key": idempotency_key, "forced": force and not dry_run}, check)


def _store(runtime: Runtime, record: dict[str, Any],
           check: bool) -> tuple[dict[str, Any], bool]:
    """Insert ``record`` unless its key's run or (``check``) another run in flight is
    there by now: (the stored run, whether it is new), or ``Conflict``."""
    incident_id, name = record["incident_id"], record["playbook"]
    try:
        with runtime.db.begin() as conn:
            if (ours := _run_of_key(conn, record)) is not None:  # stored since the look-up
                return ours, False
            if check and (running := runs.in_flight_runs(conn, incident_id, name)):
                # On PostgreSQL the key's run can be committed between the two reads.
                if (ours := _run_of_key(conn, record, running)) is not None:
                    return ours, False
                raise _conflict(running[0])
            return runs.get_run(conn, runs.insert_run(conn, record)), True
    except sa.exc.IntegrityError:
        # Another request got in between the checks and the insert (the unique indexes
        # of migration 0013): the same key, or a run of the playbook now in flight.
        with runtime.db.connect() as conn:
            if (ours := _run_of_key(conn, record)) is not None:
                return ours, False
            running = runs.in_flight_runs(conn, incident_id, name)
        if running:
            raise _conflict(running[0]) from None
        raise


def _run_of_key(conn: sa.Connection, record: dict[str, Any],
                among: list[dict[str, Any]] | None = None) -> dict[str, Any] | None:
    """The run already stored for ``record``'s idempotency key (looked for ``among``
    the runs given, else in the database), checked by ``_same_request``; None when
    the record has no key or the key no run."""
    key = record["idempotency_key"]
    if key is None:
        return None
    if among is None:
        found = runs.find_by_key(conn, record["incident_id"], record["playbook"], key)
    else:
        found = next((r for r in among if r["idempotency_key"] == key), None)
    return None if found is None else _same_request(found, bool(record["dry_run"]), key)


def dispatch(runtime: Runtime, run_id: int, wait: bool = False) -> str:
    """Start a queued run: on a Celery worker when a broker is configured, else on a
    thread here (``wait``: in the foreground). Returns where it went."""
    settings = runtime.data_dir.playbook
    if os.environ.get("AIOPS_BROKER_URL"):
        from aiops.tasks import PLAYBOOK_TASK, make_app

        with runtime.db.connect() as conn:
            start_by = runs.get_run(conn, run_id)["start_by"]
        # A worker discards the task unstarted after this; its claim would refuse it too.
        expires = datetime.fromtimestamp(start_by, UTC) if start_by else None
        app = make_app()
        try:
            with app.connection_for_write() as connection:
                # Fail in seconds, not after Celery's minute of reconnecting: an
                # operator is waiting on the answer.
                connection.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT)
                app.send_task(PLAYBOOK_TASK, kwargs={
                    "run_id": run_id, "data_dir": str(runtime.data_dir.path),
                    "database_url": runtime.data_dir.database_url or None},
                    connection=connection, retry=False, expires=expires)
        except Exception as exc:  # noqa: BLE001 - any broker failure: the run did not start
            with runtime.db.connect() as conn:
                steps = runs.get_run(conn, run_id)["steps"]
            runs.finish(runtime.db, run_id, runs.FAILED, steps,
                        f"not started: the broker did not take it ({exc})",
                        only_if=(runs.QUEUED,))
            raise BrokerUnavailable(f"playbook run {run_id} not started: the broker at "
                                    f"AIOPS_BROKER_URL did not take it ({exc})") from exc
        return "celery"
    if wait:
        execute_run(runtime.db, run_id, settings)
        return "foreground"
    threading.Thread(target=execute_run, args=(runtime.db, run_id, settings), daemon=True,
                     name=f"playbook-run-{run_id}").start()
    return "thread"


def run_playbook_task(run_id: int, data_dir: str | None = None,
                      database_url: str | None = None) -> dict[str, Any]:
    """What the Celery task ``aiops.playbook`` does: execute one recorded run."""
    from aiops.config import DataDir
    from aiops.store.db import open_database

    data = DataDir.from_env(Path(data_dir) if data_dir else None, database_url)
    db = open_database(data.url())
    try:
        record = execute_run(db, int(run_id), data.playbook)
    finally:
        db.dispose()
    return runs.run_view(record)
