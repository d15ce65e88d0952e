"""The mode a file this program writes should have: what the umask allows.

Why: files written atomically are first made with ``tempfile.mkstemp``, which creates
them readable by their owner only (0600) whatever the umask, and the rename keeps that.
The incidents document of ``aiops replay``, an exported causal graph and the model
registry's files are meant to be read by others (an operator, ``aiops serve`` running
as another user than the Celery worker that promoted a model); with 0600 they were not.
"""

from __future__ import annotations

import os
from pathlib import Path


def _read_umask() -> int:
    """The process's umask: from /proc where Linux says it (no side effect), else by
    setting and restoring it, once, at import."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    old = os.umask(0o022)
    os.umask(old)
    return old


_UMASK = _read_umask()


def as_created(fd: int) -> None:
    """Give the open file ``fd`` (from ``mkstemp``) the mode ``open()`` would have given
    a new file: 0666 less the umask."""
    os.fchmod(fd, 0o666 & ~_UMASK)
