"""Correcting the grouping from the incident view, in a real browser."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Page, expect

from aiops.runtime import Runtime
from aiops.store.queries import get_incident, list_incidents
from tests.conftest import LiveServer, serving_app
from tests.e2e.test_incident_view import alert, api, ingest
from topology.model import Edge, Node

pytestmark = pytest.mark.browser


def two_incidents(server: LiveServer) -> tuple[str, str]:
    """a1..a3 grouped around hub h1; b1 on a device far away, its own incident."""
    names = ["h1", "l1", "l2", "l3", "x1", "x2", "far"]
    edges = [Edge("h1", leaf) for leaf in ("l1", "l2", "l3")]
    edges += [Edge("l1", "l2"), Edge("l2", "l3"), Edge("l3", "x1"), Edge("x1", "x2"),
              Edge("x2", "far")]
    server.runtime.import_topology([Node(n, "device", n) for n in names], edges, "test")
    now = time.time()
    ingest(server.runtime, [alert("a1", "l1", now - 30), alert("a2", "l2", now - 28),
                            alert("a3", "l3", now - 26, "POWER_FAIL"),
                            alert("b1", "far", now - 27, "PORT_FLAP")])
    with server.runtime.db.connect() as conn:
        where = {a["id"]: inc["id"] for inc in list_incidents(conn)
                 for a in get_incident(conn, inc["id"])["alerts"]}
    assert where["a1"] == where["a3"] != where["b1"]
    return where["a1"], where["b1"]


def test_split_and_merge_from_the_incident_view(page: Page, live_server: LiveServer) -> None:
    a, b = two_incidents(live_server)
    page.goto(f"{live_server.url}/incidents/{a}")
    page.locator("#split-button").click()  # nothing ticked: the API's message is shown
    expect(page.locator("#feedback-message")).to_contain_text("non-empty array")

    page.locator("input.split-alert[value='a3']").check()
    page.locator("#feedback-author").fill("ann")
    page.locator("#split-button").click()
    expect(page.locator("#alerts tbody tr.alert-row")).to_have_count(2)
    moved = api(page, live_server, f"/incidents/{a}")["alerts"]
    assert [x["id"] for x in moved] == ["a1", "a2"]

    page.locator("#merge-ids").fill(f"{b}, inc-nope")
    page.locator("#merge-button").click()
    expect(page.locator("#feedback-message")).to_contain_text("no incident with id 'inc-nope'")
    page.locator("#merge-ids").fill(b)
    page.locator("#merge-button").click()
    expect(page.locator("#alerts tbody tr.alert-row")).to_have_count(3)
    assert api(page, live_server, f"/incidents/{b}")["merged_into"] == a
    page.goto(f"{live_server.url}/incidents/{b}")
    expect(page.locator("#feedback-card")).to_have_count(0)  # a merged incident has no alerts
    expect(page.locator("#topology-card > p").first).to_have_text(
        "No alerts, so no entity to draw.")
    expect(page.locator("#incident-title + p.meta a")).to_have_attribute("href", f"/incidents/{a}")


def test_a_server_gone_away_is_said_on_the_page(page: Page, runtime: Runtime) -> None:
    """The click's request fails outright: the page said nothing at all (an unhandled
    promise rejection in the console) and the operator waited for a reload."""
    with serving_app(runtime) as server:
        a, _ = two_incidents(server)
        page.goto(f"{server.url}/incidents/{a}")
    page.locator("input.split-alert[value='a3']").check()
    page.locator("#split-button").click()
    expect(page.locator("#feedback-message")).to_have_class("error")
    expect(page.locator("#feedback-message")).to_contain_text(
        "No answer from the server (")
    expect(page.locator("#feedback-message")).to_contain_text(
        "reload the page to see whether it was done.")
