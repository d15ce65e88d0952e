"""``aiops replay``: a file of canonical alerts through the live ingestion path.

The file is validated whole first (nothing is ingested from a file with a bad
line), then fed in ``starts_at`` order, in batches, to the same ``Engine.ingest``
the API calls. The output (CONTRACTS.md §3) is written to a temporary file and
renamed into place, so a reader never sees half of it.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiops.models import Alert
from aiops.runtime import Runtime
from aiops.store.queries import replay_incidents
from aiops.tickets.recommend import remediations_for
from connectors.jsonl import read_alerts

BATCH_SIZE = 2000


def write_json_atomically(path: Path, document: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(document, handle, indent=1)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_alerts(alerts_path: Path) -> list[Alert]:
    """Validate the whole file and order it by ``starts_at`` (stable for equal times)."""
    alerts = read_alerts(alerts_path)
    alerts.sort(key=lambda a: a.starts_at)
    return alerts


def replay_file(runtime: Runtime, alerts_path: Path, output: Path | None,
                progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Replay ``alerts_path``; return (and write to ``output``) the incidents document."""
    return replay_alerts(runtime, load_alerts(alerts_path), output, progress)


def replay_alerts(runtime: Runtime, alerts: list[Alert], output: Path | None,
                  progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Ingest already validated, ordered alerts in batches and build the output."""
    engine = runtime.engine
    start_seq = engine.event_seq
    for start in range(0, len(alerts), BATCH_SIZE):
        chunk = alerts[start:start + BATCH_SIZE]
        engine.ingest(chunk)
        if progress is not None:
            progress(len(chunk))
    with runtime.db.connect() as conn:
        document = {"incidents": replay_incidents(conn, start_seq,
                                                  remediations_for(runtime))}
    if output is not None:
        write_json_atomically(output, document)
    return document
