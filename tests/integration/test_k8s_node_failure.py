"""A Kubernetes node failure and two bad rollouts, alerted as kube-prometheus alerts
them, replayed through the engine on the topology the Kubernetes discovery finds
(docs/benchmarks.md, "A Kubernetes node failure through kube-prometheus' alerts").

Most of these alerts are computed from kube-state-metrics, whose own address is in
their ``instance`` label: they must land on the pod, deployment or node they are
about, and the incidents must name those as their roots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from aiops.config import DataDir
from aiops.replay import load_alerts, replay_alerts
from aiops.runtime import open_runtime
from benchmarks.k8s_node_failure import (
    KSM_POD_ID,
    Period,
    _with_node_ids,
    placement,
    small_case,
    write,
)
from topology.loader import read_topology


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Path], Period]:
    cluster, period = small_case(seed=5)
    return write(tmp_path_factory.mktemp("k8s"), cluster, Period(), period), period


@pytest.fixture(scope="module")
def incidents(case: tuple[dict[str, Path], Period], tmp_path_factory: pytest.TempPathFactory
              ) -> list[dict[str, Any]]:
    paths, _ = case
    runtime = open_runtime(DataDir(path=tmp_path_factory.mktemp("engine")))
    try:
        nodes, edges = read_topology(paths["topology"])
        runtime.import_topology(nodes, edges, source="test")
        document = replay_alerts(runtime, load_alerts(paths["eval"]), None)
        _with_node_ids(runtime, document)
        return document["incidents"]
    finally:
        runtime.close()


def test_kube_state_metrics_alerts_land_on_their_subject(
        case: tuple[dict[str, Path], Period]) -> None:
    paths, period = case
    landed = placement(paths, period)
    assert landed["KubePodCrashLooping"] == {"deployment": 2}  # a new pod: its deployment
    assert landed["KubeDeploymentRolloutStuck"] == {"deployment": 2}
    assert landed["KubeNodeNotReady"] == {"host": 1}
    assert set(landed["KubeDeploymentReplicasMismatch"]) == {"deployment"}
    assert not any(KSM_POD_ID in str(a["entity"]) or a["entity"].startswith("10.244.")
                   for a in period.alerts)


def test_each_fault_names_its_own_root(case: tuple[dict[str, Path], Period],
                                       incidents: list[dict[str, Any]]) -> None:
    """The incident of a node's NotReady names the node; that of a crash-looping pod
    of a new ReplicaSet (a pod the topology has never seen) names its deployment."""
    _, period = case
    holder = {a: i for i in incidents for a in i["alert_ids"]}
    checked = 0
    for alert in period.alerts:
        spec = period.groups[period.alert_group[alert["id"]]]
        if alert["name"] in ("KubeNodeNotReady", "KubePodCrashLooping"):
            roots = [rc["node_id"] for rc in holder[alert["id"]]["root_causes"]]
            assert roots[0] == spec["root_entity"], (alert["name"], roots)
            checked += 1
    assert checked == 3
    assert all(rc["node_id"] != KSM_POD_ID for i in incidents for rc in i["root_causes"])


def test_the_nodes_own_alerts_are_one_incident(case: tuple[dict[str, Path], Period],
                                               incidents: list[dict[str, Any]]) -> None:
    _, period = case
    holder = {a: i["id"] for i in incidents for a in i["alert_ids"]}
    own = {holder[a["id"]] for a in period.alerts
           if a["name"] in ("KubeNodeNotReady", "KubeNodeUnreachable")}
    assert len(own) == 1
