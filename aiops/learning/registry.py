"""Versioned models in the data dir: ``models/<name>/v0001.json`` and a PROMOTED pointer.

Training writes a new version and promotes it; replay and live ingestion load the
promoted one. Old versions stay, so a promotion can be rolled back by pointing
PROMOTED at an older file, and two versions can be compared.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any

from aiops import __version__

_VERSION_FILE = re.compile(r"^v(\d{4,})\.json$")


def _temp_file(folder: Path, prefix: str, text: str) -> Path:
    """``text`` in a new hidden file of ``folder`` (same file system as its final name,
    so renaming or linking it there is atomic); removed again if writing fails."""
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=prefix, dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def _write_atomically(path: Path, text: str) -> None:
    tmp = _temp_file(path.parent, f".{path.name}.", text)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class ModelRegistry:
    def __init__(self, root: Path):
        self.root = root

    def versions(self, name: str) -> list[int]:
        folder = self.root / name
        if not folder.is_dir():
            return []
        found = (_VERSION_FILE.match(p.name) for p in folder.iterdir())
        return sorted(int(m.group(1)) for m in found if m)

    def save(self, name: str, model: dict[str, Any], meta: dict[str, Any]) -> int:
        """Store a new version; returns its number (not promoted yet).

        Two processes may save at once (a scheduled retraining and an operator's
        ``aiops train``): the number is claimed by hard-linking the finished file
        under its name, which fails if the name exists, so each gets its own number
        and neither overwrites the other's model.
        """
        folder = self.root / name
        version = (self.versions(name) or [0])[-1] + 1
        while True:
            document = {"name": name, "version": version, "created_at": time.time(),
                        "engine_version": __version__, "meta": meta, "model": model}
            tmp = _temp_file(folder, ".new.", json.dumps(document, indent=1))
            try:
                os.link(tmp, folder / f"v{version:04d}.json")
                return version
            except FileExistsError:
                version = max(version, *self.versions(name)) + 1
            finally:
                tmp.unlink(missing_ok=True)

    def update_meta(self, name: str, version: int, meta: dict[str, Any]) -> None:
        """Replace a stored version's metadata (e.g. the retraining decision taken after
        it was saved); the model itself never changes once saved."""
        document = self.load(name, version)
        if document is None:
            raise KeyError(f"model '{name}' has no version {version}")
        document["meta"] = meta
        _write_atomically(self.root / name / f"v{version:04d}.json",
                          json.dumps(document, indent=1))

    def promote(self, name: str, version: int) -> None:
        if version not in self.versions(name):
            raise KeyError(f"model '{name}' has no version {version}")
        _write_atomically(self.root / name / "PROMOTED", f"{version}\n")

    def promoted_version(self, name: str) -> int | None:
        pointer = self.root / name / "PROMOTED"
        try:
            return int(pointer.read_text().strip())
        except (OSError, ValueError):
            return None

    def load(self, name: str, version: int | None = None) -> dict[str, Any] | None:
        """The promoted version (or the given one) as stored, or None."""
        chosen = version if version is not None else self.promoted_version(name)
        if chosen is None:
            return None
        path = self.root / name / f"v{chosen:04d}.json"
        return json.loads(path.read_text(encoding="utf-8"))
