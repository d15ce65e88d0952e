"""The system calls a process makes on its files, as ``strace`` records them.

Why: whether a file survives a power cut depends on the order in which a program
writes, syncs and renames, which no check of the files afterwards can see, and a
test cannot cut the power. strace (Debian's, installed by
scripts/install-test-deps.sh) shows the order; a test skips where it is missing or
the sandbox forbids tracing. strace also stops a process at an exact call
(``signalled``): a signal at the moment a program enters its n-th fsync, which no
timer sent from outside can hit.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

TRACED = ("trace=write,fsync,fdatasync,rename,renameat,renameat2,link,linkat,unlink,"
          "unlinkat")


@dataclass(frozen=True, slots=True)
class Call:
    """One successful call: its name, the file its descriptor is open on (write,
    fsync) and the paths it names (rename, link, unlink), in that order."""

    name: str
    file: Path | None
    paths: list[Path]


def traced(command: Sequence[str], trace: Path, *, cwd: Path, timeout: float = 120
           ) -> subprocess.CompletedProcess[str]:
    """Run ``command`` under ``strace -f -y``, the calls of ``TRACED`` written to
    ``trace``; skips the test where strace is missing or may not trace."""
    if shutil.which("strace") is None:
        pytest.skip("strace is not installed (scripts/install-test-deps.sh installs it)")
    result = subprocess.run(["strace", "-f", "-y", "-qq", "-o", str(trace), "-e", TRACED,
                             *command], cwd=cwd, capture_output=True, text=True,
                            timeout=timeout)
    if "PTRACE" in result.stderr or "Operation not permitted" in result.stderr:
        pytest.skip(f"strace cannot trace here: {result.stderr.strip()}")
    return result


def signalled(command: Sequence[str], syscall: str, nth: int, signal: str, *, cwd: Path,
              timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``command`` under strace, which sends it ``signal`` (``SIGTERM``) as it
    enters its ``nth`` call of ``syscall`` (counted in each of its processes and
    threads; the call itself is made): the process's handler runs once the call
    returns. Python writes no bytecode cache meanwhile (its renames would count).
    Skips the test where strace is missing or may not trace."""
    if shutil.which("strace") is None:
        pytest.skip("strace is not installed (scripts/install-test-deps.sh installs it)")
    result = subprocess.run(["strace", "-f", "-qq", "-o", "/dev/null", "-e",
                             f"trace={syscall}", "-e",
                             f"inject={syscall}:signal={signal}:when={nth}", *command],
                            cwd=cwd, capture_output=True, text=True, timeout=timeout,
                            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    if "PTRACE" in result.stderr or "Operation not permitted" in result.stderr:
        pytest.skip(f"strace cannot trace here: {result.stderr.strip()}")
    return result


def calls(trace: Path) -> list[Call]:
    """The successful calls of a trace written by ``traced``, in order."""
    found = []
    for line in trace.read_text().splitlines():
        call = re.match(r"\d+\s+(\w+)\((.*)\)\s+=\s+(-?\d+)", line)
        if call is None or call[3].startswith("-"):
            continue
        opened = re.match(r"\d+<([^>]*)>", call[2])
        found.append(Call(call[1], Path(opened[1]) if opened else None,
                          [Path(p) for p in re.findall(r'"(/[^"]*)"', call[2])]))
    return found


def order(trace: Path, letter: Callable[[Call], str | None]) -> str:
    """One letter per call that ``letter`` names (None: left out), a run of one letter
    said once (a file is written in as many calls as its size takes)."""
    letters = (letter(call) for call in calls(trace))
    return re.sub(r"(.)\1+", r"\1", "".join(x for x in letters if x))
