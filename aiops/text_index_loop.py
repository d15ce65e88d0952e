"""``aiops serve`` indexing new alerts and incidents for the text search on SQLite
(``aiops.store.text_catchup``) every ``EVERY`` seconds unless told otherwise
(``--text-index-every``, ``AIOPS_TEXT_INDEX_EVERY``; 0: never), on its own thread.

Why a thread of its own and not the ingest path or the retention loop: the index costs
~50 us an alert, which on the ingest thread was 7-30 % of the ingest rate (and the
titles 2-5 % more); the retention loop runs hourly and only when pruning is
configured. Until a round indexes them, a search reads the newest rows by a scan of
their keys' range (an interval's ingest, plus whatever was stored while nothing
served; with the catch-up off, everything stored since the last one).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING

import sqlalchemy as sa

from aiops.store.text_catchup import index_tail

if TYPE_CHECKING:
    from aiops.runtime import Runtime

log = logging.getLogger(__name__)

EVERY = 5.0  # seconds between two catch-ups, unless `aiops serve --text-index-every`
LONGEST = 86_400.0  # a day: longer is a typo (minutes for seconds), not a choice
ENV = "AIOPS_TEXT_INDEX_EVERY"


def interval(value: str) -> float:
    """Seconds between two catch-ups from an operator's text, 0 to 86,400. The
    ValueError says what is wrong with the value; the caller names where it was set
    (``AIOPS_TEXT_INDEX_EVERY`` or ``--text-index-every``)."""
    try:
        seconds = float(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a number of seconds") from None
    if not 0 <= seconds <= LONGEST:  # NaN too
        raise ValueError(f"{seconds:g} is not in 0..{LONGEST:.0f} seconds")
    return seconds


class TextIndexLoop:
    """Indexes ``db``'s new alerts and incidents at start and then every ``every`` seconds on a
    daemon thread, until ``stop``. A round that fails (the database away, locked past
    its timeout) is logged and the next one tries again."""

    def __init__(self, db: sa.Engine, every: float = EVERY):
        self.db = db
        self.every = every
        self.rounds = 0
        self.indexed = 0  # rows indexed since start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name="aiops-text-index")

    def start(self) -> TextIndexLoop:
        self._thread.start()
        return self

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 10.0) -> bool:
        """Ask the thread to end (after the chunk it is in: one short transaction) and
        wait for it up to ``timeout``; whether it ended."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=timeout)
        if self._thread.is_alive():
            log.warning("text index: still indexing %g s after being asked to stop", timeout)
            return False
        return True

    def index_once(self) -> int:
        done = index_tail(self.db, stopping=self._stop.is_set)
        self.indexed += done
        if done:
            log.debug("text index: indexed %d new alerts and incidents", done)
        return done

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.index_once()
            except Exception:  # noqa: BLE001 - the next round tries again; say why
                log.exception("text index: catch-up failed")
            self.rounds += 1
            self._stop.wait(self.every)


def interval_from_env(environ: Mapping[str, str] | None = None) -> float:
    """The interval a WSGI server's app runs with (``aiops.api.create_app``): it has no
    flags, so ``AIOPS_TEXT_INDEX_EVERY`` or the default. A bad value is a ValueError
    naming the variable, which stops the app before it serves (as a bad sign-on
    setting does) rather than serving with searches that only get slower."""
    value = (os.environ if environ is None else environ).get(ENV, "")
    if not value.strip():
        return EVERY
    try:
        return interval(value)
    except ValueError as exc:
        raise ValueError(f"Invalid value for {ENV}: {exc}") from None


def start_text_index(runtime: Runtime, every: float = EVERY) -> TextIndexLoop | None:
    """Start the loop for a serving process on SQLite (PostgreSQL's indexes follow
    every write themselves), a round every ``every`` seconds; none for 0 (``aiops
    serve --text-index-every 0``: the operator's choice, the caller says what it
    costs). ``Runtime.close`` stops it."""
    if runtime.db.dialect.name != "sqlite" or runtime.text_index is not None or not every:
        return runtime.text_index
    runtime.text_index = TextIndexLoop(runtime.db, every).start()
    return runtime.text_index
