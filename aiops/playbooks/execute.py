"""Running a recorded playbook run: its filled steps, one after another.

The worker runs what the record holds, not what the playbook file says now: the
operator approved those exact requests and commands, and a file edited in between
must not change a run already asked for. Each step's outcome is stored before the
next starts. A step fails on a non-2xx answer, a refused or dropped connection, a
timeout, a missing program or a non-zero exit; the run then stops there unless the
step says ``continue_on_error`` (the run can then still succeed, its error naming
the steps that failed), and the steps not run are marked ``skipped``.
"""

from __future__ import annotations

import subprocess
import time
from typing import Any

import requests
import sqlalchemy as sa

from aiops.errors import InputError
from aiops.playbooks import runs
from aiops.playbooks.match import expand_env

OUTPUT_LIMIT = 4096  # characters of a response body or of a command's output kept


def _tail(text: str) -> str:
    return text if len(text) <= OUTPUT_LIMIT else "…" + text[-OUTPUT_LIMIT:]


def _http(step: dict[str, Any], where: str) -> tuple[bool, str]:
    request = expand_env(step["request"], where)
    try:
        response = requests.request(request["method"], request["url"],
                                    headers=request.get("headers") or None,
                                    json=request.get("json"), timeout=step["timeout"])
    except requests.Timeout:
        return False, f"no answer within {step['timeout']:g} s from {request['url']}"
    except requests.RequestException as exc:
        return False, f"{type(exc).__name__}: {exc}"
    ok = 200 <= response.status_code < 300
    return ok, _tail(f"HTTP {response.status_code}: {response.text}")


def _command(step: dict[str, Any], where: str) -> tuple[bool, str]:
    argv = expand_env(step["request"]["argv"], where)
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=step["timeout"],
                              stdin=subprocess.DEVNULL, check=False)
    except subprocess.TimeoutExpired:
        return False, f"killed after {step['timeout']:g} s (timeout)"
    except OSError as exc:  # not found, not executable
        return False, f"could not start {argv[0]!r}: {exc.strerror or exc}"
    output = (done.stdout or "") + (done.stderr or "")
    return done.returncode == 0, _tail(f"exit {done.returncode}: {output}")


def execute_run(db: sa.Engine, run_id: int) -> dict[str, Any]:
    """Run the steps of queued run ``run_id``; return the stored run.

    A run that is not queued (already taken by another worker, finished, or a dry
    run) is returned as it is, untouched."""
    if not runs.claim(db, run_id):
        with db.connect() as conn:
            return runs.get_run(conn, run_id)
    with db.connect() as conn:
        steps = [dict(s) for s in runs.get_run(conn, run_id)["steps"]]
    failed_at: str | None = None
    for i, step in enumerate(steps):
        if failed_at is not None:
            step["status"] = "skipped"
            continue
        where = f"steps[{i}] ({step['name']})"
        started = time.perf_counter()
        try:
            ok, detail = (_http if step["kind"] == "http" else _command)(step, where)
        except InputError as exc:  # ${NAME} not set in this process
            ok, detail = False, str(exc)
        step.update(status="succeeded" if ok else "failed", detail=detail,
                    seconds=round(time.perf_counter() - started, 3))
        if not ok and not step.get("continue_on_error"):
            failed_at = step["name"]
        runs.save_steps(db, run_id, steps)
    failures = [s["name"] for s in steps if s.get("status") == "failed"]
    error = f"step '{failed_at}' failed" if failed_at else (
        f"continued past failed steps: {', '.join(failures)}" if failures else None)
    runs.finish(db, run_id, runs.FAILED if failed_at else runs.SUCCEEDED, steps, error)
    with db.connect() as conn:
        return runs.get_run(conn, run_id)
