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

Run a worker and beat with::

    AIOPS_BROKER_URL=redis://127.0.0.1:6379/0 celery -A aiops.tasks worker
    AIOPS_BROKER_URL=... AIOPS_DISCOVERY_SCHEDULE=discovery.yml celery -A aiops.tasks beat
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from celery import Celery
from celery.schedules import crontab, maybe_schedule

from topology.discovery.jobs import run_discovery
from topology.discovery.registry import BUILTIN
from topology.discovery.schedule import ScheduleEntry, load_schedule

GENERIC_TASK = "aiops.discover"


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


def _register(app: Celery) -> None:
    """One task per built-in source, and a generic one taking the source name."""

    @app.task(name=GENERIC_TASK, shared=False)
    def discover(source: str, options: dict[str, Any] | None = None,
                 data_dir: str | None = None,
                 database_url: str | None = None) -> dict[str, Any]:
        return run_discovery(source, options, data_dir, database_url)

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
    if path:
        app.conf.beat_schedule = beat_schedule(load_schedule(path))
    _register(app)
    return app


app = make_app()
discover = app.tasks[GENERIC_TASK]
discover_lldp = app.tasks[task_name("lldp")]
discover_netbox = app.tasks[task_name("netbox")]
discover_kubernetes = app.tasks[task_name("kubernetes")]
discover_inventory = app.tasks[task_name("inventory")]
discover_learned = app.tasks[task_name("learned")]


def run_schedule_inline(entries: list[ScheduleEntry], data_dir: str | None,
                        database_url: str | None, once: bool = False,
                        on_result: Callable[[str, dict[str, Any] | str], None] | None = None,
                        stop: threading.Event | None = None) -> int:
    """The embedded default's beat: run due entries in this process until ``stop``.

    Every entry runs once at start (a fresh engine should not wait an hour for its
    first NetBox sync), then on its own schedule. A failing run is reported and
    retried at the next due time; returns how many runs failed.
    """
    stop = stop or threading.Event()
    schedules = {key: maybe_schedule(spec["schedule"], app=app)
                 for key, spec in beat_schedule(entries).items()}
    by_key = {f"discover-{e.name}": e for e in entries}
    last: dict[str, Any] = {}
    failures = 0
    while not stop.is_set():
        wait = 60.0
        for key, when in schedules.items():
            entry = by_key[key]
            due = key not in last
            if not due:
                state = when.is_due(last[key])
                due, wait = state.is_due, min(wait, max(state.next, 0.5))
            if not due:
                continue
            last[key] = app.now()
            try:
                result = run_discovery(entry.source, entry.options, data_dir, database_url)
            except Exception as exc:  # one failing source must not stop the others
                failures += 1
                result = f"failed: {exc}"
            if on_result:
                on_result(entry.name, result)
        if once:
            break
        stop.wait(max(min(wait, 60.0), 0.5))
    return failures

