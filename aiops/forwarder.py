"""Batches events to an engine's HTTP API and keeps them while the engine is away.

A listener (``aiops syslog listen``) must not lose what devices sent because the
engine restarts or a network blips: events wait in a bounded queue and are posted in
batches; an engine that does not answer, or answers 5xx or 404 (an older server
without the mapping), is retried with a growing pause, the events kept in order. A
batch the engine refuses because of one event (400 naming ``alerts[i]`` in its
message, or ``[i]`` in its field) loses only that event, which is logged; the rest are
sent again at once. Any other refusal (a broken mapping on the engine's side, say) is
the engine's to fix: the events are kept and retried like an outage. Only when the
queue is full are the oldest events dropped, and counted, so memory stays bounded
through a long outage.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

import requests

log = logging.getLogger(__name__)
_REFUSED_ITEM = re.compile(r"^alerts\[(\d+)\]")  # in the message: a mapping's refusal
_REFUSED_FIELD = re.compile(r"^\[(\d+)\]")  # in the field: text that is not Unicode


@dataclass(slots=True)
class ForwardStats:
    received: int = 0
    forwarded: int = 0
    refused: int = 0  # the engine said the event was bad
    dropped: int = 0  # the queue was full: the oldest went
    failures: int = 0  # posts that did not reach an engine that took them

    def line(self, pending: int) -> str:
        """The progress line; ``pending`` is the forwarder's queue, read when printed."""
        return (f"received {self.received}, forwarded {self.forwarded}, pending "
                f"{pending}, refused {self.refused}, dropped {self.dropped}")


class Forwarder:
    def __init__(self, url: str, batch: int = 500, interval: float = 1.0,
                 max_pending: int = 100_000, timeout: float = 10.0,
                 max_pause: float = 30.0, token: str | None = None):
        self.url = url
        # The engine's access token (AIOPS_API_TOKENS_FILE on its side), sent as Bearer;
        # a 401 or 403 keeps the events and retries, like an engine that is down.
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.batch = batch
        self.interval = interval
        self.timeout = timeout
        self.max_pause = max_pause
        self._queue: deque[dict[str, Any]] = deque()
        self._max_pending = max_pending
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._pause = 0.0
        self._in_flight = 0  # events of the batch being posted: taken, not yet delivered
        self.stats = ForwardStats()
        self.last_error = ""

    def add(self, event: dict[str, Any]) -> None:
        with self._lock:
            if len(self._queue) >= self._max_pending:
                self._queue.popleft()
                self.stats.dropped += 1
            self._queue.append(event)
            self.stats.received += 1
            if len(self._queue) >= self.batch:
                self._wake.set()

    def run(self, stop: threading.Event) -> None:
        """Post batches until ``stop`` is set, then try once more to empty the queue.

        After a failure it waits out the pause whatever arrives meanwhile (a storm must
        not turn the retries into a flood on an engine that is restarting); a stop
        ends the wait."""
        while not stop.is_set():
            if self._pause:
                stop.wait(self._pause)
            else:
                self._wake.wait(self.interval)
            self._wake.clear()
            while self.pending() and not stop.is_set():
                if not self.flush_once():
                    break
        while self.pending() and self.flush_once():
            pass

    def wake(self) -> None:
        """Post now rather than at the next interval (a stop, a full batch)."""
        self._wake.set()

    def progress(self) -> str:
        """What was received, forwarded, is pending, refused or dropped, as one line."""
        return self.stats.line(self.pending())

    def pending(self) -> int:
        """Events not yet delivered: queued, or in the batch being posted. A follower
        that writes its state "once the forwarder holds nothing" must not take a batch
        on its way (which may yet fail and be kept) for one delivered."""
        with self._lock:
            return len(self._queue) + self._in_flight

    def flush_once(self) -> bool:
        """Post one batch; True when the engine took it (or refused one event of it),
        False when it should be tried again later."""
        with self._lock:
            batch = [self._queue.popleft() for _ in range(min(self.batch, len(self._queue)))]
            self._in_flight = len(batch)
        if not batch:
            return True
        try:
            return self._post(batch)
        finally:
            with self._lock:
                self._in_flight = 0

    def _post(self, batch: list[dict[str, Any]]) -> bool:
        try:
            response = requests.post(self.url, json=batch, timeout=self.timeout,
                                     headers=self._headers)
        except Exception as exc:  # noqa: BLE001 - the network, or anything else: keep them
            return self._later(batch, f"{type(exc).__name__}: {exc}")
        if 200 <= response.status_code < 300:  # a proxy in front may answer 202 or 204
            self._pause = 0.0
            with self._lock:
                self.stats.forwarded += len(batch)
                self._in_flight = 0
            return True
        message, field = _error(response)
        index = _refused_index(message, field) if response.status_code == 400 else None
        if index is not None and index < len(batch):
            log.error("the engine refused an event (dropped): %s; event: %s", message,
                      batch[index])
            with self._lock:
                self.stats.refused += 1
            return self._requeue(batch[:index] + batch[index + 1:])
        if response.status_code == 413 and len(batch) > 1:
            self.batch = max(1, len(batch) // 2)  # the engine takes less at once
            return self._requeue(batch)
        # Anything else (5xx, 404 from an older engine, a 400 that names no event, such as
        # a broken mapping file on the engine's side) is kept and retried with the pause:
        # it is the engine's to fix, and the queue bounds what waits meanwhile.
        if response.status_code < 500 and response.status_code != 404:
            log.error("the engine refuses events (%d: %s); kept and retried",
                      response.status_code, message)
        return self._later(batch, f"HTTP {response.status_code}: {message}")

    def _requeue(self, batch: list[dict[str, Any]]) -> bool:
        with self._lock:
            self._queue.extendleft(reversed(batch))
            self._in_flight = 0  # back in the queue: counted there
            while len(self._queue) > self._max_pending:
                self._queue.popleft()
                self.stats.dropped += 1
        return True

    def _later(self, batch: list[dict[str, Any]], why: str) -> bool:
        self._requeue(batch)
        self._pause = min(self.max_pause, max(1.0, self._pause * 2))
        self.stats.failures += 1
        if why != self.last_error:
            log.warning("engine at %s not taking events (%s); %d kept, retrying in %.0f s",
                        self.url, why, self.pending(), self._pause)
        self.last_error = why
        return False


def _error(response: requests.Response) -> tuple[str, str]:
    """The engine's error message and field (``{"error": {"message", "field"}}``), or
    the start of a body that is not the engine's JSON (a proxy's page) and no field."""
    try:
        error = response.json()["error"]
        return str(error["message"]), str(error.get("field") or "")
    except (ValueError, KeyError, TypeError, AttributeError):
        return response.text[:500], ""


def _refused_index(message: str, field: str) -> int | None:
    """Which event of the batch a 400 blames, or None when it blames none. The engine
    names it at the start of the message when an event does not map or is not a valid
    alert (``alerts[2]: field 'entity' is empty``), and in the field alone when the body
    was refused as read (``[2].output``: a lone surrogate escape, text that is not
    Unicode): a batch refused for that is one event's fault too, and kept whole it
    would be retried for ever, holding back everything queued behind it."""
    found = _REFUSED_ITEM.match(message) or _REFUSED_FIELD.match(field)
    return int(found.group(1)) if found else None
