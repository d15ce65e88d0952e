"""The model registry under concurrent writers: two trainings saving at once (a
scheduled retraining and an operator's ``aiops train``) must get distinct versions
and neither may overwrite the other's model."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from aiops.learning.registry import ModelRegistry


def _save_many(root: str, writer: int, count: int) -> list[int]:
    registry = ModelRegistry(Path(root))
    return [registry.save("correlation", {"writer": writer, "n": n}, {}) for n in range(count)]


def test_concurrent_saves_get_distinct_versions(tmp_path: Path) -> None:
    writers, count = 4, 15
    context = multiprocessing.get_context("fork")
    with context.Pool(writers) as pool:
        results = pool.starmap(_save_many, [(str(tmp_path), w, count) for w in range(writers)])
    claimed = [v for versions in results for v in versions]
    assert sorted(claimed) == list(range(1, writers * count + 1))
    registry = ModelRegistry(tmp_path)
    assert registry.versions("correlation") == sorted(claimed)
    for writer, versions in enumerate(results):
        for n, version in enumerate(versions):
            document = registry.load("correlation", version)
            assert document["version"] == version
            assert document["model"] == {"writer": writer, "n": n}
    # no temporary files are left behind
    assert sorted(p.name for p in (tmp_path / "correlation").iterdir()) == [
        f"v{v:04d}.json" for v in sorted(claimed)]


def test_save_after_gap_continues_from_highest(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    assert registry.save("m", {}, {}) == 1
    (tmp_path / "m" / "v0007.json").write_text((tmp_path / "m" / "v0001.json").read_text())
    assert registry.save("m", {}, {}) == 8
