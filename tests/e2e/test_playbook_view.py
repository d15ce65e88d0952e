"""Running a playbook from the incident view, in a real browser."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from aiops.store.queries import list_incidents
from tests.conftest import LiveServer
from tests.e2e.test_incident_view import alert, ingest
from tests.playbooks.test_runs import WRITE
from topology.model import Edge, Node

pytestmark = pytest.mark.browser


def test_dry_run_then_run_from_the_incident_view(page: Page, live_server: LiveServer,
                                                 tmp_path: Path) -> None:
    runtime = live_server.runtime
    runtime.import_topology([Node("r1", "device", "r1"), Node("r2", "device", "r2")],
                            [Edge("r1", "r2")], "test")
    now = time.time()
    ingest(runtime, [alert("a1", "r1", now - 20), alert("a2", "r2", now - 18)])
    with runtime.db.connect() as conn:
        (incident,) = list_incidents(conn)
    out = tmp_path / "ran.txt"
    folder = runtime.data_dir.path / "playbooks"
    folder.mkdir()
    (folder / "note.yml").write_text(
        "description: write down the device at fault\n"
        "match: {alert_types: [LINK_DOWN]}\n"
        f'steps: [{{name: write, command: [{sys.executable}, -c, "{WRITE}", "{out}", '
        '"{root.entity}"]}]\n')
    (folder / "power.yml").write_text("match: {alert_types: [POWER_FAIL]}\n"
                                      "steps: [{command: ['true']}]\n")
    (folder / "typo.yml").write_text("steps: [{command: ['x', '{root.nam}']}]\n")

    page.goto(f"{live_server.url}/incidents/{incident['id']}")
    offered = page.locator("#playbooks li.playbook")
    expect(offered).to_have_count(1)  # power.yml does not fit, typo.yml is refused
    expect(offered).to_contain_text("the incident has LINK_DOWN alerts")
    expect(page.locator("#playbook-errors")).to_contain_text("unknown placeholder '{root.nam}'")

    offered.locator(".playbook-dry-run").click()
    record = page.locator("#playbook-runs li.playbook-run-record")
    expect(record).to_have_count(1)
    expect(record.first).to_contain_text("dry-run")
    assert not out.exists()

    page.once("dialog", lambda dialog: dialog.accept())  # "Run playbook note against ...?"
    page.locator("#playbook-author").fill("ana")
    page.locator("#playbooks li.playbook .playbook-run").click()
    expect(record).to_have_count(2)
    expect(record.first).to_contain_text("succeeded (by ana)", timeout=20_000)
    assert out.read_text() == incident["root_causes"][0]["entity"]
