"""Following Icinga 2: its state changes go to the engine as they happen, and nothing
is missed across a reconnect.

On every (re)connect the follower opens the event stream, then asks what is wrong now
and what recovered since the stream was last known alive (less a margin for the two
machines' clocks), so a problem that started, or ended, while the stream was away
still reaches the engine. Repeats are harmless: a problem sent twice has the same
start and the engine folds it; a recovery of a problem the engine never saw opens
nothing. Events go through ``aiops.forwarder`` (kept while the engine is away).

A stream that says nothing for ``idle_timeout`` seconds is reopened (Icinga sends no
keep-alive on it, and a dead connection would otherwise wait forever); a refusal of
the user (401, 403) or a URL that is not Icinga's API stops the follower, since
trying again will not help.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiops.forwarder import Forwarder
from connectors.icinga import (
    IcingaApi,
    IcingaError,
    IcingaRefused,
    Key,
    StreamIdle,
    key_of,
    state_change_item,
)

log = logging.getLogger(__name__)
CLOCK_MARGIN = 300.0  # seconds: recoveries this much before the stream was last alive
MAX_PAUSE = 30.0


@dataclass(slots=True)
class FollowStats:
    events: int = 0  # stream lines read
    changes: int = 0  # hard state changes forwarded
    synced: int = 0  # items the object queries forwarded
    connects: int = 0
    unreadable: int = 0  # stream lines or events that could not be read
    lock: threading.Lock = field(default_factory=threading.Lock)

    def line(self) -> str:
        return (f"icinga: {self.connects} connects, {self.events} events, {self.changes} "
                f"hard state changes, {self.synced} from state queries, {self.unreadable} "
                "unreadable")


class IcingaFollower:
    def __init__(self, api: IcingaApi, forwarder: Forwarder, *, queue: str = "aiops",
                 lookback: float = 3600.0, idle_timeout: float = 300.0,
                 clock: Callable[[], float] = time.time):
        self.api = api
        self.forwarder = forwarder
        self.queue = queue
        self.idle_timeout = idle_timeout
        self.clock = clock
        self.stats = FollowStats()
        self.firing: set[Key] = set()  # problems sent and not yet recovered
        self.alive_at = clock() - lookback  # first sync: recoveries of the last hour
        self.refused: IcingaRefused | None = None
        self.last_error = ""

    def run(self, stop: threading.Event) -> None:
        """Follow until ``stop`` is set or Icinga refuses the user (``self.refused``)."""
        pause = 0.0
        while not stop.is_set():
            try:
                self.follow_once(stop)
                pause = 0.0
            except IcingaRefused as exc:
                self.refused = exc
                log.error("%s", exc)
                return
            except StreamIdle:
                log.debug("icinga: the event stream was idle; reopening it")
                pause = 0.0
            except IcingaError as exc:
                if str(exc) != self.last_error:
                    log.warning("icinga: %s; reconnecting", exc)
                self.last_error = str(exc)
                pause = min(MAX_PAUSE, max(1.0, pause * 2))
                stop.wait(pause)

    def follow_once(self, stop: threading.Event) -> None:
        """One connection: open the stream, forward the state queries' items, then the
        stream's until it breaks (IcingaError) or ``stop`` is set."""
        stream = self.api.events(self.queue, self.idle_timeout)
        try:
            opened = self.clock()
            items = self.api.problems(self.alive_at - CLOCK_MARGIN, set(self.firing))
            self.alive_at = opened
            with self.stats.lock:
                self.stats.connects += 1
                self.stats.synced += len(items)
            for item in items:
                self._forward(item)
            self.last_error = ""
            log.info("icinga: connected to %s; %d problems and recent recoveries sent",
                     self.api.url, len(items))
            for doc in stream:
                self.alive_at = self.clock()
                with self.stats.lock:
                    self.stats.events += 1
                self.handle(doc)
                if stop.is_set():
                    return
        finally:
            with self.stats.lock:
                self.stats.unreadable += stream.unreadable
            stream.close()

    def handle(self, doc: Any) -> None:
        """One event of the stream. Never raises on a bad event: it is logged and
        counted, and the stream goes on."""
        try:
            item = state_change_item(doc)
        except ValueError as exc:
            with self.stats.lock:
                self.stats.unreadable += 1
            log.warning("icinga: skipped: %s", exc)
            return
        if item is None:
            return
        with self.stats.lock:
            self.stats.changes += 1
        self._forward(item)

    def _forward(self, item: dict[str, Any]) -> None:
        if item["state"] in ("OK", "UP"):
            self.firing.discard(key_of(item))
        else:
            self.firing.add(key_of(item))
        self.forwarder.add(item)
