"""Identity conflicts are stored by every discovery run and served by the API and CLI."""

from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa

from aiops.api import create_app
from aiops.runtime import Runtime
from aiops.store.db import open_database
from tests.discovery.conftest import DATA
from tests.discovery.test_cli import aiops
from tests.discovery.test_identity import Fixed, device
from topology.conflicts import ConflictLog
from topology.discovery.identity import Conflict
from topology.discovery.jobs import run_discovery
from topology.discovery.sync import sync
from topology.embedded import EmbeddedGraphStore
from topology.tables import topo_conflicts


def test_runs_store_each_distinct_conflict_once(db_url: str) -> None:
    db = open_database(db_url)
    try:
        store, log = EmbeddedGraphStore(db), ConflictLog(db)
        sync(Fixed("inventory", [device("sw9", serial="AAA"), device("fw1", mgmt_ip="10.0.0.5")]),
             store, log)
        netbox = Fixed("netbox", [device("sw9", serial="BBB"), device("lb1", mgmt_ip="10.0.0.5")])
        first = sync(netbox, store, log)
        assert sorted(c.what for c in first.conflicts) == ["address", "serial"]
        total, items = log.list()
        assert total == 2 and {i["what"] for i in items} == {"address", "serial"}
        serial = next(i for i in items if i["what"] == "serial")
        assert serial["node"] == "sw9" and serial["source"] == "netbox"
        assert serial["values"] == {"inventory": "AAA", "netbox": "BBB"}
        assert serial["reports"] == 1 and serial["first_reported"] == serial["last_reported"]
        # The next scheduled run finds the same disagreements: no new rows, counted again.
        sync(netbox, store, log)
        total, items = log.list()
        assert total == 2 and {i["reports"] for i in items} == {2}
        # A changed value is a different conflict.
        sync(Fixed("netbox", [device("sw9", serial="CCC")]), store, log)
        assert log.list()[0] == 3
        assert log.list(node="lb1")[0] == 1 and log.list(source="inventory")[0] == 0
        newest = log.list(limit=1)[1][0]
        assert newest["values"] == {"inventory": "AAA", "netbox": "CCC"}
    finally:
        db.dispose()


def test_an_old_run_recorded_late_does_not_move_last_reported_back(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'c.db'}")
    try:
        log = ConflictLog(db)
        one = Conflict("sw1", "serial", "serial of 'sw1': b says 'X', a says 'Y'", {"a": "Y"})
        assert log.record("b", [one, one], at=200.0) == 1  # counted once per run
        assert log.record("b", [one], at=100.0) == 0
        with db.connect() as conn:
            row = conn.execute(sa.select(topo_conflicts)).one()
        assert (row.first_reported, row.last_reported, row.reports) == (200.0, 200.0, 2)
    finally:
        db.dispose()


def test_scheduled_runs_store_conflicts_too(tmp_path: Path) -> None:
    data = tmp_path / "d"
    first = tmp_path / "a.yaml"
    first.write_text("nodes:\n  - {id: sw9, kind: device, serial: AAA}\n")
    run_discovery("inventory", {"path": str(first)}, str(data))
    db = open_database(f"sqlite:///{(data / 'aiops.db').resolve()}")
    try:
        store = EmbeddedGraphStore(db)
        sync(Fixed("netbox", [device("sw9", serial="BBB")]), store, ConflictLog(db))
        report = run_discovery("inventory", {"path": str(first)}, str(data))
        assert [c["what"] for c in report["conflicts"]] == ["serial"]
        total, items = ConflictLog(db).list(source="inventory")
        assert total == 1 and items[0]["node"] == "sw9"
    finally:
        db.dispose()


def test_cli_discover_then_list_conflicts(tmp_path: Path) -> None:
    data = tmp_path / "d"
    inventory = tmp_path / "i.yaml"
    inventory.write_text("nodes:\n  - {id: sw2, kind: device, name: core-sw2}\n")
    assert aiops(data, "topology", "discover", "inventory", str(inventory)).returncode == 0
    lldp = ("topology", "discover", "lldp", "--from-file", str(DATA / "lldpcli-sw2.json"),
            "--host", "sw2.lab.example")
    r = aiops(data, *lldp)
    assert r.returncode == 0 and "conflict: 'core-sw2' is called 'sw2.lab.example'" in r.stdout
    assert aiops(data, *lldp).returncode == 0  # the next run finds it again
    r = aiops(data, "topology", "conflicts", "--json")
    assert r.returncode == 0, r.stderr
    listed = json.loads(r.stdout)
    assert listed["count"] == 1
    (item,) = listed["conflicts"]
    assert (item["what"], item["node"], item["source"], item["reports"]) == (
        "name", "sw2", "lldp", 2)
    assert item["values"] == {"kept": "core-sw2", "lldp": "sw2.lab.example"}
    r = aiops(data, "topology", "conflicts")
    assert r.returncode == 0 and r.stdout.startswith("1 conflicts\n")
    assert "name      sw2  (lldp, 2 runs since " in r.stdout
    assert aiops(data, "topology", "conflicts", "--node", "sw1").stdout == "0 conflicts\n"


def test_api_serves_conflicts(runtime: Runtime) -> None:
    store = runtime.topology_store
    log = ConflictLog(runtime.db)
    sync(Fixed("inventory", [device("fw1", mgmt_ip="10.0.0.5")]), store, log)
    sync(Fixed("netbox", [device("lb1", mgmt_ip="10.0.0.5")]), store, log)
    client = create_app(runtime=runtime).test_client()
    body = client.get("/api/v1/topology/conflicts").get_json()
    assert body["count"] == 1
    (item,) = body["conflicts"]
    assert item["what"] == "address" and item["values"]["claimed_by"] == ["fw1", "lb1"]
    assert item["last_reported"].endswith("Z") and item["reports"] == 1
    assert client.get("/api/v1/topology/conflicts?node=fw1").get_json()["count"] == 0
    bad = client.get("/api/v1/topology/conflicts?limit=0")
    assert bad.status_code == 400 and bad.get_json()["error"]["field"] == "limit"
