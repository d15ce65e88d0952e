"""Versioned models in the data dir: ``models/<name>/v0001.json`` and a PROMOTED pointer.

Training writes a new version and promotes it; replay and live ingestion load the
promoted one. Old versions stay, so a promotion can be rolled back by pointing
PROMOTED at an older file, and two versions can be compared.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

from aiops import __version__
from aiops.durable import replace_with_text, sync_directory, synced_temporary
from aiops.errors import DamagedFile

_VERSION_FILE = re.compile(r"^v(\d{4,})\.json$")


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
            tmp = synced_temporary(folder, ".new.", json.dumps(document, indent=1))
            try:
                os.link(tmp, folder / f"v{version:04d}.json")
                # The new name on disk before anything (a promotion) points at it.
                sync_directory(folder)
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
        replace_with_text(self.root / name / f"v{version:04d}.json",
                          json.dumps(document, indent=1))

    def promote(self, name: str, version: int) -> None:
        """Point PROMOTED at ``version``, once its file is read back as a model of this
        name (``DamagedFile`` otherwise): a pointer moved to a damaged file would stop
        every process of the data dir from loading its models."""
        if version not in self.versions(name) or self.load(name, version) is None:
            raise KeyError(f"model '{name}' has no version {version}")
        replace_with_text(self.root / name / "PROMOTED", f"{version}\n")

    def promoted_version(self, name: str) -> int | None:
        """The version PROMOTED names; None when there is no PROMOTED (nothing promoted
        yet). A PROMOTED that does not hold a version number (edited by hand, damaged)
        is a ``DamagedFile``: running on the untrained defaults instead, as if nothing
        had been promoted, would silently replace the model an operator chose."""
        pointer = self.root / name / "PROMOTED"
        try:
            text = pointer.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise DamagedFile(f"{pointer}: cannot be read ({exc})") from None
        if not re.fullmatch(r"\s*\d+\s*", text):
            raise DamagedFile(f"{pointer}: holds {text[:40]!r}, not a version number; write "
                              f"the number of one of the versions in {pointer.parent} into "
                              "it (3 for v0003.json), or remove it to run without a "
                              "promoted model")
        return int(text)

    def load(self, name: str, version: int | None = None) -> dict[str, Any] | None:
        """The promoted version (or the given one) as stored; None when nothing is
        promoted or the given version does not exist. A promoted version without its
        file, or a version file that is not a stored model, is a ``DamagedFile``
        naming it."""
        chosen = version if version is not None else self.promoted_version(name)
        if chosen is None:
            return None
        path = self.root / name / f"v{chosen:04d}.json"
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            if version is not None:
                return None
            raise DamagedFile(f"{path.parent / 'PROMOTED'}: names version {chosen} of model "
                              f"'{name}', which has no file {path.name}; promote one that "
                              "exists ('aiops model promote N') or remove PROMOTED") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise DamagedFile(f"{path}: cannot be read ({exc})") from None
        return _stored_model(path, text, name)


def _stored_model(path: Path, text: str, name: str) -> dict[str, Any]:
    """A version file's document, checked to be one of model ``name``: a damaged or
    hand-edited file, or one copied from another model's folder (a remediation model
    read as a correlation model loads as the untrained default), is a ``DamagedFile``
    naming it rather than a JSON traceback or a silently different model. Its
    version is the one its file name says, which is what PROMOTED and listings use."""
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise DamagedFile(f"{path}: not a stored model (not JSON: {exc}); restore it or "
                          "promote another version") from None
    if not isinstance(document, dict) or not isinstance(document.get("model"), dict):
        raise DamagedFile(f"{path}: not a stored model (no 'model' object); restore it or "
                          "promote another version")
    if document.get("name", name) != name:
        raise DamagedFile(f"{path}: holds a {document['name']!r} model, not a {name!r} one "
                          f"(copied from another model's folder?); move it back to "
                          f"{path.parent.parent / str(document['name'])}")
    document["version"] = int(path.stem[1:])
    document.setdefault("meta", {})
    return document
