"""The history that retraining and the drift check read back, kept from a prune unless
the operator says otherwise (``aiops prune --allow-short-history``,
``AIOPS_RETENTION_ALLOW_SHORT_HISTORY=1``).

Why: scheduled retraining (``aiops.learning.retrain``) trains on the stored alerts that
started in the ``AIOPS_RETRAIN_DAYS`` days up to the latest stored start, and the
running engine's drift check (``aiops.learning.drift``) judges the promoted model on
those of the ``AIOPS_DRIFT_WINDOW`` seconds up to it. A prune with a later cutoff
deletes part of that window, and both then run on less history than they were told
to, without a word (retraining's shadow test also places the ``LEAD_IN`` before its
shadow window first, which reaches past the days' start when the shadow window is as
long as they are).

What "needs" means, precisely: both windows are event time, ending at the latest
stored ``starts_at`` of an alert not the engine's own (``latest_start``, the very
value they read), and they read the alerts that *started* inside them. A prune deletes
only alerts that started before its cutoff (``aiops.retention``, also event time), so
a cutoff at or before ``latest start - window`` deletes nothing they read, and any
later one may. The wall clock plays no part: a store replayed from last year is
protected the same as a live one. A need counts only while its reader runs:
retraining when ``AIOPS_RETRAIN_SCHEDULE`` is set (a manual ``aiops model retrain``
takes its own ``--days``), the drift check while ``AIOPS_DRIFT_CHECK_EVERY`` is not 0
(the default: hourly, over a day). These are the settings ``aiops serve`` and the
Celery beat read (``DataDir.from_env``).
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from aiops.config import DataDir
from aiops.engine.regroup import LEAD_IN
from aiops.learning.drift import latest_start
from aiops.timeutil import to_rfc3339

DAY = 86400.0
OVERRIDE_FLAG = "--allow-short-history"
OVERRIDE_SETTING = "AIOPS_RETENTION_ALLOW_SHORT_HISTORY=1"


@dataclass(frozen=True, slots=True)
class HistoryNeed:
    """One reader's window: the setting that sizes it, as set, and its seconds."""

    setting: str
    value: str
    seconds: float
    reader: str  # who reads it, with the setting that makes it run


def history_needs(data_dir: DataDir) -> list[HistoryNeed]:
    """The windows of the readers that run with ``data_dir``'s settings."""
    needs = []
    retrain, drift = data_dir.retrain, data_dir.drift
    if retrain.schedule.strip():
        days = retrain.days * DAY
        # Its shadow test regroups the last shadow_window (at most the days) after
        # placing the LEAD_IN before it: past the days' start when the two are alike.
        reach = max(days, min(retrain.shadow_window, days) + LEAD_IN)
        lead = "" if reach == days else f", and the {LEAD_IN:g} s before its shadow window"
        needs.append(HistoryNeed("AIOPS_RETRAIN_DAYS", f"{retrain.days:g}", reach,
                                 f"scheduled retraining (AIOPS_RETRAIN_SCHEDULE="
                                 f"{retrain.schedule!r}{lead})"))
    if drift.check_every > 0:
        needs.append(HistoryNeed("AIOPS_DRIFT_WINDOW", f"{drift.window:g}", drift.window,
                                 f"the drift check (every {drift.check_every:g} s, "
                                 f"AIOPS_DRIFT_CHECK_EVERY)"))
    return needs


def longest_need(data_dir: DataDir) -> HistoryNeed | None:
    return max(history_needs(data_dir), key=lambda n: n.seconds, default=None)


@dataclass(frozen=True, slots=True)
class HistoryFloor:
    """The latest cutoff that leaves the longest need's window whole (event time)."""

    need: HistoryNeed
    latest: float  # the latest stored start, where the window ends

    @property
    def floor(self) -> float:
        return self.latest - self.need.seconds

    def refusal(self, cutoff: float, override: str = OVERRIDE_FLAG) -> str:
        """Why ``cutoff`` is refused, what is allowed and how to override."""
        return (f"cutoff {to_rfc3339(cutoff)} would delete history that {self.need.reader} "
                f"reads: {self.need.setting}={self.need.value} covers the alerts that started "
                f"from {to_rfc3339(self.floor)} to the latest stored start "
                f"{to_rfc3339(self.latest)}; the newest cutoff allowed is "
                f"{to_rfc3339(self.floor)} (event time), or use {override} to prune anyway")


def history_floor(conn: sa.Connection, data_dir: DataDir) -> HistoryFloor | None:
    """The floor for ``data_dir``'s readers on this store; None when none runs or
    nothing is stored yet."""
    need = longest_need(data_dir)
    if need is None:
        return None
    latest = latest_start(conn)
    return None if latest is None else HistoryFloor(need, latest)


def check_keep(data_dir: DataDir) -> None:
    """Refuse (ValueError) an ``AIOPS_RETENTION_KEEP`` shorter than a reader's window
    unless ``AIOPS_RETENTION_ALLOW_SHORT_HISTORY`` says so. A settings check, keep
    (wall clock) against the window's length: each round of the loop also stops its
    cutoff at ``history_floor`` (event time), which this cannot know before serving."""
    keep = data_dir.retention.keep
    need = longest_need(data_dir)
    if not keep or need is None or keep >= need.seconds or data_dir.retention.allow_short_history:
        return
    raise ValueError(f"AIOPS_RETENTION_KEEP={keep:g} keeps {keep / DAY:g} days of history, "
                     f"less than {need.reader} reads: {need.setting}={need.value} "
                     f"({need.seconds / DAY:g} days); the shortest keep allowed is "
                     f"{need.seconds:g} s, or set {OVERRIDE_SETTING} to prune anyway")
