"""SIGTERM and SIGINT as an exception, for a command that must stop where it stands.

A follower (``aiops zabbix follow``) treats a stop as its normal end and finishes its
loop; a one-off job such as ``aiops zabbix history`` must instead leave off now, even
while it waits on a server that stalls, and say what it kept. Python's default SIGTERM
kills the process without running its ``finally`` blocks or saying anything, and its
SIGINT (KeyboardInterrupt) reaches click, which exits 1 as for a failure. Within
``stopping_on_signals`` both raise ``Stopped``, a BaseException so that no library's
``except Exception`` swallows it, and the command exits with the shell's status for
that signal (128 + its number: 143 for SIGTERM, 130 for SIGINT).
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Stopped(BaseException):
    """A stop asked by a signal."""

    def __init__(self, signum: int):
        self.signum = signum
        super().__init__(f"stopped by {signal.Signals(signum).name}")

    @property
    def exit_status(self) -> int:
        """The status a shell reports for a process ended by this signal."""
        return 128 + self.signum


def _raise(signum: int, frame: FrameType | None) -> None:
    # A second signal while the first is handled (a stop that hangs) ends the process
    # the default way: the state the first left is the same safe one.
    for sig in SIGNALS:
        signal.signal(sig, signal.SIG_DFL)
    raise Stopped(signum)


@contextmanager
def stopping_on_signals(signals: tuple[signal.Signals, ...] = SIGNALS) -> Iterator[None]:
    """Within: SIGTERM and SIGINT (or only ``signals``) raise ``Stopped`` in the main
    thread, the first one only; the handlers before are put back at the end."""
    before = {sig: signal.signal(sig, _raise) for sig in signals}
    try:
        yield
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
