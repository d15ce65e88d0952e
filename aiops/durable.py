"""Files replaced whole, so that neither a crash nor a power cut leaves half of one.

Why: writing a temporary file and renaming it over the old one (``os.replace``) is
enough against a crash of this process, but not against a power cut or a kernel
crash. File systems may put the rename on disk before the file's data (ext4 with
``data=writeback``, XFS: the new name then points at an empty file), and the rename
is not on disk at all until its directory is synced. An empty ``PROMOTED`` pointer or
model version stops every process of a data dir from loading its model; an empty
follower state or Zabbix checkpoint loses where a job was. So the data is synced
before the rename, and the directory after it.

Every file this program replaces whole (the model registry's versions and pointer,
``aiops replay``'s incidents document and the other JSON outputs, a follower's state,
the Zabbix pull's checkpoint) goes through here; the text model's embedding cache
need not (a damaged one is only a cache: it is dropped and rebuilt). Each is made
beside its final name (the same file system, so the rename is atomic) under a name
of its own, so that two writers of one path never rename each other's half-written
file, and it gets the mode ``open()`` would have given it (``aiops.filemode``).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from aiops.filemode import as_created


def sync_directory(directory: Path) -> None:
    """Put ``directory``'s entries (a file created, renamed, linked or removed) on disk,
    where the system can: POSIX opens a directory for this; Windows cannot open one,
    and a rename there is as durable as its file system makes it."""
    if os.name != "posix":
        return
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def synced_temporary(folder: Path, prefix: str, text: str, private: bool = False) -> Path:
    """``text`` in a new hidden file of ``folder`` (created if missing), on disk when
    this returns; removed again if writing fails. The caller renames or links it into
    place, then syncs ``folder``. ``private``: readable by the owner only (a key),
    else the mode ``open()`` would give."""
    folder.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=prefix, dir=folder)  # mode 0600
    try:
        if not private:
            as_created(fd)  # others could not read it otherwise
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)


def replace_with_text(path: Path, text: str) -> None:
    """Replace ``path`` (or create it, and its folder) with ``text``, durably: after a
    power cut at any moment the file holds the text before or this one, whole."""
    temporary = synced_temporary(path.parent, f".{path.name}.", text)
    try:
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    sync_directory(path.parent)
