"""A log file another program appends to, read from where the last read stopped, across
its rotations.

A position is the file's device and inode and a byte offset just after the last whole
line read, so a follower that keeps it (in its state file) reads each line once across
restarts. A line being written (no newline yet) is left for the next read: it is not
lost, and not read cut short. When the path names another file than the position's
(the old one was renamed: Nagios's own rotation moves it into ``log_archive_path``,
logrotate renames it beside), the rest of the old file is read first if it is found
by its inode in the directories given, then the new file from its beginning; a file
that shrank (logrotate's ``copytruncate``) is read again from its beginning. What
could not be read (the old file not found) is said once. One case reads as neither: an
old file deleted and a new one given its inode number before the next read; it is
read from the old offset (or from its beginning if shorter).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO

log = logging.getLogger(__name__)
BLOCK = 1 << 20  # bytes read at a time: a backlog of days is read without holding it


@dataclass(frozen=True, slots=True)
class TailPosition:
    device: int
    inode: int
    offset: int  # just after the last whole line read

    def to_json(self) -> list[int]:
        return [self.device, self.inode, self.offset]

    @classmethod
    def from_json(cls, value: Any) -> TailPosition:
        """From ``to_json``'s list; ValueError naming what is wrong otherwise."""
        match value:
            case [int(device), int(inode), int(offset)] if offset >= 0:
                return cls(device, inode, offset)
        raise ValueError(f"a position is [device, inode, offset], got {value!r}")


class FileTail:
    """Reads ``path``'s new whole lines; the position is the caller's to keep."""

    def __init__(self, path: Path, archive_dirs: Iterable[Path] = ()):
        self.path = path
        # Where a rotated file is looked for: its own directory first.
        self.search = [path.parent, *archive_dirs]
        self.start_at_end = True  # a first read with no position skips what was there
        self.warned = ""

    def read(self, position: TailPosition | None,
             each_line: Callable[[str], None]) -> TailPosition | None:
        """Give each new whole line to ``each_line``, in file order; the position after
        them. OSError when it cannot be read: FileNotFoundError for a missing file,
        which is read from its beginning when it appears (it is new)."""
        try:
            stream = open(self.path, "rb")  # noqa: SIM115 - closed below
        except FileNotFoundError:
            self.start_at_end = False
            raise
        with stream:
            st = os.fstat(stream.fileno())  # the file opened, even if renamed since
            if position is None and self.start_at_end:
                self.start_at_end = False
                return TailPosition(st.st_dev, st.st_ino, _last_line_end(stream, st.st_size))
            self.start_at_end = False
            if position is None:
                position = TailPosition(st.st_dev, st.st_ino, 0)
            elif (st.st_dev, st.st_ino) != (position.device, position.inode):
                self._rest_of_rotated(position, each_line)
                position = TailPosition(st.st_dev, st.st_ino, 0)
            elif st.st_size < position.offset:
                self.warn(f"{self.path} shrank to {st.st_size} bytes from the "
                          f"{position.offset} read (truncated); reading it from its "
                          "beginning")
                position = replace(position, offset=0)
            offset = _lines_from(stream, position.offset, each_line)
        self.warned = ""  # read: a file missing or unreadable again is said again
        return replace(position, offset=offset)

    def _rest_of_rotated(self, position: TailPosition,
                         each_line: Callable[[str], None]) -> None:
        old = self._find(position)
        if old is None:
            self.warn(f"{self.path} was rotated and its old file (inode {position.inode}) "
                       f"is not in {', '.join(str(d) for d in self.search)}: what it got "
                       f"after byte {position.offset} is not read; reading the new file "
                       "from its beginning")
            return
        try:
            with open(old, "rb") as stream:
                _lines_from(stream, position.offset, each_line)
        except OSError as exc:
            self.warn(f"{old} (rotated from {self.path}) unreadable ({exc}); what it got "
                       f"after byte {position.offset} is not read")
            return
        log.info("%s was rotated: read the rest of %s", self.path, old)

    def _find(self, position: TailPosition) -> Path | None:
        for folder in self.search:
            try:
                entries = list(os.scandir(folder))
            except OSError:
                continue
            for entry in entries:
                try:
                    if (entry.inode() == position.inode and entry.is_file()
                            and entry.stat().st_dev == position.device):
                        return Path(entry.path)
                except OSError:
                    continue
        return None

    def warn(self, message: str) -> None:
        if message != self.warned:
            log.warning("%s", message)
        self.warned = message


def _lines_from(stream: BinaryIO, offset: int, each_line: Callable[[str], None]) -> int:
    """Each whole line from ``offset`` on; the offset after the last of them."""
    stream.seek(offset)
    held = b""
    while block := stream.read(BLOCK):
        held += block
        end = held.rfind(b"\n")
        if end < 0:
            continue
        # Whole lines decode as one: a newline byte is never inside a UTF-8 character.
        for line in held[:end].decode("utf-8", "replace").split("\n"):
            each_line(line)
        offset += end + 1
        held = held[end + 1:]
    return offset


def _last_line_end(stream: BinaryIO, size: int) -> int:
    """The offset just after the file's last whole line; where its last MiB begins when
    that holds no newline (0 for a smaller file with none)."""
    start = max(0, size - BLOCK)
    stream.seek(start)
    end = stream.read(size - start).rfind(b"\n")
    return start + end + 1 if end >= 0 else start
