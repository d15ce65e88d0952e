"""aiops/stop_signals.py: a signal raised as ``Stopped`` in the main thread, a second
one left to the system, and the handlers before put back."""

from __future__ import annotations

import os
import signal

import pytest

from aiops.stop_signals import Stopped, stopping_on_signals


@pytest.mark.parametrize("sig, status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)],
                         ids=["SIGTERM", "SIGINT"])
def test_a_signal_raises_stopped_then_a_second_is_the_system_s(
        sig: signal.Signals, status: int) -> None:
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    with stopping_on_signals():
        with pytest.raises(Stopped) as stopped:
            os.kill(os.getpid(), sig)
        # A stop that hangs can still be ended by a second signal (not sent here: it
        # would end the test run).
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
        assert signal.getsignal(signal.SIGINT) == signal.SIG_DFL
    assert (str(stopped.value), stopped.value.exit_status) == (
        f"stopped by {sig.name}", status)
    assert {s: signal.getsignal(s) for s in before} == before
