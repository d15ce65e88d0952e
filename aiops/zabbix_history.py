"""Zabbix's past trigger problems as canonical alerts, for ``aiops train``.

``aiops zabbix follow`` forwards from its first run on; what Zabbix recorded before
stays in Zabbix, and ``aiops train --alerts FILE`` learns the type relations, clock
offsets, time scale and ring shares from a file of past alerts. This pulls the
problem events of a span (``event.get``, source 0 object 0: a trigger's problems)
into such a file, one alert per problem, with its end from its recovery event.

Each alert is the one the follower sends for the same problem: the same item
(``problem_item``, as the follower builds it for a problem it missed) through the
same ``zabbix`` webhook mapping the engine applies (a data dir's own ``zabbix.yml``
included), so what training learns from is what the live engine sees. The problem's
alert (firing) takes the end of its recovery's alert, which is the same alert but for
its id and end: the engine folds the two into one stored alert.

Paged by event id (``eventid_from``, ascending, ``PAGE`` ids a call), with the
details asked 200 ids at a time (``ZabbixApi.events``) and the recoveries' times by
id: a year of history is many small calls, never one answer that exhausts a front
end's PHP memory. Written to a partial file beside the output and renamed at the end,
so a pull that fails leaves no half file under the output's name; what it had written
stays in the partial file with a checkpoint (aiops/zabbix_checkpoint.py), and
``resume`` continues from there instead of pulling months of history again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiops.durable import sync_directory
from aiops.errors import InputError
from aiops.models import Alert
from aiops.stop_signals import Stopped
from aiops.timeutil import parse_duration, parse_timestamp, to_rfc3339
from aiops.zabbix_checkpoint import (
    Checkpoint,
    Span,
    mapping_identity,
    pull_files,
    write_checkpoint,
)
from connectors.webhook_mapping import Mapping
from connectors.zabbix_api import ZabbixApi, ZabbixError, problem_item, recovery_item

try:
    import fcntl
except ImportError:  # Windows: the partial file cannot be locked (LOCKING)
    fcntl = None  # type: ignore[assignment]

PAGE = 1000  # problem event ids listed per call
# Whether this system can lock a partial file against a second pull (POSIX flock); the
# command refuses to run where it cannot rather than let two pulls interleave.
LOCKING = fcntl is not None
NO_LOCKING = ("aiops zabbix history needs POSIX file locking (fcntl.flock) to keep two "
              "pulls out of one partial file; this system has none: run it on Linux, "
              "macOS or another POSIX system")


@dataclass(slots=True)
class Pulled:
    """What a pull wrote so far: said at its end, and in its error if it failed."""

    written: int = 0
    still_open: int = 0  # written with no end: no recovery event (yet)
    skipped: int = 0  # events that are no host's trigger problem, or gone meanwhile
    reached: float | None = None  # the clock of the last problem event read
    pages: int = 0
    resumed: int = 0  # events (written or skipped) read by the pull this one resumed
    resumed_pages: int = 0

    @classmethod
    def resuming(cls, checkpoint: Checkpoint | None) -> Pulled:
        """The counts a resumed pull starts from: its totals are the whole span's."""
        if checkpoint is None:
            return cls()
        c = checkpoint
        return cls(c.written, c.still_open, c.skipped, c.reached, c.pages,
                   c.written + c.skipped, c.pages)

    def line(self) -> str:
        upto = f", up to {to_rfc3339(self.reached)}" if self.reached is not None else ""
        return f"{self.written} alerts written ({self.still_open} still open){upto}"


class HistoryFailed(Exception):
    """The pull stopped (Zabbix down, gone or refusing, or a signal): why, what it had
    pulled, and where that is kept (``partial``; None: no checkpoint, nothing kept);
    nothing is left under the output's name."""

    def __init__(self, cause: ZabbixError | OSError | Stopped, pulled: Pulled, out: Path,
                 partial: Path | None):
        kept = (f"; kept in {partial}: the same command with --resume continues it"
                if partial is not None else "")
        super().__init__(f"{cause}; {pulled.line()} before it stopped; {out} not "
                         f"written{kept}")
        self.cause = cause
        self.pulled = pulled
        self.partial = partial


def is_duration(text: str) -> bool:
    """Whether a ``--since``/``--until`` is a duration back from now (``30d``), which
    says another moment at each run, rather than a date or time."""
    text = text.strip()
    return text[-1:] in ("s", "m", "h", "d") and text[:-1].replace(".", "", 1).isdigit()


def parse_moment(text: str, name: str, now: float) -> float:
    """``--since``/``--until``: a duration back from ``now`` (``30d``, ``12h``, ``90m``,
    ``45s``), a date (``2026-01-31``, its midnight in UTC), or a time (RFC 3339; UTC
    when it gives no offset). A bare number is refused: seconds ago or an epoch, the
    text cannot say which."""
    text = text.strip()
    if is_duration(text):
        return max(0.0, now - parse_duration(text, name))  # 100000d: all of it
    try:
        float(text)
    except ValueError:
        pass
    else:
        raise InputError(f"--{name} {text!r} is a bare number: give a duration with its "
                         "unit (30d, 12h, 90m) or a date or time (2026-01-31, "
                         "2026-01-31T08:00:00Z)", field=name)
    try:
        return parse_timestamp(text, name)
    except ValueError:
        raise InputError(f"--{name} {text!r} is neither a duration (30d, 12h, 90m) nor a "
                         "date or time (2026-01-31, 2026-01-31T08:00:00Z)",
                         field=name) from None


def history_alert(mapping: Mapping, event: dict[str, Any],
                  recovered_at: float | None) -> Alert:
    """The alert of one problem event (``event.get`` with what ``problem_item`` needs)
    as the follower makes it, ended at ``recovered_at`` (None: still open). Raises
    ValueError for an event that is no host's trigger problem (as the follower skips)."""
    item = problem_item(event, update=True)
    (alert,) = mapping.apply(item).alerts
    if recovered_at is None:
        return alert
    (ended,) = mapping.apply(recovery_item(item, recovered_at)).alerts
    return dataclasses.replace(alert, ends_at=ended.ends_at)


def pull_history(api: ZabbixApi, mapping: Mapping, out: Path, since: float,
                 until: float | None = None, *, page: int = PAGE,
                 progress: Callable[[Pulled], None] | None = None,
                 resume: Checkpoint | None = None) -> Pulled:
    """Write the alerts of the trigger problem events of ``since``..``until`` (Zabbix's
    whole seconds, both included; None: now, fixed at the start) to ``out``, in event
    id order, one JSON line each; ``progress`` after each page. ``resume``: continue
    the stopped pull of that checkpoint (its span must be this one). HistoryFailed when
    Zabbix fails part-way or a signal stops it (``Stopped``, raised within
    ``stopping_on_signals``): ``out`` untouched, the pages written kept for ``resume``.
    InputError when the partial file is another pull's or not the checkpoint's.

    Durable in this order: a page's lines fsynced before the checkpoint that names
    them is written (itself durably, ``write_checkpoint``), so that after a power cut
    the checkpoint never names more than the partial file holds; the partial file
    renamed to ``out`` and that rename on disk before the checkpoint is removed.

    Kept for ``resume`` is what a checkpoint on disk names, whatever the moment of the
    stop: the partial file is removed only when there is none (a stop between a
    checkpoint's rename and the next statement must not leave one naming a removed
    file). Before its first page's lines, a pull writes an empty checkpoint (no page,
    no bytes), so a stop while that page is written leaves a pull to resume from its
    start rather than nothing; a pull that fails before it has a page in hand keeps
    nothing, as before."""
    span = Span(api.url, int(since), int(until if until is not None else time.time()),
                mapping_identity(mapping))
    if resume is not None and resume.span != span:
        raise ValueError(f"a checkpoint of another pull: {resume.span.differences(span)}")
    partial, checkpoint = pull_files(out)
    pulled = Pulled.resuming(resume)
    after = resume.after if resume is not None else 0
    handle = _open_partial(partial, checkpoint, resume)
    started = resume is not None  # a checkpoint of this pull is on disk
    try:
        with handle:
            while True:
                ids = api.problem_eventids_after(after, page, time_from=span.since,
                                                 time_till=span.until)
                if not ids:
                    break
                lines = _page_lines(api, mapping, ids, pulled)
                if not started:  # the empty checkpoint: resumable from here on
                    write_checkpoint(checkpoint, Checkpoint(
                        span, after=0, size=0, written=0, still_open=0, skipped=0,
                        pages=0, reached=None))
                    started = True
                handle.writelines(lines)
                pulled.pages += 1
                after = int(ids[-1])
                handle.flush()
                os.fsync(handle.fileno())
                write_checkpoint(checkpoint, Checkpoint(
                    span, after, os.fstat(handle.fileno()).st_size, pulled.written,
                    pulled.still_open, pulled.skipped, pulled.pages, pulled.reached))
                if progress is not None:
                    progress(pulled)
                if len(ids) < page:
                    break
        # The rename before the checkpoint goes: stopped between the two, the pull is
        # kept whole and resumable, or finished. A checkpoint left beside a finished
        # output names no partial file, which ``--resume`` refuses.
        os.replace(partial, out)
    except (ZabbixError, OSError, Stopped) as exc:  # OSError: the disk, not Zabbix
        kept = checkpoint.exists()
        if kept:  # its rename on disk, should the stop have come before that sync
            with contextlib.suppress(OSError):  # the error to say is the first
                sync_directory(checkpoint.parent)
        raise HistoryFailed(exc, pulled, out, partial if kept else None) from None
    finally:
        if not checkpoint.exists():  # nothing names its lines: not a pull to resume
            partial.unlink(missing_ok=True)
    sync_directory(out.parent)
    checkpoint.unlink(missing_ok=True)
    return pulled


def _open_partial(partial: Path, checkpoint: Path, resume: Checkpoint | None) -> Any:
    """The partial file, for appending, locked against a second pull to the same
    output (which would interleave its lines), and cut to what ``resume``'s checkpoint
    says (a page it was writing when stopped is written again) or emptied. InputError
    when it holds less than the checkpoint says (both lengths named). Emptied, its
    stopped pull's ``checkpoint`` is removed first, durably: left, it would name this
    pull's first lines as that one's if this one is killed before its own."""
    if resume is not None and not partial.exists():
        raise InputError(f"--resume: no partial file {partial} beside its checkpoint; "
                         "run without --resume to pull the span again")
    if fcntl is None:
        raise InputError(NO_LOCKING)
    handle = partial.open("a", encoding="utf-8")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise InputError(f"{partial} is being written by another pull of the same "
                         "--out") from None
    if resume is None:
        checkpoint.unlink(missing_ok=True)
    sync_directory(partial.parent)  # its entry on disk before a checkpoint names it
    size = os.fstat(handle.fileno()).st_size
    if resume is not None and size < resume.size:
        handle.close()
        raise InputError(f"--resume: the partial file {partial} has {size} bytes, fewer "
                         f"than the {resume.size} its checkpoint says; run without "
                         "--resume to pull the span again")
    os.ftruncate(handle.fileno(), resume.size if resume is not None else 0)
    return handle


def _page_lines(api: ZabbixApi, mapping: Mapping, ids: list[str],
                pulled: Pulled) -> list[str]:
    """One page of problem event ids: their events, their recoveries' times, their
    alerts as JSON lines in id order (counted in ``pulled``), all asked of Zabbix
    before a line is written."""
    lines = []
    events = api.events(ids)
    recovery = {eventid: str(event.get("r_eventid") or "0")
                for eventid, event in events.items()}
    ends = api.clocks([r for r in recovery.values() if r.isdigit() and r != "0"])
    for eventid in ids:
        event = events.get(eventid)
        if event is None:  # deleted since it was listed (its trigger or host went)
            pulled.skipped += 1
            continue
        try:
            alert = history_alert(mapping, event, ends.get(recovery[eventid]))
        except ValueError:  # InputError too: what the follower skips, skipped
            pulled.skipped += 1
            continue
        lines.append(json.dumps(alert.to_dict(), ensure_ascii=False) + "\n")
        pulled.written += 1
        pulled.still_open += alert.ends_at is None
        pulled.reached = alert.starts_at
    return lines
