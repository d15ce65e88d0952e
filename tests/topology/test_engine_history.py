"""The engine analyses alerts against the topology as it was at their event time, through
the real runtime, store and ``aiops replay`` path; live alerts cost no look-up."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from aiops.config import DataDir, EngineSettings
from aiops.models import Alert, parse_alert
from aiops.replay import replay_alerts
from aiops.runtime import Runtime, open_runtime
from aiops.store import queries
from topology.model import Edge, Node

NOW = 1_800_000_000.0
DAY = 86400.0


def open_at(tmp_path: Path, max_age: float | None = 7 * DAY) -> Runtime:
    settings = EngineSettings(text_similarity=False, topology_max_age=max_age)
    return open_runtime(DataDir(path=tmp_path / "d", settings=settings))


@pytest.fixture
def rt(tmp_path: Path) -> Iterator[Runtime]:
    runtime = open_at(tmp_path)
    yield runtime
    runtime.close()


def discover(rt: Runtime, day: float, links: list[tuple[str, str]]) -> None:
    """One run of a source that reports every device and the links it sees that day."""
    nodes = [Node(n, "device", n) for n in ("h", "a", "b", "l1", "l2", "l3")]
    rt.topology_store.upsert(nodes, [Edge(u, v) for u, v in links], source="nms",
                             seen_at=NOW + day * DAY)


def link_seen_only_days_20_to_15_ago(rt: Runtime) -> None:
    chain = [("l1", "l2"), ("l2", "l3")]
    old = [("a", "b"), ("h", "l1"), ("h", "l2"), ("h", "l3")]
    for day in (-20, -15):
        discover(rt, day, chain + old)
    for day in (-10, -5, 0):
        discover(rt, day, chain)
    rt.reload_topology()


def alert(i: str, entity: str, at: float) -> Alert:
    """A condition of its own (the label keeps dedup from folding it into another)."""
    return parse_alert({"id": i, "source": "nms", "name": "LINK_DOWN", "entity": entity,
                        "severity": "major", "summary": f"down on {entity}", "starts_at": at,
                        "labels": {"case": i}})


def pair(tag: str, at: float) -> list[Alert]:
    return [alert(f"{tag}-a", "a", at), alert(f"{tag}-b", "b", at + 5)]


def groups(document: dict) -> list[set[str]]:
    return sorted((set(i["alert_ids"]) for i in document["incidents"]), key=sorted)


def test_a_link_seen_only_back_then_groups_alerts_only_back_then(rt: Runtime) -> None:
    link_seen_only_days_20_to_15_ago(rt)
    old, new = pair("old", NOW - 17 * DAY), pair("new", NOW - 60)
    # One replay batch holding both: the engine switches topology in mid-batch.
    document = replay_alerts(rt, old + new, None)
    assert groups(document) == [{"new-a"}, {"new-b"}, {"old-a", "old-b"}]


def test_the_same_alerts_replayed_at_any_time_give_the_answer_of_that_time(
        tmp_path: Path) -> None:
    for day, grouped in ((-17, True), (-8.5, True), (-7.5, False), (3, False)):
        rt = open_at(tmp_path / str(day))
        try:
            link_seen_only_days_20_to_15_ago(rt)
            document = replay_alerts(rt, pair("x", NOW + day * DAY), None)
            assert (len(document["incidents"]) == 1) is grouped, day
        finally:
            rt.close()


def test_before_the_first_report_the_first_report_is_assumed(rt: Runtime) -> None:
    link_seen_only_days_20_to_15_ago(rt)
    document = replay_alerts(rt, pair("early", NOW - 400 * DAY), None)
    assert groups(document) == [{"early-a", "early-b"}]


def test_zero_max_age_never_ages_links_out(tmp_path: Path) -> None:
    rt = open_at(tmp_path, max_age=0)
    try:
        link_seen_only_days_20_to_15_ago(rt)
        assert len(replay_alerts(rt, pair("new", NOW), None)["incidents"]) == 1
    finally:
        rt.close()


def test_root_cause_is_ranked_on_the_topology_of_the_incident(rt: Runtime) -> None:
    link_seen_only_days_20_to_15_ago(rt)

    def storm(tag: str, at: float) -> list[Alert]:
        return [alert(f"{tag}{i}", f"l{i}", at + i) for i in (1, 2, 3)]

    replay_alerts(rt, storm("old", NOW - 17 * DAY) + storm("new", NOW - 60), None)
    with rt.db.connect() as conn:
        listed = queries.list_incidents(conn)
    tops = {inc["started_at"][:10]: inc["root_causes"][0]["entity"] for inc in listed}
    assert len(tops) == 2
    old_day, new_day = sorted(tops)
    assert tops[old_day] == "h"  # the silent hub, linked to all three back then
    assert tops[new_day] != "h"  # its links aged out: no longer a neighbour


def test_live_alerts_use_the_current_graph_without_looking_anything_up(
        rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    link_seen_only_days_20_to_15_ago(rt)
    timeline = rt.engine.timeline
    assert timeline is not None and rt.engine.topology is timeline.current().graph
    calls: list[float] = []
    real_at = timeline.at
    monkeypatch.setattr(timeline, "at", lambda t: calls.append(t) or real_at(t))
    rt.engine.ingest(pair("live1", NOW + 30))
    rt.engine.ingest(pair("live2", NOW + 400) + [alert("live2-c", "l1", NOW + 401)])
    assert calls == []
    assert rt.engine.topology is timeline.current().graph
    # After a replay of last month the engine returns to the current graph for live alerts.
    rt.engine.ingest(pair("past", NOW - 17 * DAY))
    assert rt.engine.topology is not timeline.current().graph
    rt.engine.ingest(pair("live3", NOW + 900))
    assert rt.engine.topology is timeline.current().graph
    assert rt.current_topology() is timeline.current().graph


def test_a_topology_imported_once_does_not_age_away(tmp_path: Path) -> None:
    """Ageing counts only time in which the item's source went on reporting without it."""
    rt = open_at(tmp_path, max_age=DAY)
    try:
        rt.topology_store.upsert([Node("a", "device", "a"), Node("b", "device", "b")],
                                 [Edge("a", "b")], source="import", seen_at=NOW - 300 * DAY)
        for day in (-3, -2, -1, 0):  # another source keeps reporting other things
            rt.topology_store.upsert([Node("k", "host", "k")], [], source="kubernetes",
                                     seen_at=NOW + day * DAY)
        rt.reload_topology()
        assert len(replay_alerts(rt, pair("x", NOW), None)["incidents"]) == 1
    finally:
        rt.close()


def test_data_dir_setting_from_the_environment(monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    assert DataDir.from_env(tmp_path).settings.topology_max_age == 7 * DAY
    monkeypatch.setenv("AIOPS_TOPOLOGY_MAX_AGE", "3600")
    assert DataDir.from_env(tmp_path).settings.topology_max_age == 3600.0
    monkeypatch.setenv("AIOPS_TOPOLOGY_MAX_AGE", "a week")
    with pytest.raises(ValueError, match="AIOPS_TOPOLOGY_MAX_AGE"):
        DataDir.from_env(tmp_path)


def test_the_incident_view_draws_the_topology_of_the_incident(rt: Runtime) -> None:
    from aiops.api import create_app

    link_seen_only_days_20_to_15_ago(rt)
    replay_alerts(rt, pair("old", NOW - 17 * DAY) + pair("new", NOW - 60), None)
    client = create_app(runtime=rt).test_client()
    incidents = client.get("/api/v1/incidents").get_json()["incidents"]
    old = next(i for i in incidents if i["alert_count"] == 2)  # grouped through the old link
    drawn = client.get(f"/api/v1/incidents/{old['id']}/topology").get_json()
    assert {(e["source"], e["target"]) for e in drawn["edges"]} & {("a", "b"), ("b", "a")}
    new = next(i for i in incidents if i["alert_count"] == 1 and i["started_at"] > old[
        "started_at"])
    drawn = client.get(f"/api/v1/incidents/{new['id']}/topology").get_json()
    assert not {(e["source"], e["target"]) for e in drawn["edges"]} & {("a", "b"), ("b", "a")}
