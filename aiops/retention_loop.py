"""``aiops serve`` pruning its own store: ``aiops prune --older-than KEEP`` every
``every`` seconds, when ``AIOPS_RETENTION_KEEP`` is set (off by default).

Why in the serving process: an installation that runs for months should not need a
cron job to keep its disk; the deletion is the command's (``aiops.retention``),
in batches of one transaction each, so the engine's own writes between them wait
for one batch at most (docs/benchmarks.md, "Retention"). A cutoff inside what a
restart reads is moved back as for the command, silently (logged at debug level).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from typing import TYPE_CHECKING

import sqlalchemy as sa

from aiops import retention
from aiops.config import EngineSettings, RetentionSettings

if TYPE_CHECKING:
    from aiops.runtime import Runtime

log = logging.getLogger(__name__)


class RetentionLoop:
    """Prunes ``db`` to ``settings.keep`` seconds every ``settings.every`` on a daemon
    thread, until ``stop``. A prune that fails (the database away) is logged and the
    next one tries again; a prune stopped midway has deleted only what was to go."""

    def __init__(self, db: sa.Engine, settings: RetentionSettings, engine: EngineSettings):
        self.db = db
        self.settings = settings
        self.engine = engine
        self.last: retention.PruneReport | None = None
        # Rows deleted by table since start, for ``GET /metrics``: a store that keeps
        # growing while this stays flat is a retention that does not run.
        self.deleted: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="aiops-retention")

    def start(self) -> RetentionLoop:
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout=timeout)

    def prune_once(self) -> retention.PruneReport:
        plan = retention.plan(self.db, time.time() - self.settings.keep, self.engine)
        if plan.clamped:
            log.debug("retention: cutoff moved back to %s, what a restart reads",
                      plan.floor)
        report = self.last = retention.prune(self.db, plan)
        self.deleted.update(report.deleted)
        if report.total:
            log.info("retention: deleted %s (%.1f s, longest transaction %.0f ms)",
                     ", ".join(f"{n} {t}" for t, n in report.deleted.items() if n),
                     report.seconds, report.longest_batch * 1000)
        return report

    def _run(self) -> None:
        while not self._stop.wait(self.settings.every):
            try:
                self.prune_once()
            except Exception:  # noqa: BLE001 - the next round tries again; say why
                log.exception("retention: prune failed")


def start_retention(runtime: Runtime) -> RetentionLoop | None:
    """Start the loop for a serving process unless ``AIOPS_RETENTION_KEEP`` is 0;
    ``Runtime.close`` stops it."""
    settings = runtime.data_dir.retention
    if not settings.keep or runtime.retention is not None:
        return runtime.retention
    days = runtime.data_dir.retrain.days
    if settings.keep < days * 86400:
        # Not refused: a short keep may be the operator's choice (disk), but retraining
        # on less history than it was told to use should not go unnoticed.
        log.warning("AIOPS_RETENTION_KEEP keeps %.1f days of history, less than the %g days "
                    "retraining trains on (AIOPS_RETRAIN_DAYS): `aiops model retrain` and "
                    "its schedule will see only what is kept", settings.keep / 86400, days)
    runtime.retention = RetentionLoop(runtime.db, settings, runtime.data_dir.settings).start()
    return runtime.retention
