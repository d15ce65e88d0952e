"""Data dirs for the drift and retraining tests: a model trained on one alarm mix, then
recent alerts from the same mix or from another causal graph.

The scenarios come from the benchmark generator (benchmarks/correlation/scenario.py):
the Huawei topology with alarms that follow the NeurIPS 2023 causal graph (types
``ALM_*``), or the 18V wireless graph (types ``WLS_*``) on the same devices.
"""

from __future__ import annotations

import shutil
from functools import cache
from pathlib import Path

from aiops.config import DataDir
from aiops.learning.training import train
from aiops.models import Alert, parse_alert
from aiops.runtime import Runtime, open_runtime
from benchmarks.correlation.scenario import Scenario, ScenarioConfig, generate
from topology.model import parse_topology

EVAL_HOURS = 8.0
LATER = 10 * 3600.0  # the other mix starts this long after the eval period's start


@cache
def scenario(causal: str = "neurips") -> Scenario:
    return generate(ScenarioConfig(topology="huawei", seed=3, causal=causal, faults=48,
                                   hours=EVAL_HOURS))


def other_mix() -> list[Alert]:
    """The wireless graph's eval alerts, moved after the NeurIPS eval period."""
    out = []
    for raw in scenario("wireless").eval.alerts:
        moved = {**raw, "id": f"w-{raw['id']}", "starts_at": raw["starts_at"] + LATER}
        if moved.get("ends_at") is not None:
            moved["ends_at"] += LATER
        out.append(parse_alert(moved))
    return out


def build_trained(path: Path) -> Path:
    """Topology, a day of history ingested and trained on (v1, promoted), then the eval
    period of the same mix ingested; closed, so the directory can be copied."""
    runtime = open_runtime(DataDir.from_env(path))
    try:
        base = scenario()
        nodes, edges = parse_topology(base.topology.document())
        runtime.import_topology(nodes, edges, source="sim")
        history = [parse_alert(a) for a in base.history.alerts]
        runtime.engine.ingest(history)
        model, _ = train(runtime.registry, history, runtime.engine.topology,
                         "history.jsonl", None)
        runtime.use_model(model)
        runtime.engine.ingest([parse_alert(a) for a in base.eval.alerts])
    finally:
        runtime.close()
    return path


def copy_of(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def opened(path: Path) -> Runtime:
    return open_runtime(DataDir.from_env(path))
