"""Absorbing a small settled incident into the one its alarms most likely followed."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from aiops.config import DataDir
from aiops.engine.absorb import AlertBuffer, add_note
from aiops.engine.engine import EXPIRE_EVERY
from aiops.learning.parents import BINS, MAX_HOPS, ParentModel
from aiops.learning.training import CorrelationModel
from aiops.models import parse_alert
from aiops.runtime import Runtime, open_runtime
from aiops.store import queries
from aiops.store.tables import feedback
from topology.model import Edge, Node

T0 = 1_800_000_000.0
CHAIN = [f"n{i}" for i in range(18)]


def chain() -> tuple[list[Node], list[Edge]]:
    return ([Node(n, "device", n, {}) for n in CHAIN],
            [Edge(a, b) for a, b in zip(CHAIN, CHAIN[1:], strict=False)])


def parents() -> ParentModel:
    """A trained model in which any alarm is very likely the child of an alarm up to
    two hops away within the lag window: devices seldom alarm on their own."""
    model = ParentModel.from_dict({
        "format": 1, "edges": [-20, -10, -4, -1, 0, 1, 2, 4, 8, 16, 32, 64, 128, 200, 300],
        "typed": True, "prior_weight": 1.0, "types": ["LINK_DOWN"],
        "alpha": [[1.0, 1.0], [1.0, 1.0]], "kernel": [[0.01] * BINS] * (MAX_HOPS + 1),
        "span": 86_400.0, "nodes": 18, "background": [], "type_background": [1.0, 0.0]})
    assert model is not None
    return model


def alert(i: str, entity: str, at: float, name: str = "LINK_DOWN") -> dict:
    return {"id": i, "source": "nms", "name": name, "entity": entity,
            "severity": "major", "summary": f"{name} on {entity}", "starts_at": T0 + at}


def scenario(runtime: Runtime, small: list[tuple[str, str, float]],
             model: ParentModel | None = None) -> None:
    """A fault of six alarms on n0-n3 in the first 10 s, then ``small``: alarms placement
    keeps apart from it (two hops or more away, after the fan-out)."""
    runtime.import_topology(*chain(), "test")
    runtime.use_model(CorrelationModel(parents=model))
    big = [("a0", "n0", 0, "LINK_DOWN"), ("a1", "n1", 2, "LINK_DOWN"),
           ("a2", "n2", 4, "LINK_DOWN"), ("a3", "n3", 6, "LINK_DOWN"),
           ("a4", "n2", 8, "BGP_DOWN"), ("a5", "n3", 10, "BGP_DOWN")]
    runtime.engine.ingest([parse_alert(alert(i, n, at, name)) for i, n, at, name in big])
    if small:
        runtime.engine.ingest([parse_alert(alert(i, n, at, "PORT_DOWN"))
                               for i, n, at in small])


def settle(runtime: Runtime) -> None:
    """Much later, repeats of one alarm far off: the incidents above settle."""
    runtime.engine.ingest([parse_alert(alert("late", "n16", 7200))] * EXPIRE_EVERY)


def incidents(runtime: Runtime) -> dict[str, list[str]]:
    """Incident id → its alerts' event ids, of the incidents not merged away."""
    with runtime.db.connect() as conn:
        return {i["id"]: sorted(a["id"] for a in queries.get_incident(conn, i["id"])["alerts"])
                for i in queries.list_incidents(conn)}


def groups(runtime: Runtime) -> list[list[str]]:
    return sorted(incidents(runtime).values())


BIG = ["a0", "a1", "a2", "a3", "a4", "a5"]


def test_a_small_incident_that_followed_a_neighbours_alarm_is_absorbed(runtime: Runtime
                                                                       ) -> None:
    # Two hops from n3, 40 s after its alarm: placement keeps it apart.
    scenario(runtime, [("s0", "n5", 50)], parents())
    assert sorted(groups(runtime)) == [BIG, ["s0"]]
    settle(runtime)
    assert sorted(groups(runtime)) == [[*BIG, "s0"], ["late"]]
    with runtime.db.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(feedback)).scalar() == 0
        small, target = queries.get_incident(conn, "inc-2"), queries.get_incident(conn, "inc-1")
    assert small["status"] == "merged" and small["merged_into"] == "inc-1"
    evidence = target["root_causes"][0]["evidence"]
    assert evidence[0] == ("absorbed inc-2: its alarms most likely followed this "
                           "incident's BGP_DOWN on n3 (p=1.00)")
    with runtime.db.connect() as conn:
        [s0] = [a for a in queries.get_incident(conn, "inc-1", placement=True)["alerts"]
                if a["id"] == "s0"]
    assert s0["placement"]["decision"] == "opened" and s0["placement"]["incident"] == "inc-2"
    assert s0["placement"]["moves"] == [{"move": "absorbed", "by": "engine", "from": "inc-2",
                                         "into": "inc-1", "share": 1.0}]
    assert s0["why_here"].endswith("then its incident inc-2 was absorbed into inc-1 (its "
                                   "alarms most likely followed it, p=1.00)")


def test_a_small_incident_far_in_time_or_hops_is_not_absorbed(runtime: Runtime) -> None:
    # n9 is six hops from n3; the n4 alarm comes 400 s after the fault's last one.
    scenario(runtime, [("far", "n9", 20), ("late4", "n4", 410)], parents())
    before = groups(runtime)
    assert [*BIG] in before and ["far"] in before and ["late4"] in before
    settle(runtime)
    assert groups(runtime) == sorted([BIG, ["far"], ["late4"], ["late"]])


def test_nothing_is_absorbed_without_a_parent_model(runtime: Runtime) -> None:
    scenario(runtime, [("s0", "n5", 50)], None)
    settle(runtime)
    assert groups(runtime) == sorted([BIG, ["s0"], ["late"]])


def test_an_operators_split_is_not_absorbed(runtime: Runtime) -> None:
    # The operator says a5 is another fault: left alone, its parent mass (all on the
    # fault's other alarms) would put it back once settled.
    scenario(runtime, [], parents())
    runtime.engine.split_incident("inc-1", ["a5"], author="op")
    settle(runtime)
    assert groups(runtime) == sorted([BIG[:5], ["a5"], ["late"]])


def test_a_restart_keeps_the_alarms_a_settling_incident_may_have_followed(tmp_path: Path
                                                                       ) -> None:
    # The restart comes between the small incident's alarm and its settling: the
    # alarms it may have followed are read back from the database, so it is absorbed
    # as without the restart.
    path = tmp_path / "data"
    rt = open_runtime(DataDir.from_env(path))
    try:
        scenario(rt, [("s0", "n5", 50)], parents())
    finally:
        rt.close()
    rt = open_runtime(DataDir.from_env(path))
    try:
        assert len(rt.engine.buffer) == 7
        rt.use_model(CorrelationModel(parents=parents()))
        settle(rt)
        assert sorted(groups(rt)) == [[*BIG, "s0"], ["late"]]
    finally:
        rt.close()


def test_a_model_promoted_after_the_alarms_absorbs_with_them(runtime: Runtime) -> None:
    # The alarms came while no model had parents; the model that has them arrives
    # before the small incident settles, and finds the alarms it followed.
    scenario(runtime, [("s0", "n5", 50)], None)
    runtime.use_model(CorrelationModel(parents=parents()))
    settle(runtime)
    assert sorted(groups(runtime)) == [[*BIG, "s0"], ["late"]]


def test_regrouping_absorbs_as_the_engine_did(runtime: Runtime) -> None:
    from aiops.engine.regroup import compare, load_window
    scenario(runtime, [("s0", "n5", 50)], parents())
    settle(runtime)
    # Enough distinct late alerts that regrouping, which counts alerts between expiries,
    # lets the small group settle too.
    runtime.engine.ingest([parse_alert(alert(f"x{k}", "n16", 7300 + k, f"T{k}"))
                           for k in range(EXPIRE_EVERY + 1)])
    with runtime.db.connect() as conn:
        records = load_window(conn, 0.0, T0 + 10_000)
    stored = {r.id: r.incident_id for r in records}
    topology = runtime.engine.topology
    with_parents = CorrelationModel(parents=parents())
    assert compare(stored, runtime.regroup(with_parents, records, topology)
                   ).agreement["f1"] == 1.0
    assert compare(stored, runtime.regroup(CorrelationModel(), records, topology)).splits


def test_the_buffer_keeps_only_what_it_is_told_to() -> None:
    from aiops.engine.state import AlertRecord
    from aiops.models import Alert
    buffer = AlertBuffer()
    for k in range(10):
        event = Alert(id=f"e{k}", source="s", name="X", entity=f"n{k % 3}",
                      severity="major", summary="", starts_at=float(k))
        buffer.add(AlertRecord(id=k, fingerprint=str(k), event=event, node_id=f"n{k % 3}",
                               starts_at=float(k)))
    buffer.prune(7.0)
    assert len(buffer) == 3 and [a.id for a in buffer.at("n1")] == [7]
    buffer.prune(100.0)
    assert len(buffer) == 0 and list(buffer.at("n0")) == []


def test_notes_keep_the_split_line_and_the_latest_absorbed() -> None:
    note = "split in hindsight from inc-1"
    for k in range(8):
        note = add_note(note, f"absorbed inc-{k}: x")
    lines = note.split("\n")
    assert lines[0] == "split in hindsight from inc-1"
    assert lines[1:] == [f"absorbed inc-{k}: x" for k in range(3, 8)]
