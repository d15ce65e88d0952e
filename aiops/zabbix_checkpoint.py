"""Where an ``aiops zabbix history`` pull stopped, so that ``--resume`` continues it.

A pull of months of history runs for many minutes (about 800 problems a second); one
that fails near its end used to lose all of it. It writes its alerts to a partial file
beside the output (``NAME.partial``: never at ``--out`` itself, which ``aiops train``
reads) and, after each page, this checkpoint beside it (``NAME.checkpoint``): what the
pull is of (``Span``), the last problem event id listed and the partial file's length
then; an empty one (no page, no bytes) before the first page's lines. A page is
written whole and fsynced before its checkpoint, which is replaced durably
(``write_checkpoint``), so a pull stopped anywhere once its first page is in hand (an
error, a signal, killed, a power cut) resumes from the end of its last whole page, or
its start, the partial file cut back to that length: the finished file is the one an
uninterrupted pull writes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiops.durable import replace_with_text
from aiops.errors import InputError
from aiops.timeutil import to_rfc3339
from connectors.webhook_mapping import Mapping

VERSION = 1


def pull_files(out: Path) -> tuple[Path, Path]:
    """The partial file and the checkpoint of a pull to ``out``: beside it, so that the
    rename at the end stays in one file system, and named after it, so that a second
    run finds them."""
    return out.with_name(f"{out.name}.partial"), out.with_name(f"{out.name}.checkpoint")


def mapping_identity(mapping: Mapping) -> str:
    """Which mapping made the alerts: its origin (a file, or "built-in") and a digest of
    what was parsed from it (comments and layout aside). Alerts made by two different
    mappings in one file would be neither pull's; a change to aiops itself between the
    two runs is not seen."""
    digest = hashlib.sha256(repr(mapping).encode()).hexdigest()[:16]
    return f"{mapping.origin} ({digest})"


@dataclass(frozen=True, slots=True)
class Span:
    """What a pull is of; a resumed pull must be of the same."""

    url: str
    since: int  # Zabbix's whole seconds, as asked (time_from, time_till)
    until: int
    mapping: str  # mapping_identity

    def differences(self, other: Span) -> list[str]:
        """What ``other`` (this run's) has that this (the checkpoint's) has not."""
        said = []
        if self.url != other.url:
            said.append(f"--url {other.url}, not its {self.url}")
        for name in ("since", "until"):
            mine, theirs = getattr(self, name), getattr(other, name)
            if mine != theirs:
                said.append(f"--{name} {to_rfc3339(theirs)}, not its {to_rfc3339(mine)}")
        if self.mapping != other.mapping:
            said.append(f"the zabbix mapping {other.mapping}, not its {self.mapping}")
        return said


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A pull after its last whole page."""

    span: Span
    after: int  # the last problem event id listed: the next page starts after it
    size: int  # the partial file's bytes up to the end of that page
    written: int
    still_open: int
    skipped: int
    pages: int
    reached: float | None  # the clock of the last problem event written

    def to_dict(self) -> dict[str, Any]:
        return {"version": VERSION, **dataclasses.asdict(self)}


def write_checkpoint(path: Path, checkpoint: Checkpoint) -> None:
    """Replace ``path`` whole and durably (``aiops.durable``): a pull stopped or a power
    cut at any point leaves the checkpoint before or this one, never an empty or half
    one. The partial file's lines it names must be fsynced before this."""
    replace_with_text(path, json.dumps(checkpoint.to_dict(), indent=1) + "\n")


def read_checkpoint(path: Path) -> Checkpoint:
    """The checkpoint in ``path``; InputError naming the file when there is none or it
    cannot be read as one (then the pull starts again, without ``--resume``)."""
    again = "run without --resume to pull the span again"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"--resume: no checkpoint {path}: no stopped pull of this --out "
                         "to continue") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"--resume: the checkpoint {path} cannot be read ({exc}); "
                         f"{again}") from None
    try:
        if not isinstance(doc, dict) or doc.get("version") != VERSION:
            raise TypeError(f"not a version {VERSION} checkpoint")
        fields = {k: v for k, v in doc.items() if k != "version"}
        span = Span(**fields.pop("span"))
        checkpoint = Checkpoint(span=span, **fields)
        numbers = (span.since, span.until, checkpoint.after, checkpoint.size,
                   checkpoint.written, checkpoint.still_open, checkpoint.skipped,
                   checkpoint.pages)
        if not all(type(n) is int and n >= 0 for n in numbers) or not (
                isinstance(span.url, str) and isinstance(span.mapping, str)) or not (
                checkpoint.reached is None or type(checkpoint.reached) in (int, float)):
            raise TypeError("a field of the wrong type")
    except (TypeError, AttributeError, KeyError) as exc:
        raise InputError(f"--resume: the checkpoint {path} is not one ({exc}); "
                         f"{again}") from None
    return checkpoint
