"""Following Zabbix by polling its API: new problems fire, problems sent before that are
no longer open resolve, at the time of their recovery event.

For sites that cannot add a media type (docs/webhooks.md), or want nothing lost while
a notification could not be delivered. Each poll asks which problems are open
(``problem.get``, ids only), then the events of the new ones and of the ones gone.
The problems sent and not yet resolved are kept in a state file, so a follower
restarted after any time still resolves what recovered meanwhile; a problem that
opened and closed between two polls (or while the follower was away) is not seen.
Events go through ``aiops.forwarder`` (kept while the engine is away).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiops.forwarder import Forwarder
from connectors.zabbix_api import (
    ZabbixApi,
    ZabbixError,
    ZabbixRefused,
    problem_item,
    recovery_item,
)

log = logging.getLogger(__name__)


@dataclass(slots=True)
class PollStats:
    polls: int = 0
    problems: int = 0
    recoveries: int = 0
    skipped: int = 0  # events that were not a host's trigger problem
    failures: int = 0

    def line(self) -> str:
        return (f"zabbix: {self.polls} polls, {self.problems} problems, {self.recoveries} "
                f"recoveries sent, {self.skipped} skipped, {self.failures} failed polls")


class ZabbixFollower:
    def __init__(self, api: ZabbixApi, forwarder: Forwarder, *, interval: float = 30.0,
                 state_file: Path | None = None, clock: Callable[[], float] = time.time):
        self.api = api
        self.forwarder = forwarder
        self.interval = interval
        self.state_file = state_file
        self.clock = clock
        self.stats = PollStats()
        self.open: dict[str, dict[str, Any]] = self._load()  # event id -> item sent
        self.refused: ZabbixRefused | None = None
        self.failed: BaseException | None = None
        self.last_error = ""

    def run(self, stop: threading.Event) -> None:
        """Poll every ``interval`` until ``stop``, a refusal (``self.refused``) or an
        unforeseen failure (``self.failed``)."""
        while not stop.is_set():
            try:
                self.poll()
                self.last_error = ""
            except ZabbixRefused as exc:
                self.refused = exc
                log.error("%s", exc)
                return
            except ZabbixError as exc:
                self.stats.failures += 1
                if str(exc) != self.last_error:
                    log.warning("zabbix: %s; trying again in %g s", exc, self.interval)
                self.last_error = str(exc)
            except Exception as exc:  # noqa: BLE001 - said, and the process exits non-zero
                self.failed = exc
                log.exception("zabbix: the follower failed")
                return
            stop.wait(self.interval)

    def poll(self) -> None:
        """One poll: new problems sent firing, problems gone sent resolved."""
        current = self.api.open_problem_ids()
        new = sorted(current - self.open.keys(), key=int)
        gone = sorted(self.open.keys() - current, key=int)
        events = self.api.events(new + gone)
        for eventid in new:
            try:
                item = problem_item(events[eventid])
            except (KeyError, ValueError) as exc:
                self.stats.skipped += 1
                log.debug("zabbix: skipped event %s: %s", eventid, exc)
                continue
            self.open[eventid] = item
            self.forwarder.add(item)
            self.stats.problems += 1
        recovered = {eventid: str(events.get(eventid, {}).get("r_eventid") or "0")
                     for eventid in gone}
        times = self.api.recovery_times([r for r in recovered.values() if r != "0"])
        for eventid in gone:
            # No recovery event: the problem went with its trigger or host (deleted),
            # or its event was cleaned up; it ended by now at the latest.
            at = times.get(recovered[eventid], self.clock())
            self.forwarder.add(recovery_item(self.open.pop(eventid), at))
            self.stats.recoveries += 1
        self.stats.polls += 1
        if new or gone:
            self.save()

    def save(self) -> None:
        """The problems sent and open, written atomically."""
        if self.state_file is None:
            return
        try:
            self.state_file.parent.mkdir(parents=True, exist_ok=True)
            part = self.state_file.with_suffix(".part")
            part.write_text(json.dumps({"url": self.api.url, "open": self.open}),
                            encoding="utf-8")
            os.replace(part, self.state_file)
        except OSError as exc:
            log.warning("zabbix: cannot write %s (%s); a restart will not resolve what "
                        "recovers meanwhile", self.state_file, exc)

    def _load(self) -> dict[str, dict[str, Any]]:
        if self.state_file is None or not self.state_file.exists():
            return {}
        try:
            saved = json.loads(self.state_file.read_text(encoding="utf-8"))
            open_ = saved["open"]
            if saved.get("url") != self.api.url or not isinstance(open_, dict):
                return {}
            return {str(k): dict(v) for k, v in open_.items()}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("zabbix: %s unreadable (%s); starting from Zabbix's open problems",
                        self.state_file, exc)
            return {}
