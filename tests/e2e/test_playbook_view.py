"""Running a playbook from the incident view, in a real browser."""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from aiops.playbooks.runs import IN_FLIGHT, list_runs
from aiops.runtime import Runtime
from aiops.store.queries import list_incidents
from tests.conftest import LiveServer
from tests.e2e.test_incident_view import alert, ingest
from tests.playbooks.test_runs import WRITE
from topology.model import Edge, Node

pytestmark = pytest.mark.browser


def link_down_incident(runtime: Runtime) -> dict:
    """One incident of two LINK_DOWN alarms on two linked devices, started 20 s ago:
    what each test here runs its playbooks on."""
    runtime.import_topology([Node("r1", "device", "r1"), Node("r2", "device", "r2")],
                            [Edge("r1", "r2")], "test")
    now = time.time()
    ingest(runtime, [alert("a1", "r1", now - 20), alert("a2", "r2", now - 18)])
    with runtime.db.connect() as conn:
        (incident,) = list_incidents(conn)
    return incident


def test_dry_run_then_run_from_the_incident_view(page: Page, live_server: LiveServer,
                                                 tmp_path: Path) -> None:
    runtime = live_server.runtime
    incident = link_down_incident(runtime)
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

    # a screen reader names each button with its playbook, not a list of bare "Run"s
    page.get_by_role("button", name="Dry run note", exact=True).click()
    record = page.locator("#playbook-runs li.playbook-run-record")
    expect(record).to_have_count(1)
    expect(record.first).to_contain_text("dry-run")
    expect(record.first).to_contain_text(re.compile(r"\d\d:\d\d:\d\d UTC"))  # says its zone
    assert not out.exists()

    page.once("dialog", lambda dialog: dialog.accept())  # "Run playbook note against ...?"
    page.locator("#playbook-author").fill("ana")
    page.get_by_role("button", name="Run note", exact=True).click()
    expect(record).to_have_count(2)
    expect(record.first).to_contain_text("succeeded (by ana)", timeout=20_000)
    assert out.read_text() == incident["root_causes"][0]["entity"]


def test_following_a_run_never_wipes_what_the_operator_is_doing(
        page: Page, live_server: LiveServer, tmp_path: Path) -> None:
    """While a run was in flight the page reloaded every 2 s: ticked alerts, a
    half-typed merge and comment were wiped before the operator could send them.

    The page's timers run on Playwright's clock, moved by the test: on a loaded machine
    a real 2 s timer could fire before the inputs below were filled (a reload then
    wiped them, and the test read a wipe the page did not cause), or after the sleep
    meant to cover two of them."""
    runtime = live_server.runtime
    incident = link_down_incident(runtime)
    folder = runtime.data_dir.path / "playbooks"
    folder.mkdir()
    release = tmp_path / "release"  # the run ends when the test says, not after a guess
    (folder / "slow.yml").write_text(
        "match: {alert_types: [LINK_DOWN]}\n"
        "steps:\n"
        "  - name: wait\n"
        f"    command: [{sys.executable}, -c, \"import os, time; [time.sleep(0.05) for _ in "
        f"iter(lambda: os.path.exists('{release}'), True)]\"]\n")
    try:
        page.clock.install()
        page.clock.pause_at(time.time() + 1)  # from here the page's timers wait for the test
        page.goto(f"{live_server.url}/incidents/{incident['id']}")
        page.once("dialog", lambda dialog: dialog.accept())
        page.locator("#playbooks li.playbook .playbook-run").click()
        record = page.locator("#playbook-runs li.playbook-run-record")
        # in flight as the page loaded (queued still, or running: the worker's pace)
        expect(record).to_have_attribute("data-status", re.compile(r"^(queued|running)$"))
        loaded_with = record.get_attribute("data-status")
        page.locator("input.split-alert[value='a2']").check()
        page.locator("#feedback-comment").fill("half typed")
        page.locator("#merge-ids").fill("inc-9")
        page.clock.run_for(2_000)
        expect(page.locator("#playbook-message")).to_contain_text("A playbook run is in flight")
        release.touch()
        wait_until_run_ended(runtime, incident["id"])
        page.clock.run_for(6_000)  # three more looks at the page, the run over: no reload
        assert page.locator("input.split-alert[value='a2']").is_checked()
        assert page.locator("#feedback-comment").input_value() == "half typed"
        assert page.locator("#merge-ids").input_value() == "inc-9"
        assert record.get_attribute("data-status") == loaded_with  # not reloaded

        page.locator("input.split-alert[value='a2']").uncheck()
        page.locator("#feedback-comment").fill("")
        page.locator("#merge-ids").fill("")
        page.locator("h1").click()  # the operator is done here: the page follows the run again
        page.clock.run_for(2_000)
        expect(record).to_have_attribute("data-status", "succeeded")
    finally:
        release.touch()  # a failure above must not leave the step waiting its 60 s


def wait_until_run_ended(runtime: Runtime, incident_id: str, timeout: float = 20.0) -> None:
    """Wait, in real time, until the incident's playbook runs are all over."""
    deadline = time.monotonic() + timeout
    while True:
        with runtime.db.connect() as conn:
            statuses = [run["status"] for run in list_runs(conn, incident_id)]
        if statuses and not set(IN_FLIGHT) & set(statuses):
            return
        assert time.monotonic() < deadline, f"the runs stayed {statuses}"
        time.sleep(0.1)


def test_a_run_waiting_for_approval_is_approved_or_rejected_from_the_view(
        page: Page, live_server: LiveServer, tmp_path: Path) -> None:
    """A policy with ``approval`` asked for two runs; the operator approves one (it runs
    and writes its file) and rejects the other with a reason, each from its buttons."""
    from aiops.playbooks.auto import AutoRuns

    runtime = live_server.runtime
    incident = link_down_incident(runtime)
    out = tmp_path / "ran.txt"
    folder = runtime.data_dir.path / "playbooks"
    folder.mkdir()
    for name in ("note", "other"):
        (folder / f"{name}.yml").write_text(
            "match: {alert_types: [LINK_DOWN]}\n"
            "auto: {min_score: 0, after: 0, approval: true}\n"
            f'steps: [{{name: write, command: [{sys.executable}, -c, "{WRITE}", "{out}", '
            '"{root.entity}"]}]\n')
    first, second = AutoRuns(runtime).look()
    assert {first["status"], second["status"]} == {"needs-approval"}

    page.goto(f"{live_server.url}/incidents/{incident['id']}")
    waiting = page.locator("#playbook-runs li[data-status='needs-approval']")
    expect(waiting).to_have_count(2)
    expect(waiting.first).to_contain_text("Waits for an operator's approval until")
    page.locator("#playbook-author").fill("ana")
    page.once("dialog", lambda dialog: dialog.accept("change freeze"))  # "Why not?"
    page.get_by_role("button", name=f"Reject run {second['id']} of other").click()
    expect(page.locator(f"li[data-run='{second['id']}']")).to_contain_text(
        "rejected by ana: change freeze")
    assert not out.exists()
    page.locator("#playbook-author").fill("ana")  # the reload emptied it
    page.once("dialog", lambda dialog: dialog.accept())  # "Run playbook run #N now?"
    page.get_by_role("button", name=f"Approve run {first['id']} of note").click()
    expect(page.locator(f"li[data-run='{first['id']}']")).to_contain_text(
        "succeeded", timeout=20_000)
    expect(page.locator(f"li[data-run='{first['id']}']")).to_contain_text("decided by ana")
    assert out.read_text() == "r1"
