"""Reading the YAML files operators write (playbooks, webhook mappings), refused by name.

Every problem is an ``InputError`` that starts with the file's name, so a listing of
refused files tells the operator which file to open and, for YAML errors, which line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from aiops.errors import InputError


def read_yaml(path: Path, max_bytes: int) -> Any:
    """The document in ``path``; refused when over ``max_bytes``, not UTF-8, not YAML,
    unreadable, or nested without end (a YAML alias that contains itself)."""
    try:
        if path.stat().st_size > max_bytes:
            raise InputError(f"{path.name}: larger than {max_bytes} bytes")
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise InputError(f"{path.name}: not UTF-8 text") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputError(f"{path.name}:{line}: not valid YAML ({problem})") from None
    except OSError as exc:  # a folder named x.yml, no permission
        raise InputError(f"{path.name}: cannot be read ({exc.strerror or exc})") from None
    except RecursionError:
        raise InputError(f"{path.name}: nested without end (a recursive YAML alias?)") from None


def yaml_files(folder: Path) -> list[Path]:
    """The ``*.yml`` and ``*.yaml`` files of ``folder`` in name order (none if absent)."""
    if not folder.is_dir():
        return []
    return sorted([*folder.glob("*.yml"), *folder.glob("*.yaml")])
