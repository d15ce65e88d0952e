"""``aiops serve`` pruning its own store: ``aiops prune --older-than KEEP`` every
``every`` seconds, when ``AIOPS_RETENTION_KEEP`` is set (off by default), and
``--audit-older-than AUDIT_KEEP`` when ``AIOPS_RETENTION_AUDIT_KEEP`` is.

Why in the serving process: an installation that runs for months should not need a
cron job to keep its disk; the deletion is the command's (``aiops.retention``),
in batches of one transaction each, so the engine's own writes between them wait
for one batch at most (docs/benchmarks.md, "Retention"). A cutoff inside what a
restart reads is moved back as for the command, silently (logged at debug level);
so is one inside what scheduled retraining or the drift check reads
(``aiops.retention_guard``, logged at info level), unless
``AIOPS_RETENTION_ALLOW_SHORT_HISTORY=1``. A keep shorter than their window is refused
when serving starts (``check_keep``), with the same override.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING

import sqlalchemy as sa

from aiops import retention
from aiops.config import DataDir
from aiops.retention_audit import AuditReport, AuditRetention, prune_audit
from aiops.retention_guard import HistoryFloor, check_keep, history_floor

if TYPE_CHECKING:
    from aiops.runtime import Runtime

log = logging.getLogger(__name__)


class _Stopping(Exception):
    """Raised between two batches of a prune when the loop is asked to stop."""


class RetentionLoop:
    """Prunes ``db`` to ``settings.keep`` seconds (and the audit trails to
    ``settings.audit_keep``, when set) every ``settings.every`` on a daemon thread,
    until ``stop``. A prune that fails (the database away) is logged and the
    next one tries again; a prune stopped midway has deleted only what was to go.
    ``every`` and ``clock`` are for tests: rounds faster than the setting's floor, and
    a wall clock that moves a day per round."""

    def __init__(self, db: sa.Engine, data_dir: DataDir, every: float | None = None,
                 clock: Callable[[], float] = time.time):
        self.db = db
        self.data_dir = data_dir
        self.settings = data_dir.retention
        self.every = self.settings.every if every is None else every
        self.clock = clock
        self.last: retention.PruneReport | None = None
        self.last_audit: AuditReport | None = None
        self.rounds = 0  # prunes done, failed ones included
        # Rows deleted by table since start, for ``GET /metrics``: a store that keeps
        # growing while this stays flat is a retention that does not run.
        self.deleted: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="aiops-retention")

    def start(self) -> RetentionLoop:
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> bool:
        """Ask the thread to end (a prune under way stops after its current
        transaction) and wait for it up to ``timeout``; whether it ended."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=timeout)
        if self._thread.is_alive():
            log.warning("retention: still pruning %g s after being asked to stop", timeout)
            return False
        return True

    def _between_batches(self, rows: int) -> None:
        """Each batch's progress: end the prune here when asked to stop (what was
        committed was meant to go; the next start finishes it)."""
        if self._stop.is_set():
            raise _Stopping

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _history_floor(self) -> HistoryFloor | None:
        if self.settings.allow_short_history:
            return None
        with self.db.connect() as conn:
            return history_floor(conn, self.data_dir)

    def audit_once(self) -> AuditReport:
        """Prune the audit trails to ``settings.audit_keep`` seconds (by ``clock``)."""
        needed = self._history_floor()
        plan = AuditRetention(self.clock() - self.settings.audit_keep,
                              None if needed is None else needed.floor)
        report = self.last_audit = prune_audit(self.db, plan,
                                               progress=self._between_batches)
        self.deleted.update(report.deleted)
        if report.total:
            log.info("retention: deleted of the audit trails %s",
                     ", ".join(f"{n} {t}" for t, n in report.deleted.items() if n))
        return report

    def prune_once(self) -> retention.PruneReport:
        now = self.clock()
        asked = now - self.settings.keep
        needed = self._history_floor()
        if needed is not None and asked > needed.floor:
            log.info("retention: cutoff moved back to %s, what %s reads (%s=%s)",
                     needed.floor, needed.need.reader, needed.need.setting,
                     needed.need.value)
            asked = needed.floor
        plan = retention.plan(self.db, asked, self.data_dir.settings, now)
        if plan.clamped:
            log.debug("retention: cutoff moved back to %s, what a restart reads",
                      plan.floor)
        report = self.last = retention.prune(self.db, plan, progress=self._between_batches)
        self.deleted.update(report.deleted)
        if report.total:
            log.info("retention: deleted %s (%.1f s, longest transaction %.0f ms)",
                     ", ".join(f"{n} {t}" for t, n in report.deleted.items() if n),
                     report.seconds, report.longest_batch * 1000)
        return report

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            for work, wanted in ((self.prune_once, self.settings.keep),
                                 (self.audit_once, self.settings.audit_keep)):
                try:
                    if wanted and not self._stop.is_set():
                        work()
                except _Stopping:
                    log.info("retention: stopped between two transactions")
                except Exception:  # noqa: BLE001 - the next round tries again; say why
                    log.exception("retention: prune failed")
            self.rounds += 1


def start_retention(runtime: Runtime) -> RetentionLoop | None:
    """Start the loop for a serving process unless ``AIOPS_RETENTION_KEEP`` and
    ``AIOPS_RETENTION_AUDIT_KEEP`` are 0;
    ``Runtime.close`` stops it. ValueError (``check_keep``) for a keep shorter than
    what retraining or the drift check reads, not overridden: nothing is started."""
    settings = runtime.data_dir.retention
    if not (settings.keep or settings.audit_keep) or runtime.retention is not None:
        return runtime.retention
    check_keep(runtime.data_dir)
    days = runtime.data_dir.retrain.days
    if 0 < settings.keep < days * 86400 and not runtime.data_dir.retrain.schedule.strip():
        # No schedule: only a manual `aiops model retrain` (7 days unless told) reads it.
        log.warning("AIOPS_RETENTION_KEEP keeps %.1f days of history, less than the %g days "
                    "retraining trains on (AIOPS_RETRAIN_DAYS): `aiops model retrain` for "
                    "more days than are kept is refused (exit 2) unless "
                    "--allow-short-history", settings.keep / 86400, days)
    runtime.retention = RetentionLoop(runtime.db, runtime.data_dir).start()
    return runtime.retention
