"""Waiting for something another process does (a notification arriving, a listener
forwarding), with a message that says what did not happen."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def wait_for(predicate: Callable[[], Any], what: str, timeout: float = 30.0,
             explain: Callable[[], str] | None = None) -> Any:
    """The first true value of ``predicate()``, polled until ``timeout`` seconds; else
    an AssertionError naming ``what`` (and ``explain()``, such as a server's log)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.1)
    detail = f"\n{explain()}" if explain else ""
    raise AssertionError(f"{what} did not happen within {timeout:g} s{detail}")
