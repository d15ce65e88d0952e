"""``aiops zabbix history`` stopped as a system stops it, and the files it leaves: a
real process sent SIGTERM or SIGINT while it waits on a Zabbix that stalls, then
resumed; the order in which it puts its files on disk (its system calls, traced by
strace); SIGTERM at each of the disk calls that write its first page (sent by strace
as the call is entered); a checkpoint naming more than its partial file holds; a
system without fcntl's locks. The stand-in Zabbix is test_zabbix_history's."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aiops.zabbix_checkpoint import read_checkpoint
from aiops.zabbix_history import NO_LOCKING
from tests.syscalls import Call, calls, order, signalled, traced
from tests.unit.test_zabbix_history import (
    SPAN,
    _GoesAway,
    _history,
    _stopped,
    _uninterrupted,
    goes_away,  # noqa: F401 - the fixture, used by name
)

ROOT = Path(__file__).parents[2]


def _command(tmp_path: Path, url: str, out: Path, *extra: str) -> list[str]:
    """``aiops zabbix history`` of SPAN to ``out`` as a process."""
    token = tmp_path / "token"
    token.write_text("t")
    return [sys.executable, "-m", "aiops", "--data-dir", str(tmp_path / "data"),
            "zabbix", "history", "--url", url, "--token-file", str(token), *SPAN,
            "--out", str(out), *extra]


def _wait_until_stalled(process: subprocess.Popen, what: str) -> None:
    """Until the stand-in Zabbix holds the pull's request open: up to 180 s while the
    process runs (a loaded machine starts ``python -m aiops`` slowly: 60 s was once too
    little), at once with its stderr if it exits first."""
    deadline = time.monotonic() + 180.0
    while not _GoesAway.stalled.wait(0.5):
        if process.poll() is not None:
            stderr = process.stderr.read() if process.stderr else ""
            raise AssertionError(f"{what}: the process exited {process.returncode} first; "
                                 f"stderr: {stderr}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within 180 s")


@pytest.mark.parametrize("sig, status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)],
                         ids=["SIGTERM", "SIGINT"])
def test_a_signal_while_zabbix_stalls_keeps_the_pages_written_for_resume(
        tmp_path: Path, goes_away: str, sig: signal.Signals,  # noqa: F811
        status: int) -> None:
    _GoesAway.stalling = True
    out = tmp_path / "alerts.jsonl"
    with subprocess.Popen(_command(tmp_path, goes_away, out), cwd=ROOT, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        try:
            _wait_until_stalled(process, "the pull never asked for page 2")
            process.send_signal(sig)
            _, stderr = process.communicate(timeout=120)
        finally:
            if process.poll() is None:
                process.kill()
    assert process.returncode == status, stderr
    assert "Traceback" not in stderr, stderr
    (error,) = [line for line in stderr.splitlines() if "error" in line]
    assert error == (f"aiops: error: stopped by {sig.name}; 2 alerts written (0 still "
                     "open), up to 2026-11-22T19:00:12Z before it stopped; "
                     f"{out} not written; kept in {out}.partial: the same command with "
                     "--resume continues it"), error
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "alerts.jsonl.checkpoint", "alerts.jsonl.partial", "token"]
    checkpoint = read_checkpoint(Path(f"{out}.checkpoint"))
    assert (checkpoint.after, checkpoint.written, checkpoint.pages, checkpoint.size) == (
        12, 2, 1, Path(f"{out}.partial").stat().st_size)

    _GoesAway.going, _GoesAway.listings = False, []
    resumed = subprocess.run(_command(tmp_path, goes_away, out, "--resume"), cwd=ROOT,
                             capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert [listed for listed, *_ in _GoesAway.listings] == ["13", "17"]
    assert out.read_bytes() == _uninterrupted(tmp_path, goes_away, *SPAN)


def test_a_new_pull_over_a_stopped_one_removes_its_checkpoint_before_writing(
        tmp_path: Path, goes_away: str) -> None:  # noqa: F811
    """A pull without --resume empties the stopped pull's partial file; killed before
    its own first checkpoint, it must not leave the old one, which would name its new
    lines as the old pull's to a --resume."""
    out = _stopped(tmp_path, goes_away, *SPAN)
    _GoesAway.stalling = True  # from its first listing on: the server went away before
    with subprocess.Popen(_command(tmp_path, goes_away, out), cwd=ROOT,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as process:
        try:
            _wait_until_stalled(process, "the pull never listed")
            assert not Path(f"{out}.checkpoint").exists()
        finally:
            process.kill()  # SIGKILL: no handler runs
    _GoesAway.going, _GoesAway.listings = False, []
    result = _history(tmp_path, goes_away, *SPAN, "--out", str(out), "--resume")
    assert result.exit_code == 2, result.output
    assert f"--resume: no checkpoint {out}.checkpoint" in result.output
    assert _GoesAway.listings == []


def _disk_order(trace: Path, folder: Path) -> str:
    """What the trace says was done to the pull's files, one letter a call: W/S a
    write/fsync of the partial file, w/s of the checkpoint's temporary file, R its
    rename over the checkpoint, D an fsync of the directory, O the partial file's
    rename to the output, U the checkpoint removed."""
    partial, out = folder / "alerts.jsonl.partial", folder / "alerts.jsonl"
    checkpoint = folder / "alerts.jsonl.checkpoint"

    def temporary(path: Path | None) -> bool:
        return path is not None and path.parent == folder and path.name.startswith(
            ".alerts.jsonl.checkpoint.")

    def letter(call: Call) -> str | None:
        sync = call.name in ("fsync", "fdatasync")
        if call.name == "write" or sync:
            if call.file == partial:
                return "S" if sync else "W"
            if temporary(call.file):
                return "s" if sync else "w"
            return "D" if call.file == folder and sync else None
        if call.name.startswith("rename") and len(call.paths) >= 2:
            if temporary(call.paths[-2]) and call.paths[-1] == checkpoint:
                return "R"
            if call.paths[-2:] == [partial, out]:
                return "O"
        if call.name.startswith("unlink") and call.paths[-1:] == [checkpoint]:
            return "U"
        return None

    return order(trace, letter)


def test_each_page_is_on_disk_before_the_checkpoint_that_names_it(
        tmp_path: Path, goes_away: str) -> None:  # noqa: F811
    """A power cut at any moment leaves a checkpoint that names no more than the
    partial file holds, or none: the order of the pull's system calls says so."""
    _GoesAway.going = False
    folder = tmp_path / "pull"
    folder.mkdir()
    trace = tmp_path / "trace"
    result = traced(_command(tmp_path, goes_away, folder / "alerts.jsonl"), trace,
                    cwd=ROOT)
    assert result.returncode == 0, result.stderr
    # The directory at the partial file's creation; once the first page is in hand, an
    # empty checkpoint (its temporary file, fsync, rename, the directory), so that a
    # stop while that page is written keeps a pull to resume; per page (events 10 and
    # 12, then 14 and 16): its lines, their fsync, the checkpoint's temporary file and
    # its fsync, the rename, the directory; at the end the output's rename, the
    # directory, and only then the checkpoint removed.
    assert _disk_order(trace, folder) == "D" + "wsRD" + "WSwsRD" * 2 + "ODU"
    # FIRST_PAGE counts the process's fsyncs: every one is of the pull's files.
    fsynced = {c.file for c in calls(trace) if c.name == "fsync"}
    assert all(f == folder or (f is not None and f.parent == folder) for f in fsynced), \
        fsynced


# The disk calls of a pull's first page, in order (test above: "D" then the first
# "wsRD" and "WSwsRD"), as strace counts them: (call, its n-th in the process, whether a
# stop there keeps a pull that --resume continues). The partial file's directory at its
# opening (fsync 1) comes before the first listing, so before the first page.
FIRST_PAGE = {
    "the empty checkpoint's temporary file": ("fsync", 2, False),  # nothing written yet
    "the empty checkpoint's rename": ("rename", 1, True),
    "the empty checkpoint's directory": ("fsync", 3, True),
    "the page's lines": ("fsync", 4, True),
    "the page's checkpoint's temporary file": ("fsync", 5, True),
    "the page's checkpoint's rename": ("rename", 2, True),
    "the page's checkpoint's directory": ("fsync", 6, True),
}


@pytest.mark.parametrize("call, nth, kept", FIRST_PAGE.values(), ids=FIRST_PAGE.keys())
def test_a_stop_at_each_disk_call_of_the_first_page_leaves_a_pull_resume_continues(
        tmp_path: Path, goes_away: str, call: str, nth: int,  # noqa: F811
        kept: bool) -> None:
    """SIGTERM as the process enters each call that puts its first page on disk: from
    the first checkpoint's rename on, the partial file and a checkpoint are kept and
    ``--resume`` writes the uninterrupted pull's file, page 1 once; before it, nothing
    is left and nothing said to resume."""
    _GoesAway.going = False
    folder = tmp_path / "pull"
    folder.mkdir()
    out = folder / "alerts.jsonl"
    stopped = signalled(_command(tmp_path, goes_away, out), call, nth, "SIGTERM",
                        cwd=ROOT)
    assert stopped.returncode == 143, stopped.stderr
    assert "Traceback" not in stopped.stderr, stopped.stderr
    (error,) = [line for line in stopped.stderr.splitlines() if "error" in line]
    assert error.startswith("aiops: error: stopped by SIGTERM; "), error
    left = sorted(p.name for p in folder.iterdir())
    if not kept:
        assert left == [] and "--resume" not in error, (left, error)
        return
    assert left == ["alerts.jsonl.checkpoint", "alerts.jsonl.partial"], (left, error)
    assert error.endswith(f"kept in {out}.partial: the same command with --resume "
                          "continues it"), error
    _GoesAway.listings = []
    resumed = subprocess.run(_command(tmp_path, goes_away, out, "--resume"), cwd=ROOT,
                             capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert out.read_bytes() == _uninterrupted(tmp_path, goes_away, *SPAN)
    assert sorted(p.name for p in folder.iterdir()) == ["alerts.jsonl"]


def test_a_checkpoint_naming_more_than_the_partial_file_exits_2_naming_both(
        tmp_path: Path, goes_away: str) -> None:  # noqa: F811
    """A partial file that lost its end (written back from a copy, or a system that
    kept the checkpoint and not the lines) is not continued: lines would be missing."""
    out = _stopped(tmp_path, goes_away, *SPAN)
    partial = Path(f"{out}.partial")
    size = partial.stat().st_size
    with partial.open("r+") as handle:
        handle.truncate(size - 10)
    _GoesAway.going, _GoesAway.listings = False, []
    result = _history(tmp_path, goes_away, *SPAN, "--out", str(out), "--resume")
    assert result.exit_code == 2, result.output
    assert result.output.startswith(
        f"aiops: error: --resume: the partial file {partial} has {size - 10} bytes, "
        f"fewer than the {size} its checkpoint says; run without --resume to pull the "
        "span again"), result.output
    assert _GoesAway.listings == [] and not out.exists()


def test_a_partial_file_longer_than_its_checkpoint_is_cut_back_on_resume(
        tmp_path: Path, goes_away: str) -> None:  # noqa: F811
    """Stopped after a page's whole lines were written but before its checkpoint:
    the resumed pull cuts them and writes that page once."""
    out = _stopped(tmp_path, goes_away, *SPAN)
    partial = Path(f"{out}.partial")
    kept = partial.read_bytes()
    partial.write_bytes(kept + kept)  # two whole lines more than the checkpoint names
    _GoesAway.going, _GoesAway.listings = False, []
    result = _history(tmp_path, goes_away, *SPAN, "--out", str(out), "--resume")
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == _uninterrupted(tmp_path, goes_away, *SPAN)


def test_without_fcntl_the_command_says_it_needs_posix_locks(tmp_path: Path) -> None:
    """Windows has no fcntl: the command must say so, not fail importing it."""
    token = tmp_path / "token"
    token.write_text("t")
    out = tmp_path / "alerts.jsonl"
    # ``import fcntl`` raises ImportError, as on a system without it.
    code = "import sys; sys.modules['fcntl'] = None; from aiops.cli import main; main()"
    result = subprocess.run(
        [sys.executable, "-c", code, "--data-dir", str(tmp_path / "data"), "zabbix",
         "history", "--url", "http://127.0.0.1:9/api_jsonrpc.php", "--token-file",
         str(token), "--since", "1d", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 1, result.stderr
    assert result.stderr == f"aiops: error: {NO_LOCKING}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["token"]
