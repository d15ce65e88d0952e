"""A follower's state file (aiops/statefile.py): written whole or not at all."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from aiops.statefile import read_state, write_state


def test_two_writers_at_once_each_write_a_whole_file(tmp_path: Path) -> None:
    """A follower's thread and its stop may write at the same moment. Both wrote the
    same ``.part`` file: one moved the other's half-written one into place (a reader,
    or a restart after the process ended then, found it unreadable and started without
    its state) and the other failed."""
    path = tmp_path / "zabbix" / "state.json"
    state = {"open": {str(i): {"host": "h" * 200} for i in range(300)}}
    results: list[bool] = []
    unreadable = [0]
    done = threading.Event()

    def write() -> None:
        results.extend(write_state(path, "https://z", state) for _ in range(150))

    def read() -> None:
        while not done.is_set():
            try:
                json.loads(path.read_text(encoding="utf-8"))
            except FileNotFoundError:
                continue
            except ValueError:
                unreadable[0] += 1

    reader = threading.Thread(target=read)
    writers = [threading.Thread(target=write) for _ in range(2)]
    reader.start()
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    done.set()
    reader.join()
    assert all(results) and unreadable[0] == 0
    assert read_state(path, "https://z") == {**state, "url": "https://z"}
