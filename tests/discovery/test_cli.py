"""``aiops topology discover|show|export|schedule`` and ``aiops alerts unresolved`` as a user
runs them: a real subprocess, exit codes and files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.discovery.conftest import DATA, FakeSource, Reply

T0 = 1_800_000_000


def aiops(data_dir: Path, *args: str,
          env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "aiops", "--data-dir", str(data_dir), *args],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


def write_inventory(path: Path) -> Path:
    path.write_text("nodes:\n"
                    "  - {id: sw2, kind: device, serial: S2, mgmt_ip: 10.250.12.2}\n"
                    "  - {id: srv-1, kind: host, mgmt_ip: 10.1.1.1}\n"
                    "edges:\n  - {source: srv-1, target: sw2}\n")
    return path


def test_discover_show_export_round_trip(tmp_path: Path) -> None:
    data = tmp_path / "d"
    r = aiops(data, "topology", "discover", "inventory", str(write_inventory(tmp_path / "i.yaml")))
    assert r.returncode == 0 and "inventory: wrote 2 nodes (2 new)" in r.stdout, r.stderr
    r = aiops(data, "topology", "discover", "lldp", "--from-file",
              str(DATA / "lldpcli-sw2.json"), "--host", "sw2.lab.example", "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["merged"]["sw2.lab.example"] == "sw2"
    r = aiops(data, "topology", "show", "sw2.lab.example")
    assert r.returncode == 0
    assert r.stdout.startswith("sw2  (device)") and "seen by: inventory, lldp" in r.stdout
    assert "connected_to   sw1.lab.example  (device)" in r.stdout
    assert "<- part_of     sw2:eth0  (interface)" in r.stdout
    shown = json.loads(aiops(data, "topology", "show", "sw2:eth1", "--json").stdout)
    assert shown["node"]["kind"] == "interface"
    assert {n["id"] for n in shown["neighbours"]} == {"sw2", "sw3.lab.example:eth0"}
    first = tmp_path / "export.json"
    r = aiops(data, "topology", "export", "--output", str(first))
    assert r.returncode == 0 and "exported 8 nodes" in r.stderr
    other = tmp_path / "other"
    assert aiops(other, "topology", "import", str(first)).returncode == 0
    again = aiops(other, "topology", "export")
    assert json.loads(again.stdout) == json.loads(first.read_text())


def test_unknown_node_and_bad_input_exit_2(tmp_path: Path) -> None:
    data = tmp_path / "d"
    r = aiops(data, "topology", "show", "nowhere")
    assert r.returncode == 2 and "no topology node matches 'nowhere'" in r.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text("id,kind\nx,device,extra\n")
    r = aiops(data, "topology", "discover", "inventory", str(bad))
    assert r.returncode == 2 and "bad.csv:2: more cells than header columns" in r.stderr
    r = aiops(data, "topology", "discover", "lldp")
    assert r.returncode == 2 and "nothing to read" in r.stderr


def test_an_unreachable_source_exits_1_and_changes_nothing(tmp_path: Path,
                                                         fake_source: FakeSource) -> None:
    data = tmp_path / "d"
    aiops(data, "topology", "discover", "inventory", str(write_inventory(tmp_path / "i.yaml")))
    before = aiops(data, "topology", "export").stdout
    fake_source.routes["/api/dcim/devices/?limit=500"] = Reply({"detail": "x"}, status=502)
    r = aiops(data, "topology", "discover", "netbox", fake_source.url, "--token", "t")
    assert r.returncode == 1
    assert "answered HTTP 502; the stored topology was not changed" in r.stderr
    assert aiops(data, "topology", "export").stdout == before


def test_alerts_resolve_through_interfaces_and_the_rest_are_listed(tmp_path: Path) -> None:
    data = tmp_path / "d"
    aiops(data, "topology", "discover", "inventory", str(write_inventory(tmp_path / "i.yaml")))
    aiops(data, "topology", "discover", "lldp", "--from-file", str(DATA / "lldpcli-sw2.json"),
          "--host", "sw2")
    alerts = [
        {"id": "a1", "source": "nms", "name": "IF_DOWN", "entity": "sw2:eth0",
         "severity": "major", "summary": "down", "starts_at": T0},
        {"id": "a2", "source": "nms", "name": "DOWN", "entity": "sw1.lab.example",
         "severity": "major", "summary": "down", "starts_at": T0 + 5},
        {"id": "a3", "source": "nms", "name": "DOWN", "entity": "mystery-box",
         "severity": "minor", "summary": "?", "starts_at": T0 + 9},
    ]
    path = tmp_path / "alerts.jsonl"
    path.write_text("".join(json.dumps(a) + "\n" for a in alerts))
    r = aiops(data, "replay", str(path), "--output", str(tmp_path / "out.json"))
    assert r.returncode == 0, r.stderr
    incidents = json.loads((tmp_path / "out.json").read_text())["incidents"]
    by_alert = {a: inc["id"] for inc in incidents for a in inc["alert_ids"]}
    assert by_alert["a1"] == by_alert["a2"]  # the port of sw2 and its neighbour sw1
    r = aiops(data, "alerts", "unresolved", "--json")
    doc = json.loads(r.stdout)
    assert doc["count"] == 1 and doc["alerts"][0]["entity"] == "mystery-box"
    r = aiops(data, "alerts", "unresolved")
    assert "1 unresolved alerts" in r.stdout and "mystery-box" in r.stdout


def test_schedule_once(tmp_path: Path) -> None:
    schedule = tmp_path / "schedule.yaml"
    schedule.write_text("discovery:\n  - source: inventory\n    every: 1h\n"
                        f"    options: {{path: {write_inventory(tmp_path / 'i.yaml')}}}\n")
    r = aiops(tmp_path / "d", "topology", "schedule", "--config", str(schedule), "--once")
    assert r.returncode == 0 and "inventory: 2 nodes, 1 edges, 0 conflicts" in r.stderr


def test_show_marks_aged_out_links_and_export_keeps_them_unless_in_use(tmp_path: Path) -> None:
    from aiops.store.db import open_database
    from topology.embedded import EmbeddedGraphStore
    from topology.model import Edge, Node

    data = tmp_path / "d"
    data.mkdir()
    db = open_database(f"sqlite:///{(data / 'aiops.db').resolve()}")
    try:
        store = EmbeddedGraphStore(db)
        nodes = [Node(n, "device", n) for n in ("a", "b", "c")]
        day = 86400.0
        store.upsert(nodes, [Edge("a", "b"), Edge("a", "c")], source="lldp",
                     seen_at=T0 - 30 * day)
        store.upsert(nodes, [Edge("a", "c")], source="lldp", seen_at=T0)  # a-b not any more
    finally:
        db.dispose()
    r = aiops(data, "topology", "show", "a")
    assert r.returncode == 0, r.stderr
    assert ("connected_to   b  (device)  [aged out: last seen 2026-12-16T08:00:00Z by lldp]"
            in r.stdout)
    assert "connected_to   c  (device)\n" in r.stdout
    shown = json.loads(aiops(data, "topology", "show", "a", "--json").stdout)
    assert {n["id"]: n["in_use"] for n in shown["neighbours"]} == {"b": False, "c": True}
    assert shown["in_use"] is True
    everything = json.loads(aiops(data, "topology", "export").stdout)
    assert len(everything["edges"]) == 2  # stale items are stored and exported
    in_use = json.loads(aiops(data, "topology", "export", "--in-use").stdout)
    assert [(e["source"], e["target"]) for e in in_use["edges"]] == [("a", "c")]
    # Never ageing: everything is in use.
    never = aiops(data, "topology", "show", "a", env={"AIOPS_TOPOLOGY_MAX_AGE": "0"})
    assert "aged out" not in never.stdout


def test_netbox_without_leave_to_read_virtual_machines_says_how_to_go_without(
        tmp_path: Path, fake_source: FakeSource) -> None:
    data = tmp_path / "d"
    for endpoint in ("devices", "interfaces", "cables"):
        fake_source.json(f"/api/dcim/{endpoint}/?limit=500",
                         {"count": 0, "next": None, "previous": None, "results": []})
    fake_source.routes["/api/virtualization/virtual-machines/?limit=500"] = Reply(
        {"detail": "You do not have permission to perform this action."}, status=403)
    r = aiops(data, "topology", "discover", "netbox", fake_source.url, "--token", "t")
    assert r.returncode == 2
    assert "answered HTTP 403 (check the token); a token that may not read virtual " \
           "machines can discover without them (--no-virtual-machines)" in r.stderr
    r = aiops(data, "topology", "discover", "netbox", fake_source.url, "--token", "t",
              "--no-virtual-machines")
    assert r.returncode == 0, r.stderr
    assert not any("virtualization" in path for path, _ in fake_source.requests[4:])
