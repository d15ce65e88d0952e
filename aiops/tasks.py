"""Celery: discovery as background tasks, on demand and on a beat schedule.

``AIOPS_BROKER_URL`` (e.g. ``redis://host:6379/0``) points the app at a broker;
results go to ``AIOPS_RESULT_BACKEND``, by default the same Redis. Without a broker
the app runs tasks eagerly, in the calling process, so the embedded default needs
no server. Every task is a thin wrapper around
:func:`topology.discovery.jobs.run_discovery`, which is what the tests exercise
without a broker.

``AIOPS_DISCOVERY_SCHEDULE`` names the schedule file (topology/discovery/schedule.py)
that becomes the beat schedule; ``aiops topology schedule --config FILE`` runs the
same entries in-process instead (:func:`run_schedule_inline`).

Retraining the correlation model (``aiops.retrain``, a thin wrapper around
:func:`aiops.learning.retrain.run_retrain`) is scheduled by
``AIOPS_RETRAIN_SCHEDULE``: a duration (``1d``) or a 5-field cron (``0 3 * * *``),
with ``AIOPS_RETRAIN_DAYS`` and ``AIOPS_RETRAIN_PROMOTE`` (``RetrainSettings``);
``aiops model schedule`` runs it in-process instead (:func:`run_retrain_inline`).

Remediation playbooks (``aiops.playbook``, a thin wrapper around
:func:`aiops.playbooks.request.run_playbook_task`) run one recorded playbook run each;
the API and ``aiops playbooks run --queue`` send them.

Run a worker and beat with::

    AIOPS_BROKER_URL=redis://127.0.0.1:6379/0 celery -A aiops.tasks worker
    AIOPS_BROKER_URL=... AIOPS_DISCOVERY_SCHEDULE=discovery.yml \
        AIOPS_RETRAIN_SCHEDULE="0 3 * * *" celery -A aiops.tasks beat
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from celery import Celery
from celery.schedules import crontab, maybe_schedule

from aiops.config import RetrainSettings, settings_from_env
from aiops.errors import InputError
from topology.discovery.jobs import run_discovery
from topology.discovery.registry import BUILTIN
from topology.discovery.schedule import (
    ScheduleEntry,
    load_schedule,
    parse_cron,
    parse_duration,
)

GENERIC_TASK = "aiops.discover"
RETRAIN_TASK = "aiops.retrain"
RETRAIN_ENTRY = "retrain-correlation"
PLAYBOOK_TASK = "aiops.playbook"


def task_name(source: str) -> str:
    """Built-in sources have a task each; sources from plug-ins use the generic one."""
    return f"aiops.discover.{source}" if source in BUILTIN else GENERIC_TASK


def beat_schedule(entries: list[ScheduleEntry]) -> dict[str, dict[str, Any]]:
    """Celery beat entries for schedule-file entries."""
    out: dict[str, dict[str, Any]] = {}
    for entry in entries:
        when: Any = (timedelta(seconds=entry.every) if entry.every is not None
                     else crontab(**(entry.cron or {})))
        if task_name(entry.source) == GENERIC_TASK:
            args: dict[str, Any] = {"source": entry.source, "options": entry.options}
        else:
            args = {"options": entry.options}
        out[f"discover-{entry.name}"] = {"task": task_name(entry.source), "schedule": when,
                                         "kwargs": args}
    return out


def retrain_schedule(text: str, where: str = "AIOPS_RETRAIN_SCHEDULE") -> Any:
    """A duration (``1d``, ``6h``, seconds) or a 5-field cron as a Celery schedule."""
    if len(text.split()) == 5:
        try:
            return crontab(**parse_cron(text, where))
        except ValueError as exc:  # celery's own check of each field
            raise InputError(f"{where}: bad cron {text!r}: {exc}") from None
    try:
        return timedelta(seconds=parse_duration(text, where))
    except InputError:
        raise InputError(f"{where}: expected a duration such as 1d or 6h, or a 5-field cron "
                         f"such as '0 3 * * *', got {text!r}") from None


def retrain_beat(settings: RetrainSettings) -> dict[str, dict[str, Any]]:
    """The beat entry of scheduled retraining, or none when no schedule is set."""
    if not settings.schedule.strip():
        return {}
    from aiops.learning.retrain import POLICIES  # lazily: training pulls in the engine

    if settings.promote not in POLICIES:
        raise InputError(f"AIOPS_RETRAIN_PROMOTE must be one of {', '.join(POLICIES)}, "
                         f"got {settings.promote!r}")
    return {RETRAIN_ENTRY: {"task": RETRAIN_TASK, "schedule": retrain_schedule(settings.schedule),
                            "kwargs": {"days": settings.days, "promote": settings.promote}}}


def _register(app: Celery) -> None:
    """One task per built-in source, and a generic one taking the source name."""

    @app.task(name=GENERIC_TASK, shared=False)
    def discover(source: str, options: dict[str, Any] | None = None,
                 data_dir: str | None = None,
                 database_url: str | None = None) -> dict[str, Any]:
        return run_discovery(source, options, data_dir, database_url)

    @app.task(name=RETRAIN_TASK, shared=False)
    def retrain(data_dir: str | None = None, database_url: str | None = None,
                days: float | None = None, promote: str | None = None) -> dict[str, Any]:
        """Retrain the correlation model from the stored alerts; promote per policy."""
        from aiops.learning.retrain import run_retrain

        return run_retrain(data_dir, database_url, days, promote)

    @app.task(name=PLAYBOOK_TASK, shared=False)
    def playbook(run_id: int, data_dir: str | None = None,
                 database_url: str | None = None) -> dict[str, Any]:
        """Execute one recorded playbook run (aiops/playbooks/request.py)."""
        from aiops.playbooks.request import run_playbook_task

        return run_playbook_task(run_id, data_dir, database_url)

    for source in BUILTIN:
        def run(options: dict[str, Any] | None = None, data_dir: str | None = None,
                database_url: str | None = None, _source: str = source) -> dict[str, Any]:
            return run_discovery(_source, options, data_dir, database_url)

        run.__name__ = run.__qualname__ = f"discover_{source}"
        run.__doc__ = f"Discover the '{source}' source into the data dir's topology."
        app.task(name=task_name(source), shared=False)(run)


def make_app(broker_url: str | None = None, schedule_path: str | None = None) -> Celery:
    """A Celery app: real broker when one is given (or in the environment), else eager."""
    broker = broker_url or os.environ.get("AIOPS_BROKER_URL")
    app = Celery("aiops")
    app.conf.update(task_serializer="json", result_serializer="json",
                    accept_content=["json"], timezone="UTC", enable_utc=True,
                    broker_connection_retry_on_startup=True, worker_hijack_root_logger=False)
    if broker:
        app.conf.update(broker_url=broker,
                        result_backend=os.environ.get("AIOPS_RESULT_BACKEND", broker),
                        result_expires=86400)
    else:
        app.conf.update(task_always_eager=True, task_eager_propagates=True,
                        task_store_eager_result=False)
    path = schedule_path or os.environ.get("AIOPS_DISCOVERY_SCHEDULE")
    beat = beat_schedule(load_schedule(path)) if path else {}
    beat.update(retrain_beat(settings_from_env(RetrainSettings(), "AIOPS_RETRAIN_")))
    if beat:
        app.conf.beat_schedule = beat
    _register(app)
    return app


app = make_app()
discover = app.tasks[GENERIC_TASK]
discover_lldp = app.tasks[task_name("lldp")]
discover_netbox = app.tasks[task_name("netbox")]
discover_kubernetes = app.tasks[task_name("kubernetes")]
discover_inventory = app.tasks[task_name("inventory")]
discover_learned = app.tasks[task_name("learned")]
retrain_correlation = app.tasks[RETRAIN_TASK]


def run_schedule_inline(entries: list[ScheduleEntry], data_dir: str | None,
                        database_url: str | None, once: bool = False,
                        on_result: Callable[[str, dict[str, Any] | str], None] | None = None,
                        stop: threading.Event | None = None) -> int:
    """The embedded default's beat: run due entries in this process until ``stop``.

    Every entry runs once at start (a fresh engine should not wait an hour for its
    first NetBox sync), then on its own schedule. A failing run is reported and
    retried at the next due time; returns how many runs failed.
    """
    by_key = {f"discover-{e.name}": e for e in entries}
    jobs = {key: (spec["schedule"], by_key[key].name,
                  lambda e=by_key[key]: run_discovery(e.source, e.options, data_dir,
                                                      database_url))
            for key, spec in beat_schedule(entries).items()}
    return _run_inline(jobs, once, on_result, stop)


def run_retrain_inline(schedule: str, data_dir: str | None, database_url: str | None,
                       days: float | None = None, promote: str | None = None,
                       once: bool = False,
                       on_result: Callable[[str, dict[str, Any] | str], None] | None = None,
                       stop: threading.Event | None = None) -> int:
    """Scheduled retraining in this process (``aiops model schedule``), as beat would
    run it: once at start, then on ``schedule``; returns how many runs failed."""
    from aiops.learning.retrain import run_retrain

    when = retrain_schedule(schedule, "schedule")
    jobs = {RETRAIN_ENTRY: (when, RETRAIN_ENTRY,
                            lambda: run_retrain(data_dir, database_url, days, promote))}
    return _run_inline(jobs, once, on_result, stop)


def _run_inline(jobs: dict[str, tuple[Any, str, Callable[[], dict[str, Any]]]], once: bool,
                on_result: Callable[[str, dict[str, Any] | str], None] | None,
                stop: threading.Event | None) -> int:
    """Run each job (key -> schedule, name, call) at start and whenever it is due."""
    stop = stop or threading.Event()
    schedules = {key: maybe_schedule(when, app=app) for key, (when, _, _) in jobs.items()}
    last: dict[str, Any] = {}
    failures = 0
    while not stop.is_set():
        wait = 60.0
        for key, when in schedules.items():
            _, name, call = jobs[key]
            due = key not in last
            if not due:
                state = when.is_due(last[key])
                due, wait = state.is_due, min(wait, max(state.next, 0.5))
            if not due:
                continue
            last[key] = app.now()
            try:
                result: dict[str, Any] | str = call()
            except Exception as exc:  # one failing job must not stop the others
                failures += 1
                result = f"failed: {exc}"
            if on_result:
                on_result(name, result)
        if once:
            break
        stop.wait(max(min(wait, 60.0), 0.5))
    return failures
