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

import logging
import subprocess
import time
from typing import Any

import requests
import sqlalchemy as sa

from aiops.config import PlaybookSettings
from aiops.errors import InputError
from aiops.playbooks import runs
from aiops.playbooks.match import expand_env, mask

OUTPUT_LIMIT = 4096  # characters kept of a response body or of a command's output
log = logging.getLogger(__name__)


def _tail(head: str, text: str) -> str:
    """``head`` (the HTTP status or exit code) and the last ``OUTPUT_LIMIT`` characters
    of ``text``: the end of an output says most about how it went."""
    if len(text) > OUTPUT_LIMIT:
        text = "…" + text[-OUTPUT_LIMIT:]
    return f"{head}: {text}"


def _http(step: dict[str, Any], where: str, used: dict[str, str]) -> tuple[bool, str]:
    request = expand_env(step["request"], where, used)
    try:
        response = requests.request(request["method"], request["url"],
                                    headers=request.get("headers") or None,
                                    json=request.get("json"), timeout=step["timeout"])
    except requests.Timeout:
        return False, f"no answer within {step['timeout']:g} s"
    except requests.RequestException as exc:
        return False, f"{type(exc).__name__}: {exc}"
    ok = 200 <= response.status_code < 300
    return ok, _tail(f"HTTP {response.status_code}", response.text)


def _command(step: dict[str, Any], where: str, used: dict[str, str]) -> tuple[bool, str]:
    argv = expand_env(step["request"]["argv"], where, used)
    try:
        done = subprocess.run(argv, capture_output=True, timeout=step["timeout"],
                              stdin=subprocess.DEVNULL, check=False)
    except subprocess.TimeoutExpired:
        return False, f"killed after {step['timeout']:g} s (timeout)"
    except OSError as exc:  # not found, not executable
        return False, f"could not start {step['request']['argv'][0]!r}: {exc.strerror or exc}"
    # Bytes, decoded leniently: a program's output need not be UTF-8.
    output = (done.stdout + done.stderr).decode("utf-8", errors="replace")
    return done.returncode == 0, _tail(f"exit {done.returncode}", output)


def _run_step(step: dict[str, Any], where: str) -> tuple[bool, str]:
    """One step's outcome; whatever goes wrong is the step's failure, with every
    environment value it read masked in the text (``mask``)."""
    used: dict[str, str] = {}
    try:
        ok, detail = (_http if step["kind"] == "http" else _command)(step, where, used)
    except InputError as exc:  # ${NAME} not set in this process
        ok, detail = False, str(exc)
    except Exception as exc:  # noqa: BLE001 - e.g. a header that is not Latin-1
        ok, detail = False, f"{type(exc).__name__}: {exc}"
    return ok, mask(detail, used)


def execute_run(db: sa.Engine, run_id: int,
                settings: PlaybookSettings | None = None) -> dict[str, Any]:
    """Run the steps of queued run ``run_id``; return the stored run.

    A run that is not queued (already taken by another worker, finished, or a dry
    run) is returned as it is, untouched; one past its ``start_by`` is not started
    but failed as late. Each outcome is stored before the next step starts; the last
    one, or a failure that ends the run, is stored with the run's end in one write. If
    the run was given up as abandoned meanwhile (``runs.expire_stale``: this worker
    was slower than its deadline), no further step starts and what the steps did is
    added to the record (``runs.record_late``). If storing fails, the run is marked
    failed with the reason as far as the database lets it."""
    if not runs.claim(db, run_id, settings):
        runs.expire_stale(db, settings)
        with db.connect() as conn:
            return runs.get_run(conn, run_id)
    steps: list[dict[str, Any]] = []
    try:
        with db.connect() as conn:
            steps = [dict(s) for s in runs.get_run(conn, run_id)["steps"]]
        failed_at: str | None = None
        given_up = False
        for i, step in enumerate(steps):
            started = time.perf_counter()
            ok, detail = _run_step(step, f"steps[{i}] ({step['name']})")
            step.update(status="succeeded" if ok else "failed", detail=detail,
                        seconds=round(time.perf_counter() - started, 3))
            if not ok and not step.get("continue_on_error"):
                failed_at = step["name"]
                for later in steps[i + 1:]:
                    later["status"] = "skipped"
                break
            if i + 1 < len(steps) and not runs.save_steps(db, run_id, steps):
                given_up = True
                break
        failures = [s["name"] for s in steps if s.get("status") == "failed"]
        error = f"step '{failed_at}' failed" if failed_at else (
            f"continued past failed steps: {', '.join(failures)}" if failures else None)
        if given_up or not runs.finish(db, run_id,
                                       runs.FAILED if failed_at else runs.SUCCEEDED, steps,
                                       error, only_if=(runs.RUNNING,)):
            log.warning("playbook run %s was given up as abandoned while it ran; no "
                        "further step starts", run_id)
            runs.record_late(db, run_id, steps)
    except Exception as exc:
        log.exception("playbook run %s stopped", run_id)
        runs.finish(db, run_id, runs.FAILED, steps, f"stopped: {type(exc).__name__}: {exc}",
                    only_if=(runs.RUNNING,))
        raise
    with db.connect() as conn:
        return runs.get_run(conn, run_id)

