"""Reading the YAML files operators write (playbooks, webhook mappings, rules), refused
by name.

Every problem is an ``InputError`` that starts with the file's name, so a listing of
refused files tells the operator which file to open and, for YAML errors, which line.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml

from aiops.errors import InputError

T = TypeVar("T")


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


def read_list(path: Path, max_bytes: int, parse: Callable[[Any, str, str], T]) -> list[T]:
    """A file holding a non-empty list of items (rules), each parsed by ``parse(raw,
    where, origin)`` with ``where`` naming the file and the item's place."""
    doc = read_yaml(path, max_bytes)
    if not isinstance(doc, list) or not doc:
        raise InputError(f"{path.name}: expected a list of rules")
    return [parse(raw, f"{path.name}: rule {i + 1}", str(path)) for i, raw in enumerate(doc)]


def load_named(built_in: Path, folder: Path | None,
               read: Callable[[Path], list[T]]) -> tuple[list[T], list[str]]:
    """Named items (each has ``.name``) from the built-in files, then the operator's in
    ``folder``: theirs first, and one with a built-in's name replaces it. A file that is
    refused, in any way, is listed with its error and the others still load."""
    built: dict[str, T] = {}
    for path in yaml_files(built_in):
        for item in read(path):
            built.setdefault(item.name, item)  # type: ignore[attr-defined]
    own: dict[str, T] = {}
    errors: list[str] = []
    for path in yaml_files(folder) if folder is not None else []:
        try:
            loaded = read(path)
        except InputError as exc:
            errors.append(str(exc))
            continue
        except Exception as exc:  # noqa: BLE001 - one bad file must not take the rest away
            errors.append(f"{path.name}: cannot be used ({type(exc).__name__}: {exc})")
            continue
        for item in loaded:
            own.setdefault(item.name, item)  # type: ignore[attr-defined]
    return list(own.values()) + [i for n, i in built.items() if n not in own], errors
