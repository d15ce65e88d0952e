"""Hindsight split of a settled incident that unfolded from two faults."""

from __future__ import annotations

import sqlalchemy as sa

from aiops.engine.engine import EXPIRE_EVERY
from aiops.engine.hindsight import HindsightSplitter
from aiops.engine.state import AlertRecord
from aiops.models import Alert, parse_alert
from aiops.runtime import Runtime
from aiops.store import queries
from aiops.store.tables import feedback
from topology.graph import TopologyGraph
from topology.model import Edge, Node

T0 = 1_800_000_000.0
CHAIN = [f"n{i}" for i in range(18)]


def chain() -> tuple[list[Node], list[Edge]]:
    return ([Node(n, "device", n, {}) for n in CHAIN],
            [Edge(a, b) for a, b in zip(CHAIN, CHAIN[1:], strict=False)])


def record(i: int, node: str, at: float) -> AlertRecord:
    event = Alert(id=f"e{i}", source="nms", name="LINK_DOWN", entity=node, severity="major",
                  summary="", starts_at=T0 + at)
    return AlertRecord(id=i, fingerprint=f"f{i}", event=event, node_id=node, starts_at=T0 + at)


def records(*spec: tuple[str, float]) -> list[AlertRecord]:
    return [record(i, node, at) for i, (node, at) in enumerate(spec)]


def two_faults() -> list[AlertRecord]:
    """Alarms around n4 from t=0 and around n13 from t=5, two at each device."""
    near = [(n, t) for n in ("n3", "n4", "n5") for t in (0.0, 4.0)]
    far = [(n, t) for n in ("n12", "n13", "n14") for t in (5.0, 9.0)]
    return records(*near, *far)


def test_two_faults_far_apart_are_split_with_the_earliest_part_first() -> None:
    splitter = HindsightSplitter(TopologyGraph(*chain()), gain=5.0)
    split = splitter.split(two_faults())
    assert split is not None
    first, second = split.parts
    assert {a.node_id for a in first} == {"n3", "n4", "n5"}
    assert {a.node_id for a in second} == {"n12", "n13", "n14"}
    assert split.origins == ("n4", "n13") and split.gain > 5.0
    assert split.hops is None  # 9 hops: further than twice the shares reach
    line = splitter.explain(split, "inc-9", kept=True)
    assert "split off to inc-9" in line and "around n4 (here) and around n13 (far apart)" in line


def test_one_fault_or_a_weak_case_is_left_alone() -> None:
    topology = TopologyGraph(*chain())
    one = records(*[(n, t) for n in ("n4", "n5", "n6", "n7") for t in (0.0, 3.0)])
    assert HindsightSplitter(topology, gain=5.0).split(one) is None
    # two faults, but not by the margin asked for
    assert HindsightSplitter(topology, gain=1000.0).split(two_faults()) is None
    # too small to split
    assert HindsightSplitter(topology, gain=0.0).split(two_faults()[:5]) is None


def test_split_is_deterministic() -> None:
    splitter = HindsightSplitter(TopologyGraph(*chain()), gain=5.0)
    alerts = two_faults()
    a, b = splitter.split(alerts), splitter.split(list(reversed(alerts)))
    assert a is not None and b is not None
    assert [[x.id for x in p] for p in a.parts] == [[x.id for x in p] for p in b.parts]


def alert(i: str, entity: str, at: float, name: str) -> dict:
    return {"id": i, "source": "nms", "name": name, "entity": entity,
            "severity": "major", "summary": f"{name} on {entity}", "starts_at": T0 + at}


def test_engine_splits_a_settled_incident_without_a_feedback_record(runtime: Runtime) -> None:
    runtime.import_topology(*chain(), "test")
    # Alarms along the chain, each next to the last: placement chains them all into one
    # incident; they bunch around n1-n2 and around n8-n9 (three types on each).
    spec = [("n0", 0), ("n3", 6), ("n4", 8), ("n5", 10), ("n6", 12), ("n7", 14), ("n10", 19)]
    spec += [(n, at + k / 2) for n, at in (("n1", 1), ("n2", 3), ("n8", 15), ("n9", 17))
             for k in range(3)]
    spec.sort(key=lambda s: s[1])
    types = ("LINK_DOWN", "PORT_DOWN", "BGP_DOWN")
    runtime.engine.ingest([parse_alert(alert(f"a{i}", n, at, types[round(2 * at) % 3]))
                           for i, (n, at) in enumerate(spec)])
    with runtime.db.connect() as conn:
        assert len(queries.list_incidents(conn)) == 1
    # Much later, repeats of one alarm far off: the old incident leaves the index.
    late = [parse_alert(alert("late", "n13", 7200, "LINK_DOWN"))] * EXPIRE_EVERY
    runtime.engine.ingest(late)
    with runtime.db.connect() as conn:
        found = [i for i in queries.list_incidents(conn) if i["alert_count"] > 1]
        assert conn.execute(sa.select(sa.func.count()).select_from(feedback)).scalar() == 0
    assert sorted(i["alert_count"] for i in found) == [9, 10]
    for inc in found:
        assert "once settled" in inc["root_causes"][0]["evidence"][0]


def test_kept_walks_stay_within_their_bound(monkeypatch) -> None:
    from aiops.engine import hindsight
    monkeypatch.setattr(hindsight, "WALK_CACHE", 20)
    splitter = HindsightSplitter(TopologyGraph(*chain()), gain=5.0)
    assert splitter.split(two_faults()) is not None
    assert splitter._walked <= 20 or len(splitter._walks) == 1
    assert splitter._walked == sum(len(w) for w in splitter._walks.values())
