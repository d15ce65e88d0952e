"""An engine with no trained model ranks root causes with the type precedence it
counts on its own alerts (``LivePace``): once enough pairs were seen, the device whose
alarm type usually starts first nearby is named before the neighbour holding most of
the alarms; with too few it is not; a restart counts it again from the stored alerts;
a promoted model's relations replace it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from aiops.config import DataDir
from aiops.engine.pace import MIN_PRECEDENCE
from aiops.learning.relations import TypeRelations
from aiops.learning.training import CorrelationModel
from aiops.models import Alert
from aiops.runtime import Runtime, open_runtime
from topology.model import Edge, Node

NODES = 39  # a chain n0 - n1 - ... - n38
EVERY = 300.0  # seconds between faults: each its own incident


def _open(path: Path) -> Runtime:
    data_dir = DataDir.from_env(path)
    settings = dataclasses.replace(data_dir.settings, text_similarity=False)
    runtime = open_runtime(dataclasses.replace(data_dir, settings=settings))
    if not runtime.engine.topology.nodes:
        nodes = [Node(f"n{i}", "router", f"n{i}") for i in range(NODES)]
        edges = [Edge(f"n{i}", f"n{i + 1}") for i in range(NODES - 1)]
        runtime.import_topology(nodes, edges, "test")
    return runtime


def _fault(k: int) -> tuple[str, str, list[Alert]]:
    """Fault ``k``: LINK_DOWN on a device, then BGP_DOWN and ROUTE_LOSS on its
    neighbour seconds later (three ordered pairs of types); the neighbour holds two of
    the three alarms, so a ranker without precedence names it."""
    root, near = 3 * (k % 13), 3 * (k % 13) + 1
    at = 1000.0 + k * EVERY
    alerts = [Alert(f"{k}-a", "test", "LINK_DOWN", f"n{root}", "major", "", at),
              Alert(f"{k}-b", "test", "BGP_DOWN", f"n{near}", "major", "", at + 5.0),
              Alert(f"{k}-c", "test", "ROUTE_LOSS", f"n{near}", "major", "", at + 8.0)]
    return f"n{root}", f"n{near}", alerts


def _named_first(runtime: Runtime, k: int) -> tuple[str, list[str]]:
    """Ingest fault ``k`` as a batch of its own (as alerts arrive live); the device its
    incident names first and that cause's evidence."""
    *_, alerts = _fault(k)
    result = runtime.engine.ingest(alerts)
    [incident_id] = result.incidents
    top = runtime.engine.incidents[incident_id].root_causes[0]
    return top.entity, top.evidence


def test_enough_alerts_teach_the_untrained_ranker_which_type_starts(tmp_path: Path) -> None:
    runtime = _open(tmp_path / "data")
    try:
        early = [_named_first(runtime, k)[0] for k in range(5)]
        k = 5
        while runtime.engine.pace.relations is None:
            _named_first(runtime, k)
            k += 1
            assert k < 200, runtime.engine.stats()["live_pace"]
        stats = runtime.engine.stats()["live_pace"]
        late, evidence = _named_first(runtime, k)
    finally:
        runtime.close()
    # Too few alerts: every type's rootness 0.5, the neighbour with two alarms first.
    assert early == [_fault(i)[1] for i in range(5)]
    assert stats["precedence_in_use"] and stats["precedence_pairs"] >= MIN_PRECEDENCE
    assert late == _fault(k)[0]
    assert any("co-occurrences in the alerts seen so far" in line for line in evidence)
    assert not any("past co-occurrences" in line for line in evidence)


def _until_counted(runtime: Runtime) -> int:
    """Feed faults until the live pace's precedence is in use; the next fault's index."""
    k = 0
    while runtime.engine.pace.relations is None:
        _named_first(runtime, k)
        k += 1
    return k


def test_a_restart_counts_precedence_again_from_the_stored_alerts(tmp_path: Path) -> None:
    runtime = _open(tmp_path / "data")
    try:
        k = _until_counted(runtime)
        before = runtime.engine.pace.relations.precedence_
    finally:
        runtime.close()
    again = _open(tmp_path / "data")
    try:
        assert again.engine.pace.relations is not None
        # Counted on every stored alert, where the last fit on the grid came at the
        # first alert of a fault and so before the fault's later ones.
        after = again.engine.pace.relations.precedence_
        assert after.keys() == before.keys()
        assert all(before[pair] <= after[pair] <= before[pair] + 1 for pair in before)
        assert again.engine.ranker.relations is again.engine.pace.relations
        assert _named_first(again, k)[0] == _fault(k)[0]
    finally:
        again.close()


def test_a_promoted_model_replaces_the_live_precedence(tmp_path: Path) -> None:
    runtime = _open(tmp_path / "data")
    try:
        k = _until_counted(runtime)
        # A model that learned the other order: the routing alarms start first.
        learned = TypeRelations()
        learned.precedence_ = {("BGP_DOWN", "LINK_DOWN"): 50, ("ROUTE_LOSS", "LINK_DOWN"): 50,
                               ("BGP_DOWN", "ROUTE_LOSS"): 50}
        runtime.use_model(CorrelationModel(relations=learned, version=1))
        assert runtime.engine.pace is None
        assert runtime.engine.ranker.relations is learned
        named, evidence = _named_first(runtime, k)
    finally:
        runtime.close()
    assert named == _fault(k)[1]
    assert any("past co-occurrences" in line for line in evidence)
