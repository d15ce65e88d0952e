"""A log file another program appends to, read from where the last read stopped, across
its rotations.

A position is the file's device and inode and a byte offset just after the last whole
line read, so a follower that keeps it (in its state file) reads each line once across
restarts; with them, the file's modification time at that read and a digest of its
first bytes (``HEAD``), which find what was written since in other files. A line being
written (no newline yet) is left for the next read: it is not lost, and not read cut
short.

When the path names another file than the position's (the old one was renamed:
Nagios's own rotation moves it into ``log_archive_path``, logrotate renames it beside),
the files are read in the order they were written, each line once:

1. the rest of the old file, found by its device and inode in the directories given,
   or, copied to another file system (Nagios's rotation copies it when its archive
   folder is on another one: a new inode), by its first bytes;
2. every archive written after the position's read (modified later than the file was
   then; by modification time, then name) other than the old file: the files of
   rotations in between, a follower stopped over two rotations. An archive is a file
   in those directories named as the log's rotations are (logrotate's ``NAME.1``,
   ``NAME-DATE``, and what ``archive_name`` accepts); none older than the old file is
   read, so a rotation never reads history the follower had not reached;
3. the new file from its beginning.

The same inode that no longer begins with the bytes read, or shorter than what was
read, is another file too: truncated (logrotate's ``copytruncate``: the rest is read
from the copy, found by its first bytes), or a new file given the old one's inode
number (Nagios's copy to another file system frees it just before). What could not be
read (the old file not found, a compressed archive, a file that ends in a line cut
short) is said once, with what it may have held.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

log = logging.getLogger(__name__)
BLOCK = 1 << 20  # bytes read at a time: a backlog of days is read without holding it
# The beginning that tells a log file from another: its first lines, with their times.
HEAD = 1024
# Archives a compressor wrote: read as text they would be garbage, so they are said.
COMPRESSED = (".gz", ".bz2", ".xz", ".zst", ".lz4", ".Z")


@dataclass(frozen=True, slots=True)
class TailPosition:
    device: int
    inode: int
    offset: int  # just after the last whole line read
    # The file's modification time when read (ns): an archive modified later is newer
    # than what was read. None in a position a version before it kept.
    mtime_ns: int | None = None
    # A digest of the file's first min(offset, HEAD) bytes; None when nothing was read.
    head: str | None = None

    def to_json(self) -> list[Any]:
        if self.mtime_ns is None:
            return [self.device, self.inode, self.offset]
        return [self.device, self.inode, self.offset, self.mtime_ns, self.head]

    @classmethod
    def from_json(cls, value: Any) -> TailPosition:
        """From ``to_json``'s list; ValueError naming what is wrong otherwise."""
        match value:
            case [int(device), int(inode), int(offset)] if offset >= 0:
                return cls(device, inode, offset)
            case [int(device), int(inode), int(offset), int(mtime_ns),
                  (str() | None) as head] if offset >= 0:
                return cls(device, inode, offset, mtime_ns, head)
        raise ValueError("a position is [device, inode, offset, mtime_ns, head], got "
                         f"{value!r}")


@dataclass(frozen=True, slots=True)
class _Found:
    """A file in one of the directories searched, as stat'ed once."""

    path: Path
    stat: os.stat_result

    @property
    def identity(self) -> tuple[int, int]:
        return self.stat.st_dev, self.stat.st_ino


class FileTail:
    """Reads ``path``'s new whole lines; the position is the caller's to keep.

    ``archive_dirs``: where rotated files go besides the log's own directory.
    ``archive_name``: which other names are the log's archives (Nagios names its own
    ``nagios-MM-DD-YYYY-HH.log``), besides logrotate's."""

    def __init__(self, path: Path, archive_dirs: Iterable[Path] = (),
                 archive_name: Callable[[str], bool] = lambda name: False):
        self.path = path
        # Where a rotated file is looked for: its own directory first.
        self.search = list(dict.fromkeys([path.parent, *archive_dirs]))
        self.archive_name = archive_name
        self.start_at_end = True  # a first read with no position skips what was there
        self.warned = ""

    def read(self, position: TailPosition | None,
             each_line: Callable[[str], None]) -> TailPosition | None:
        """Give each new whole line to ``each_line``, in the order written; the
        position after them. OSError when it cannot be read: FileNotFoundError for a
        missing file, which is read from its beginning when it appears (it is new)."""
        try:
            stream = open(self.path, "rb")  # noqa: SIM115 - closed below
        except FileNotFoundError:
            self.start_at_end = False
            raise
        with stream:
            st = os.fstat(stream.fileno())  # the file opened, even if renamed since
            if position is None and self.start_at_end:
                self.start_at_end = False
                return _position(stream, st, _last_line_end(stream, st.st_size), None)
            self.start_at_end = False
            same = position
            if position is None:
                offset = 0
            elif (st.st_dev, st.st_ino) != (position.device, position.inode):
                self._rotated(position, st, each_line,
                              f"{self.path} was rotated and its old file (inode "
                              f"{position.inode}) is not in {self._dirs()}")
                offset, same = 0, None
            elif not _begins_as(stream, st.st_size, position):
                how = (f"{self.path} shrank to {st.st_size} bytes from the "
                       f"{position.offset} read (truncated, or a new file given its "
                       "inode number)"
                       if st.st_size < position.offset else
                       f"{self.path} begins otherwise than the file read (a new file "
                       "given its inode number)")
                self._rotated(position, st, each_line,
                              f"{how} and no copy of it is in {self._dirs()}")
                offset, same = 0, None
            else:
                offset = position.offset
            offset = _lines_from(stream, offset, each_line)
            after = _position(stream, st, offset, same)
        self.warned = ""  # read: a file missing or unreadable again is said again
        return after

    def _rotated(self, position: TailPosition, current: os.stat_result,
                 each_line: Callable[[str], None], not_found: str) -> None:
        """The rest of the old file, then the archives written since, in order;
        ``not_found`` says why, when the old file is not found."""
        files = self._files()
        now = (current.st_dev, current.st_ino)
        old = next((f for f in files if f.identity != now
                    and f.identity == (position.device, position.inode)), None)
        # Modified after the position's read: written since (Nagios rotates at most
        # hourly, so an archive of a later rotation is modified clock ticks later). A
        # position of a version that kept no time has the old file's, if found.
        since = position.mtime_ns if position.mtime_ns is not None else (
            old.stat.st_mtime_ns if old is not None else None)
        recent: list[_Found] = []
        later: list[_Found] = []
        if since is not None:
            recent = sorted((f for f in files if f.stat.st_mtime_ns >= since
                             and f is not old and f.identity != now
                             and self._is_archive(f.path.name)),
                            key=lambda f: (f.stat.st_mtime_ns, f.path.name))
            later = [f for f in recent if f.stat.st_mtime_ns > since]
        # An archive that begins as the old file did is the old file, copied (Nagios's
        # rotation to another file system, logrotate's copytruncate, which may keep
        # its time): never read whole.
        copies = [f for f in recent if _copy_of(f, position)]
        if old is None and copies:
            old = copies[0]
        if old is None:
            self.warn(f"{not_found}: what it got after byte {position.offset} is not "
                      "read" + ("" if since is not None else ", nor the archives "
                                "written since (this position has no time)"))
        else:
            self._finish(old, position.offset, each_line, "the rest of the old file")
        for found in later:
            if found not in copies:
                self._finish(found, 0, each_line, "rotated between two reads")

    def _finish(self, found: _Found, offset: int, each_line: Callable[[str], None],
                what: str) -> None:
        """Read a file no longer written, from ``offset`` to its last whole line."""
        held = "what it holds" + (f" after byte {offset}" if offset else "")
        if found.path.name.endswith(COMPRESSED):
            self.warn(f"{found.path} ({what} of {self.path}) is compressed: {held} "
                      "is not read")
            return
        try:
            with open(found.path, "rb") as stream:
                end = _lines_from(stream, offset, each_line)
                size = os.fstat(stream.fileno()).st_size
        except OSError as exc:
            self.warn(f"{found.path} ({what} of {self.path}) unreadable ({exc}): {held} "
                      "is not read")
            return
        log.info("%s was rotated: read %s (%s)", self.path, found.path, what)
        if end < size:
            self.warn(f"{found.path} ({what} of {self.path}) ends in {size - end} bytes "
                      "with no newline (a line cut short): not read")

    def _dirs(self) -> str:
        return ", ".join(str(d) for d in self.search)

    def _is_archive(self, name: str) -> bool:
        log_name = self.path.name
        return (name.startswith((log_name + ".", log_name + "-"))
                or self.archive_name(name))

    def _files(self) -> list[_Found]:
        """The regular files of the directories searched, each once."""
        found: dict[tuple[int, int], _Found] = {}
        for folder in self.search:
            try:
                entries = list(os.scandir(folder))
            except OSError:
                continue
            for entry in entries:
                try:
                    if entry.is_file():
                        item = _Found(Path(entry.path), entry.stat())
                        found.setdefault(item.identity, item)
                except OSError:
                    continue
        return list(found.values())

    def warn(self, message: str) -> None:
        if message != self.warned:
            log.warning("%s", message)
        self.warned = message


def _position(stream: BinaryIO, st: os.stat_result, offset: int,
              same: TailPosition | None) -> TailPosition:
    """The position at ``offset`` of the file opened; its head digest kept from
    ``same`` (the position before, of this file) when it covers as many bytes."""
    covered = min(offset, HEAD)
    if same is not None and same.head is not None and min(same.offset, HEAD) == covered:
        head: str | None = same.head
    else:
        head = _digest(os.pread(stream.fileno(), covered, 0)) if covered else None
    return TailPosition(st.st_dev, st.st_ino, offset, st.st_mtime_ns, head)


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def _begins_as(stream: BinaryIO, size: int, position: TailPosition) -> bool:
    """Whether the file opened holds at least what was read at ``position`` and begins
    with the same bytes (always, for a position that kept none)."""
    if size < position.offset:
        return False
    if position.head is None:
        return True
    covered = min(position.offset, HEAD)
    return _digest(os.pread(stream.fileno(), covered, 0)) == position.head


def _copy_of(found: _Found, position: TailPosition) -> bool:
    """Whether ``found`` is a copy of the position's file: as long at least, and
    beginning with the same bytes."""
    if position.head is None:
        return False
    try:
        with open(found.path, "rb") as stream:
            return _begins_as(stream, found.stat.st_size, position)
    except OSError:
        return False


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
