"""Files written atomically take the umask's mode, not mkstemp's 0600."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from aiops.learning.registry import ModelRegistry
from aiops.replay import write_json_atomically


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_replay_output_and_registry_files_follow_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        import aiops.filemode as filemode

        saved, filemode._UMASK = filemode._UMASK, 0o022  # read once at import
        try:
            write_json_atomically(tmp_path / "incidents.json", {"incidents": []})
            assert _mode(tmp_path / "incidents.json") == 0o644
            registry = ModelRegistry(tmp_path / "models")
            version = registry.save("correlation", {"relations": None}, {"note": "test"})
            files = [p for p in (tmp_path / "models").rglob("*") if p.is_file()]
            assert files and all(_mode(p) == 0o644 for p in files), \
                [(p.name, oct(_mode(p))) for p in files]
            assert version is not None
        finally:
            filemode._UMASK = saved
    finally:
        os.umask(old)
