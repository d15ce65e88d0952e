"""Training a model on a generated history as `aiops train` does, for the probes.

The probe benchmarks (``polled_hosts``, ``k8s_node_failure``) each score an engine
trained on their history period against an untrained one; the training itself is the
same: a throw-away data dir with the probe's topology, then ``aiops.learning.training
.train`` on the history file with that data dir's text model.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aiops.config import DataDir
from aiops.learning.training import CorrelationModel, train
from aiops.models import Alert, parse_alert
from aiops.replay import load_alerts
from aiops.runtime import open_runtime
from topology.loader import read_topology
from topology.model import Edge, Node


def trained_on_history(topology: Path, history: Path,
                       prefix: str = "aiops-probe-") -> tuple[CorrelationModel, dict[str, Any]]:
    """The model `aiops train --alerts HISTORY` makes on ``topology``, and its metadata."""
    return trained_on(read_topology(topology), load_alerts(history), prefix, str(history))


def trained_on(topology: tuple[list[Node], list[Edge]], history: Sequence[Any],
               prefix: str = "aiops-probe-", source: str = "history"
               ) -> tuple[CorrelationModel, dict[str, Any]]:
    """The same from a parsed topology and the history's alerts (canonical dicts or
    parsed), for a probe that holds them in memory."""
    alerts = [a if isinstance(a, Alert) else parse_alert(a) for a in history]
    with tempfile.TemporaryDirectory(prefix=prefix) as work:
        runtime = open_runtime(DataDir(path=Path(work)))
        try:
            runtime.import_topology(*topology, source="benchmark")
            return train(runtime.registry, sorted(alerts, key=lambda a: a.starts_at),
                         runtime.engine.topology, source, embedder=runtime.embedder)
        finally:
            runtime.close()
