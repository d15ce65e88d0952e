"""The plain function behind every discovery task: open the data dir's store, sync, report.

Celery tasks (aiops/tasks.py) are thin wrappers around :func:`run_discovery`, so it
is tested without a broker and runs the same in a worker, eagerly in-process, or
from the in-process scheduler.

Options are the source's constructor keywords. An option named ``X_env`` is read
from the environment variable it names and passed as ``X``, so a schedule file can
say ``token_env: NETBOX_TOKEN`` and keep the secret out of the file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from aiops.config import DataDir
from aiops.errors import InputError
from topology.discovery.registry import build
from topology.discovery.sync import sync


def expand_options(options: dict[str, Any] | None) -> dict[str, Any]:
    """``{"token_env": "NETBOX_TOKEN"}`` → ``{"token": os.environ["NETBOX_TOKEN"]}``."""
    out: dict[str, Any] = {}
    for key, value in (options or {}).items():
        if key.endswith("_env") and isinstance(value, str):
            if value not in os.environ:
                raise InputError(f"option '{key}': environment variable {value} is not set")
            out[key[: -len("_env")]] = os.environ[value]
        else:
            out[key] = value
    return out


def run_discovery(source: str, options: dict[str, Any] | None = None,
                  data_dir: str | None = None, database_url: str | None = None) -> dict[str, Any]:
    """Run source ``source`` into the data dir's topology store; the report as a dict."""
    from aiops.store.db import open_database
    from topology.conflicts import ConflictLog
    from topology.store import open_graph_store

    connector = build(source, expand_options(options))
    data = DataDir.from_env(Path(data_dir) if data_dir else None, database_url)
    data.path.mkdir(parents=True, exist_ok=True)
    db = open_database(data.url())
    try:
        store = open_graph_store(data.graph_url, db)  # AIOPS_GRAPH_URL, as `aiops serve`
        try:
            return sync(connector, store, ConflictLog(db)).to_dict()
        finally:
            store.close()
    finally:
        db.dispose()
