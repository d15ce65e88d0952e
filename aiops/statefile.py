"""A follower's small state file (``aiops icinga follow``, ``aiops zabbix follow``):
what it must remember across a restart, tied to the URL it follows."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from aiops.durable import replace_with_text

log = logging.getLogger(__name__)


def write_state(path: Path, url: str, state: dict[str, Any]) -> bool:
    """Replace the file whole and durably (``aiops.durable``: a crash or a power cut
    leaves the previous state or this one); False, logged, when it cannot be written:
    following goes on, only a restart will know less. Each write has a temporary file
    of its own, so a follower's thread and its stop may write at once."""
    text = json.dumps({**state, "url": url})
    try:
        replace_with_text(path, text)
    except OSError as exc:
        log.warning("cannot write %s (%s); a restart will start without it", path, exc)
        return False
    return True


def read_state(path: Path, url: str) -> dict[str, Any] | None:
    """The state written for ``url``; None when there is none, it is unreadable or it
    is another URL's (each logged but the first)."""
    if not path.exists():
        return None
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        log.warning("%s unreadable (%s); starting without it", path, exc)
        return None
    if not isinstance(saved, dict) or saved.get("url") != url:
        log.warning("%s is not %s's; starting without it", path, url)
        return None
    return saved
