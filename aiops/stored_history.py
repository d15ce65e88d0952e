"""How far back the stored alert history goes, and a retrain window checked against it.

Why: ``aiops model retrain --days N`` (and ``aiops model schedule --days N``) trains on
the alerts that started in the N days up to the latest stored start. When fewer days
are stored (a young store, or a prune deleted the older ones) it used to train on what
there was without a word, and the operator took a two-week model for a two-month one.

What the store can tell: the oldest stored start of an alert not the engine's own
(the history's first alert), and the cutoff of the latest prune. Nothing recorded that
cutoff before, and it cannot be read back from the rows: a prune deletes only what
*ended* before its cutoff (``aiops.retention``), so alerts that started before it but
ran past it stay, and the oldest stored start is then older than the point from which
the history is whole. ``note_prune`` records it in an ``engine_state`` row (no
migration: the table holds named JSON rows, ``aiops.store.engine_state``), written
before a prune deletes anything, so a prune stopped midway is recorded too; the cutoff
kept is the latest of all prunes (an earlier one later brings nothing back).

The history is whole from the later of the two (``StoredHistory.whole_from``). A
requested window that starts before it by more than ``tolerance`` is short: the
alerts of a stored history rarely start exactly at the window's start, so a window a
hair longer than the history is not refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from aiops.models import OWN_SOURCE
from aiops.store.engine_state import load_state, save_state
from aiops.store.tables import alerts
from aiops.timeutil import to_rfc3339

DAY = 86400.0
PRUNE_STATE = "retention"  # the engine_state row of the latest prune's cutoff
MIN_TOLERANCE = 3600.0  # a window may start up to an hour before the history ...
TOLERANCE_SHARE = 0.01  # ... or 1% of its length, whichever is longer


def note_prune(conn: sa.Connection, cutoff: float, at: float) -> None:
    """Record (in the caller's transaction) that a prune with ``cutoff`` (event time)
    ran at ``at`` (wall clock); an earlier cutoff than the one recorded changes
    nothing about what is gone, so the latest is kept."""
    before = pruned_before(conn)
    if before is not None and before >= cutoff:
        return
    save_state(conn, PRUNE_STATE, {"pruned_before": cutoff, "at": at})


def pruned_before(conn: sa.Connection) -> float | None:
    """The latest prune's cutoff, or None when no prune was recorded."""
    state = load_state(conn, PRUNE_STATE) or {}
    value = state.get("pruned_before")
    return float(value) if isinstance(value, int | float) else None


@dataclass(frozen=True, slots=True)
class StoredHistory:
    """The stored history's extent (event time)."""

    oldest: float  # the oldest stored start of an alert not the engine's own
    latest: float  # the latest one: where a retrain window ends
    pruned_before: float | None  # the latest prune's cutoff, when one was recorded

    @property
    def whole_from(self) -> float:
        """From when the stored history is whole."""
        return max(self.oldest, self.pruned_before or self.oldest)

    def window_start(self, days: float) -> float:
        return self.latest - days * DAY

    def is_short(self, days: float) -> bool:
        """Whether ``days`` up to the latest start reach before the history by more
        than the tolerance."""
        window = days * DAY
        tolerance = max(MIN_TOLERANCE, TOLERANCE_SHARE * window)
        return self.window_start(days) < self.whole_from - tolerance

    def days_stored(self) -> float:
        return (self.latest - self.whole_from) / DAY

    def describe(self) -> str:
        """Where the history starts, and why when a prune says so."""
        told = f"the oldest stored alert started at {to_rfc3339(self.oldest)}"
        if self.pruned_before is not None:
            told += f"; a prune deleted what ended before {to_rfc3339(self.pruned_before)}"
        return told

    def refusal(self, days: float, option: str, override: str) -> str:
        """Why a window of ``days`` is refused, and the way out."""
        return (f"{option} {days:g} asks for the alerts that started from "
                f"{to_rfc3339(self.window_start(days))} to the latest stored start "
                f"{to_rfc3339(self.latest)}, but {self.describe()}: only "
                f"{self.days_stored():.2f} days are stored; choose {option} "
                f"{max(self.days_stored(), 0):.2f} or fewer, or use {override} to train "
                "on what is stored")


def stored_history(conn: sa.Connection) -> StoredHistory | None:
    """The store's history extent, or None when no alert is stored."""
    oldest, latest = conn.execute(
        sa.select(sa.func.min(alerts.c.starts_at), sa.func.max(alerts.c.starts_at))
        .where(alerts.c.source != OWN_SOURCE)).one()
    if latest is None:
        return None
    return StoredHistory(float(oldest), float(latest), pruned_before(conn))


def trained_span(history: StoredHistory, days: float, first: float | None,
                 last: float | None) -> dict[str, Any]:
    """The span a retrain of ``days`` actually trained on, for its report: the window
    asked for, the first and last start of the alerts it read, the days between them,
    and the history behind a short one."""
    since = history.window_start(days)
    span = {"asked_since": to_rfc3339(since), "until": to_rfc3339(history.latest),
            "days_asked": days,
            "first_start": None if first is None else to_rfc3339(first),
            "last_start": None if last is None else to_rfc3339(last),
            "days_trained": None if first is None or last is None
            else round((last - first) / DAY, 4),
            "short": history.is_short(days),
            "oldest_stored": to_rfc3339(history.oldest),
            "pruned_before": None if history.pruned_before is None
            else to_rfc3339(history.pruned_before)}
    return span
