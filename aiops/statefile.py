"""A follower's small state file (``aiops icinga follow``, ``aiops zabbix follow``):
what it must remember across a restart, tied to the URL it follows."""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
# One writer at a time: a follower's thread and its stop may write at once, and two
# writers of one ``.part`` file would move each other's half-written file into place.
_WRITING = threading.Lock()


def write_state(path: Path, url: str, state: dict[str, Any]) -> bool:
    """Write atomically (a crash leaves the previous file, and the new one is on disk
    before it replaces it, so a power cut does not leave an empty one); False, logged,
    when it cannot be written: following goes on, only a restart will know less."""
    text = json.dumps({**state, "url": url})
    try:
        with _WRITING:
            path.parent.mkdir(parents=True, exist_ok=True)
            part = path.with_suffix(".part")
            with part.open("w", encoding="utf-8") as file:
                file.write(text)
                file.flush()
                os.fsync(file.fileno())
            os.replace(part, path)
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
