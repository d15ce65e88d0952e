"""Training a model on a generated history as `aiops train` does, for the probes.

The probe benchmarks (``polled_hosts``, ``k8s_node_failure``) each score an engine
trained on their history period against an untrained one; the training itself is the
same: a throw-away data dir with the probe's topology, then ``aiops.learning.training
.train`` on the history file with that data dir's text model.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from aiops.config import DataDir
from aiops.learning.training import CorrelationModel, train
from aiops.replay import load_alerts
from aiops.runtime import open_runtime
from topology.loader import read_topology


def trained_on_history(topology: Path, history: Path,
                       prefix: str = "aiops-probe-") -> tuple[CorrelationModel, dict[str, Any]]:
    """The model `aiops train --alerts HISTORY` makes on ``topology``, and its metadata."""
    with tempfile.TemporaryDirectory(prefix=prefix) as work:
        runtime = open_runtime(DataDir(path=Path(work)))
        try:
            nodes, edges = read_topology(topology)
            runtime.import_topology(nodes, edges, source="benchmark")
            return train(runtime.registry, load_alerts(history), runtime.engine.topology,
                         str(history), embedder=runtime.embedder)
        finally:
            runtime.close()
