"""Which engine code the benchmark measures: the working tree, or a commit from git.

Several people edit the engine while benchmarks run, so a number is only useful
with the code it belongs to. By default the worker imports the working tree and
the report names the commit and says whether engine files had uncommitted
changes. With ``--engine-ref REF`` the commit is exported with ``git archive``
(read-only: the repository is not touched) into a temporary directory and the
worker runs there, so the numbers belong to exactly that commit.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENGINE_RUN = Path(__file__).with_name("engine_run.py")
ENGINE_DIRS = ("aiops", "topology", "connectors")
WORKTREE_MODULE = "benchmarks.correlation.engine_run"
EXPORTED_MODULE = "_bench_engine_run"


@dataclass(frozen=True)
class EngineSource:
    """Where the worker runs (its ``aiops`` is the one imported) and how to describe it."""

    cwd: Path
    module: str
    version: str


def git(*args: str) -> str:
    """Output of a read-only git command in the repository, '' when it fails."""
    try:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                              timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def describe_worktree() -> str:
    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    changed = [line for line in git("status", "--porcelain", "--", *ENGINE_DIRS).splitlines()
               if line.strip()]
    if not changed:
        return f"commit {commit}"
    return (f"working tree of commit {commit} with uncommitted changes to {len(changed)} files "
            f"under {', '.join(d + '/' for d in ENGINE_DIRS)} (code as loaded when the run "
            "started)")


@contextmanager
def engine_source(ref: str | None) -> Iterator[EngineSource]:
    """The working tree (``ref`` None) or an export of commit ``ref`` for the run's duration."""
    if ref is None:
        yield EngineSource(ROOT, WORKTREE_MODULE, describe_worktree())
        return
    commit = git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if not commit:
        raise ValueError(f"--engine-ref {ref!r} is not a commit of {ROOT}")
    with tempfile.TemporaryDirectory(prefix="aiops-bench-engine-") as tmp:
        archive = subprocess.run(["git", "archive", "--format=tar", commit], cwd=ROOT,
                                 capture_output=True, timeout=300, check=True).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(tmp, filter="data")
        shutil.copyfile(ENGINE_RUN, Path(tmp) / f"{EXPORTED_MODULE}.py")
        yield EngineSource(Path(tmp), EXPORTED_MODULE,
                           f"commit {commit[:7]} (exported with git archive; uncommitted "
                           "edits not measured)")
