"""The harness's side of the engine worker (``engine_run.py``): jobs out, results in.

Every wait is bounded: a job that takes longer than its timeout, or a worker that
dies, becomes an error for that scenario, the worker is killed (only that
process, through its own handle) and a fresh one starts with the next job.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any


class WorkerError(RuntimeError):
    """The worker died, hung or answered something that is not a result."""


class EngineWorker:
    """A lazily started ``python -m MODULE`` process (``engine_run.py``) in ``cwd``."""

    def __init__(self, cwd: Path, module: str, log_path: Path, first_timeout: float):
        self.cwd = cwd
        self.module = module
        self.log_path = log_path
        self.first_timeout = first_timeout  # the first job also waits for the text model
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[str] | None = None
        self._buffer = b""
        self._fresh = True

    def _start(self) -> subprocess.Popen[bytes]:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("a", encoding="utf-8")
        self.process = subprocess.Popen(
            [sys.executable, "-m", self.module], cwd=self.cwd,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log)
        self._buffer = b""
        self._fresh = True
        return self.process

    def run(self, job: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Send one job and wait for its result line; raise WorkerError on any failure."""
        process = self.process if self.process and self.process.poll() is None else self._start()
        assert process.stdin is not None and process.stdout is not None
        limit = timeout + (self.first_timeout if self._fresh else 0.0)
        self._fresh = False
        try:
            process.stdin.write(json.dumps(job).encode() + b"\n")
            process.stdin.flush()
        except OSError as exc:
            self.stop(kill=True)
            raise WorkerError(f"engine worker is gone ({exc}); see {self.log_path}") from None
        line = self._read_line(process.stdout.fileno(), limit)
        if line is None:
            try:  # at end of file the worker is exiting: give it a moment to say how
                code: int | None = process.wait(timeout=2)
            except subprocess.TimeoutExpired:
                code = None
            self.stop(kill=True)
            why = (f"exited with status {code}" if code is not None
                   else f"gave no answer within {limit:.0f} s")
            raise WorkerError(f"engine worker {why}; see {self.log_path}")
        try:
            return json.loads(line)
        except json.JSONDecodeError:
            self.stop(kill=True)
            raise WorkerError(f"engine worker answered {line[:200]!r}") from None

    def _read_line(self, fd: int, limit: float) -> bytes | None:
        """One line from the worker, or None at end of file or when ``limit`` s pass."""
        deadline = time.monotonic() + limit
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while b"\n" not in self._buffer:
                left = deadline - time.monotonic()
                if left <= 0 or not selector.select(timeout=left):
                    return None
                chunk = os.read(fd, 65536)
                if not chunk:
                    return None
                self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line

    def stop(self, kill: bool = False) -> None:
        """End our worker (its own handle only): close its input, or kill it when hung."""
        process, self.process = self.process, None
        if process is not None:
            if kill:
                process.kill()
            if process.stdin:
                with contextlib.suppress(OSError):  # already gone
                    process.stdin.close()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=30)
            if process.stdout:
                process.stdout.close()
        if self._log is not None:
            self._log.close()
            self._log = None
