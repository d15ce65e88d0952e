"""Opening the engine with receivers configured, as every sink test does: one place for
what the webhook, ServiceNow, RT and Jira tests share (the environment they set, the
data dir, the two-router topology), which each of them had its own copy of."""

from __future__ import annotations

from pathlib import Path

import pytest

from aiops.config import DataDir
from aiops.runtime import Runtime, open_runtime
from topology.model import Edge, Node


def open_sink_runtime(data: Path, env: pytest.MonkeyPatch, db_url: str | None = None,
                      **settings: str) -> Runtime:
    """The runtime of data dir ``data`` (on ``db_url`` when given) with ``settings``, the
    ``AIOPS_SINK_*`` settings in lower case without their prefix
    (``webhook_urls=...``), over the topology r1 - r2. Text similarity is off (no model
    to load) and no rate limit holds a send back unless ``min_interval`` sets one."""
    env.setenv("AIOPS_TEXT_SIMILARITY", "off")
    for name, value in {"min_interval": "0", **settings}.items():
        env.setenv(f"AIOPS_SINK_{name.upper()}", value)
    rt = open_runtime(DataDir.from_env(data, db_url))
    rt.import_topology([Node("r1", "device", "r1"), Node("r2", "device", "r2")],
                       [Edge("r1", "r2")], "test")  # an upsert: a restart imports again
    return rt


def secret_file(directory: Path, name: str, secret: str) -> str:
    """The path of a new file ``name`` in ``directory`` holding ``secret`` (and a newline,
    as an editor leaves one), for a ``*_FILE`` setting."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(secret + "\n")
    return str(path)
