"""Warnings about what senders do wrong, said often enough to be seen, never a flood.

Why: a device with a wrong SNMPv3 passphrase sends every trap so, and the operator
needs to hear it, but once, not per trap; a sender making up user names produces a new
reason per datagram. A set of reasons said "once" and capped (1,000) was silenced for
good once full, even for a real device's new fault. Here a reason is said again after
``repeat`` seconds, at most ``per_minute`` warnings are said in a minute (the rest are
counted, and the count said with the next warning), and the reasons remembered are
bounded, the oldest forgotten first.
"""

from __future__ import annotations

import threading
import time


class WarnLimit:
    def __init__(self, repeat: float = 3600.0, per_minute: int = 30, remember: int = 10_000):
        self.repeat = repeat
        self.per_minute = per_minute
        self.remember = remember
        self._said: dict[str, float] = {}  # reason -> when it was last said
        self._minute = -1
        self._in_minute = 0
        self._held = 0  # warnings not said since the last one said
        self._lock = threading.Lock()

    def check(self, reason: str, now: float | None = None) -> str | None:
        """The text to log for ``reason`` now (with how many were held back before it),
        or None when it should not be said."""
        now = time.time() if now is None else now
        with self._lock:
            last = self._said.get(reason)
            if last is not None and now - last < self.repeat:
                return None
            minute = int(now // 60)
            if minute != self._minute:
                self._minute, self._in_minute = minute, 0
            if self._in_minute >= self.per_minute:
                self._held += 1
                return None
            self._in_minute += 1
            self._said.pop(reason, None)
            self._said[reason] = now
            while len(self._said) > self.remember:
                del self._said[next(iter(self._said))]
            held, self._held = self._held, 0
        return reason + (f" ({held} more warnings held back since the last one; the "
                         "counts are in the progress line)" if held else "")
