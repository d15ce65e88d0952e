"""Files replaced whole survive a power cut (``aiops.durable``): a model version, the
PROMOTED pointer, a follower's state and a JSON output are each on disk before the
name that points at them, and the new name is on disk before the call returns.

A power cut cannot be caused in a test, so the order of the system calls, traced by
strace in a real process, is what is checked (tests/syscalls.py)."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

from aiops.durable import replace_with_text
from tests.syscalls import Call, order, traced

ROOT = Path(__file__).parents[2]


def _letters(folder: Path) -> object:
    """w/s: a write/fsync of a temporary (hidden) file of ``folder``; R: a temporary
    renamed over a final name there; L: one linked to a final name; D: an fsync of
    ``folder`` itself."""

    def hidden(path: Path | None) -> bool:
        return path is not None and path.parent == folder and path.name.startswith(".")

    def letter(call: Call) -> str | None:
        sync = call.name in ("fsync", "fdatasync")
        if call.name == "write" or sync:
            if hidden(call.file):
                return "s" if sync else "w"
            return "D" if sync and call.file == folder else None
        if len(call.paths) >= 2 and hidden(call.paths[-2]) and not hidden(call.paths[-1]):
            if call.name.startswith("rename"):
                return "R"
            if call.name.startswith("link"):
                return "L"
        return None

    return letter


def _trace(tmp_path: Path, script: str) -> Path:
    trace = tmp_path / "trace"
    result = traced([sys.executable, "-c", script], trace, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    return trace


def test_a_model_is_on_disk_before_promoted_names_it(tmp_path: Path) -> None:
    """Before: the version file and the pointer were renamed into place unsynced, so a
    power cut could leave PROMOTED naming an empty model, which stops every process of
    the data dir from loading its model."""
    folder = tmp_path / "models" / "correlation"
    trace = _trace(tmp_path, (
        "from pathlib import Path\n"
        "from aiops.learning.registry import ModelRegistry\n"
        f"registry = ModelRegistry(Path({str(tmp_path / 'models')!r}))\n"
        "version = registry.save('correlation', {'weights': [1, 2]}, {'note': 'x'})\n"
        "registry.promote('correlation', version)\n"))
    # The version: written, synced, linked under its number, the folder synced; then
    # the pointer: written, synced, renamed over PROMOTED, the folder synced.
    assert order(trace, _letters(folder)) == "wsLD" + "wsRD"
    assert (folder / "PROMOTED").read_text() == "1\n"
    assert json.loads((folder / "v0001.json").read_text())["model"] == {"weights": [1, 2]}


def test_a_followers_state_and_a_json_output_are_replaced_durably(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    trace = _trace(tmp_path, (
        "from pathlib import Path\n"
        "from aiops.statefile import write_state\n"
        "from aiops.replay import write_json_atomically\n"
        f"folder = Path({str(folder)!r})\n"
        "assert write_state(folder / 'state.json', 'https://icinga:5665', {'seen': 3})\n"
        "write_json_atomically(folder / 'incidents.json', {'incidents': []})\n"))
    assert order(trace, _letters(folder)) == "wsRD" * 2
    assert json.loads((folder / "state.json").read_text())["seen"] == 3
    assert json.loads((folder / "incidents.json").read_text()) == {"incidents": []}


def test_replacing_keeps_no_temporary_and_gives_the_mode_open_would(tmp_path: Path) -> None:
    path = tmp_path / "new" / "file.json"
    replace_with_text(path, "one")
    replace_with_text(path, "two")
    assert path.read_text() == "two"
    assert sorted(p.name for p in path.parent.iterdir()) == ["file.json"]
    umask = int(subprocess.run(["sh", "-c", "umask"], capture_output=True, text=True,
                               check=True).stdout, 8)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
