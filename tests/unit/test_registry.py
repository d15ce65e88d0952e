"""The model registry under concurrent writers: two trainings saving at once (a
scheduled retraining and an operator's ``aiops train``) must get distinct versions
and neither may overwrite the other's model; a damaged or hand-edited registry is
refused naming the file, never read as "nothing promoted"."""

from __future__ import annotations

import multiprocessing
import shutil
from pathlib import Path

import pytest

from aiops.errors import DamagedFile
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


def test_a_hand_edited_promoted_pointer_is_refused_by_name(tmp_path: Path) -> None:
    """A PROMOTED that holds no version number read as "nothing promoted", so every
    process ran the untrained defaults instead of the operator's model, silently."""
    registry = ModelRegistry(tmp_path)
    registry.promote("m", registry.save("m", {"w": 1}, {}))
    (tmp_path / "m" / "PROMOTED").write_text("v1\n")
    with pytest.raises(DamagedFile, match=r"m/PROMOTED: holds 'v1\\n', not a version number"):
        registry.load("m")
    (tmp_path / "m" / "PROMOTED").write_text(" 1\n")  # spaces are no damage
    assert registry.load("m")["model"] == {"w": 1}


def test_a_promoted_version_without_its_file_is_refused_by_name(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    registry.promote("m", registry.save("m", {}, {}))
    (tmp_path / "m" / "v0001.json").unlink()
    with pytest.raises(DamagedFile, match="PROMOTED: names version 1 of model 'm', which has "
                                          "no file v0001.json"):
        registry.load("m")
    assert registry.load("m", 5) is None  # a version asked for by number: just not there


@pytest.mark.parametrize(("text", "message"), [
    ('{"broken', r"v0001.json: not a stored model \(not JSON"),
    ('[1, 2]', r"v0001.json: not a stored model \(no 'model' object\)"),
    ('{"name": "m", "model": null}', r"v0001.json: not a stored model \(no 'model' object\)"),
])
def test_a_damaged_version_file_is_refused_by_name(tmp_path: Path, text: str,
                                                  message: str) -> None:
    registry = ModelRegistry(tmp_path)
    registry.promote("m", registry.save("m", {}, {}))
    (tmp_path / "m" / "v0001.json").write_text(text)
    with pytest.raises(DamagedFile, match=message):
        registry.load("m")
    with pytest.raises(DamagedFile, match=message):
        registry.load("m", 1)


def test_a_version_of_another_model_kind_is_not_promoted(tmp_path: Path) -> None:
    """A remediation version copied into the correlation folder loaded as a model
    without relations (the untrained default), and promote moved the pointer to it."""
    registry = ModelRegistry(tmp_path)
    registry.promote("correlation", registry.save("correlation", {"relations": None}, {}))
    registry.save("remediation", {"cases": []}, {})
    shutil.copy(tmp_path / "remediation" / "v0001.json", tmp_path / "correlation" / "v0002.json")
    with pytest.raises(DamagedFile, match="v0002.json: holds a 'remediation' model, not a "
                                          "'correlation' one"):
        registry.promote("correlation", 2)
    assert registry.promoted_version("correlation") == 1  # the pointer did not move
    (tmp_path / "correlation" / "v0003.json").write_text(
        (tmp_path / "correlation" / "v0001.json").read_text())  # a copy of one's own kind
    registry.promote("correlation", 3)
    assert registry.load("correlation")["version"] == 3  # its file's number, not v1's
