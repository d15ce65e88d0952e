"""The incident view in a real browser: what an operator sees and clicks.

Each test serves the app over HTTP (``live_server``), drives headless Chromium to
it and checks the page against the JSON API of the same server, so the view can
neither drop nor invent incidents, alerts or root causes.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from aiops.api.timeline_svg import MAX_TIMELINE_ROWS
from aiops.models import parse_alert
from aiops.runtime import Runtime
from aiops.timeutil import to_rfc3339
from tests.conftest import LiveServer, load_demo
from topology.model import Edge, Node

pytestmark = pytest.mark.browser


def alert(alert_id: str, entity: str, start: float, name: str = "LINK_DOWN",
          severity: str = "major", end: float | None = None) -> dict[str, Any]:
    """A canonical alert; firing unless ``end`` is given."""
    return {"id": alert_id, "source": "test", "name": name, "entity": entity,
            "severity": severity, "summary": f"{name} on {entity}",
            "starts_at": to_rfc3339(start), "ends_at": to_rfc3339(end)}


def api(page: Page, server: LiveServer, path: str) -> Any:
    """GET a JSON document from the server under test through the page's own context."""
    response = page.request.get(f"{server.url}/api/v1{path}")
    assert response.ok, f"{path}: HTTP {response.status}"
    return response.json()


def ingest(runtime: Runtime, alerts: list[dict[str, Any]]) -> None:
    runtime.engine.ingest([parse_alert(a) for a in alerts])


@pytest.fixture
def demo_server(live_server: LiveServer) -> LiveServer:
    """The demo stream plus one alert firing now.

    Every fault of the demo stream has cleared by the time it is loaded, so without
    the extra alert the "Open" table would only ever be tested empty.
    """
    load_demo(live_server.runtime)
    ingest(live_server.runtime, [alert("e2e-open-1", "ne-05", time.time(), "FAN_FAIL")])
    return live_server


def row_ids(page: Page, table: str) -> list[str]:
    return page.locator(f"#{table} tr.incident-row").evaluate_all(
        "rows => rows.map(r => r.dataset.incidentId)")


def test_index_lists_open_and_resolved_incidents(page: Page, demo_server: LiveServer) -> None:
    console_errors: list[str] = []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    page.goto(demo_server.url + "/")
    expect(page.locator("h1")).to_have_text("Incidents")

    open_api = api(page, demo_server, "/incidents?status=open&limit=200")["incidents"]
    resolved_api = api(page, demo_server, "/incidents?status=resolved&limit=50")["incidents"]
    assert open_api and resolved_api, "the demo fixture must yield both kinds"
    for table, expected in (("open-incidents", open_api), ("resolved-incidents", resolved_api)):
        rows = page.locator(f"#{table} tr.incident-row")
        expect(rows).to_have_count(len(expected))
        assert row_ids(page, table) == [inc["id"] for inc in expected]
        for inc in expected:
            link = page.locator(f"#{table} tr[data-incident-id='{inc['id']}'] a")
            expect(link).to_have_attribute("href", f"/incidents/{inc['id']}")
    assert console_errors == []


def test_incident_detail_shows_causes_pictures_and_alerts(page: Page,
                                                         demo_server: LiveServer) -> None:
    resolved = api(page, demo_server, "/incidents?status=resolved")["incidents"]
    biggest = max(resolved, key=lambda inc: (inc["alert_count"], inc["id"]))
    page.goto(demo_server.url + "/")
    page.locator(f"#resolved-incidents a[href='/incidents/{biggest['id']}']").click()
    page.wait_for_url(f"**/incidents/{biggest['id']}")
    detail = api(page, demo_server, f"/incidents/{biggest['id']}")
    expect(page.locator("#incident-title")).to_contain_text(biggest["id"])

    causes = page.locator("#root-causes li.root-cause")
    expect(causes).to_have_count(len(detail["root_causes"]))
    assert detail["root_causes"], "a multi-alert demo incident has candidates"
    for i, rc in enumerate(detail["root_causes"]):
        expect(causes.nth(i).locator("strong")).to_have_text(rc["entity"])
        expect(causes.nth(i).locator(".evidence")).to_have_text("; ".join(rc["evidence"]))

    bars = page.locator("svg.timeline rect.alert-bar")
    expect(bars).to_have_count(min(detail["alert_count"], MAX_TIMELINE_ROWS))
    drawn = bars.evaluate_all("bars => bars.map(b => b.dataset.alertId)")
    assert drawn == [a["id"] for a in detail["alerts"][:MAX_TIMELINE_ROWS]]

    topology = page.locator("svg.topology")
    expect(topology.locator("g.node.root-cause")).to_have_count(1)
    expect(topology.locator("g.node.root-cause")).to_have_attribute(
        "data-node-id", detail["root_causes"][0]["node_id"])
    assert topology.locator("g.node.silent").count() > 0
    alarming = set(topology.locator("g.node.alarming").evaluate_all(
        "nodes => nodes.map(n => n.dataset.nodeId)"))
    assert alarming == {a["node_id"] for a in detail["alerts"] if a["node_id"]}

    rows = page.locator("#alerts tbody tr.alert-row")
    expect(rows).to_have_count(detail["alert_count"])
    assert len(detail["alerts"]) == detail["alert_count"]
    # Each alert says why it is here, as the API does (aiops.engine.placement).
    why = page.locator("#alerts tbody td.why-here").all_inner_texts()
    assert why == [a["why_here"] for a in detail["alerts"]]


def test_unknown_incident_is_a_404_page(page: Page, live_server: LiveServer) -> None:
    response = page.goto(live_server.url + "/incidents/inc-does-not-exist")
    assert response is not None and response.status == 404
    expect(page.locator("#not-found-message")).to_have_text(
        "no incident with id 'inc-does-not-exist'")
    page.get_by_role("link", name="Back to the incident list").click()
    page.wait_for_url(live_server.url + "/")
    expect(page.locator("h1")).to_have_text("Incidents")


def test_silent_hub_is_shown_as_the_root_cause(page: Page, live_server: LiveServer) -> None:
    """Three devices in a row shout, the hub joined to all three says nothing: the hub
    is to blame."""
    nodes = [Node(n, "device", n) for n in ("h1", "l1", "l2", "l3")]
    edges = [Edge("h1", leaf) for leaf in ("l1", "l2", "l3")]
    edges += [Edge("l1", "l2"), Edge("l2", "l3")]
    live_server.runtime.import_topology(nodes, edges, "test")
    now = time.time()
    ingest(live_server.runtime, [alert(f"leaf-{i}", leaf, now - 30 + 2 * i)
                                 for i, leaf in enumerate(("l1", "l2", "l3"))])

    page.goto(live_server.url + "/")
    row = page.locator("#open-incidents tr.incident-row")
    expect(row).to_have_count(1)
    expect(row.locator("td").nth(3)).to_contain_text("h1")
    row.locator("a").click()
    page.wait_for_url("**/incidents/*")

    top = page.locator("#root-causes li.root-cause").first
    expect(top.locator("strong")).to_have_text("h1")
    expect(top.locator(".badge")).to_have_text("silent")
    expect(top.locator(".evidence")).to_contain_text("raised no alarm itself")

    root = page.locator("svg.topology g.node.root-cause")
    expect(root).to_have_count(1)
    expect(root).to_have_attribute("data-node-id", "h1")
    expect(root).to_have_class("node silent candidate root-cause")
    for leaf in ("l1", "l2", "l3"):
        classes = page.locator(f"svg.topology g.node[data-node-id='{leaf}']").evaluate(
            "n => [...n.classList]")
        assert "alarming" in classes and not {"silent", "root-cause"} & set(classes)
    expect(page.locator("svg.timeline rect.alert-bar.firing")).to_have_count(3)


def test_timeline_draws_at_most_the_cap(page: Page, live_server: LiveServer) -> None:
    """A storm on one device: the timeline stops at the cap and says so, the table does not."""
    live_server.runtime.import_topology([Node("core", "device", "core")], [], "test")
    now = time.time()
    storm = MAX_TIMELINE_ROWS + 10
    ingest(live_server.runtime, [alert(f"storm-{i}", "core", now - 100 + i, f"CHECK_{i:03d}")
                                 for i in range(storm)])
    incidents = api(page, live_server, "/incidents")["incidents"]
    assert [inc["alert_count"] for inc in incidents] == [storm]

    page.goto(f"{live_server.url}/incidents/{incidents[0]['id']}")
    expect(page.locator("svg.timeline rect.alert-bar")).to_have_count(MAX_TIMELINE_ROWS)
    expect(page.locator("#timeline-card .note")).to_have_text("10 more alerts not drawn.")
    expect(page.locator("#alerts tbody tr.alert-row")).to_have_count(storm)


def test_the_open_list_pages_past_its_first_rows(page: Page, live_server: LiveServer) -> None:
    """205 open incidents: the table stopped at 200 with nothing saying so, and the
    five oldest (the start of the outage) could not be reached from the page."""
    names = [f"dev-{i:03d}" for i in range(205)]
    live_server.runtime.import_topology([Node(n, "device", n) for n in names], [], "test")
    now = time.time()
    ingest(live_server.runtime, [alert(f"o-{i:03d}", n, now - 86_400 + 400 * i,
                                       f"CHECK_{i:03d}") for i, n in enumerate(names)])
    everything = api(page, live_server, "/incidents?status=open&limit=1000")["incidents"]
    assert len(everything) == 205

    page.goto(live_server.url + "/")
    expect(page.locator("#open-incidents tr.incident-row")).to_have_count(200)
    expect(page.locator("#open-incidents-pager")).to_have_text(
        "1–200 of 205, newest first · older")
    page.locator("#open-incidents-pager a[rel=next]").click()
    page.wait_for_url("**/?open_offset=200")
    assert row_ids(page, "open-incidents") == [inc["id"] for inc in everything[200:]]
    expect(page.locator("#open-incidents-pager")).to_have_text(
        "201–205 of 205, newest first · newer")
    page.locator("#open-incidents-pager a[rel=prev]").click()
    page.wait_for_url(live_server.url + "/")
    assert row_ids(page, "open-incidents") == [inc["id"] for inc in everything[:200]]

    response = page.goto(live_server.url + "/?open_offset=-3")
    assert response is not None and response.status == 400
    expect(page.locator("#not-found-message")).to_have_text(
        "query parameter 'open_offset' must be a whole number of rows from 0 to 999999999, "
        "got '-3'")


LONG_NAME = "core-router-" + "x" * 150 + ".datacenter.example.net"
HOSTILE = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>'


def test_long_and_hostile_names_stay_text_inside_the_page(page: Page,
                                                          live_server: LiveServer) -> None:
    """Device names and alert text come from syslog and webhooks: a 170-character name
    without a space pushed the title, the root-cause list and both tables past the
    right edge of the window; markup in them must stay text."""
    names = ["hub", LONG_NAME, HOSTILE, "leaf"]
    live_server.runtime.import_topology([Node(n, "device", n) for n in names],
                                        [Edge("hub", n) for n in names[1:]], "test")
    now = time.time()
    raw = [alert(f"a{i}", n, now - 60 + i, HOSTILE if i == 1 else "LINK_DOWN")
           for i, n in enumerate(names[1:])]
    raw[0]["summary"] = "y" * 400
    ingest(live_server.runtime, raw)
    incidents = api(page, live_server, "/incidents")["incidents"]
    assert sum(inc["alert_count"] for inc in incidents) == 3, incidents
    # The incident holding alert a0, on the long name (the name may also stand among
    # another incident's candidates: the ranking proposes silent neighbours there).
    (incident,) = [inc for inc in incidents
                   if any(a["id"] == "a0" for a in api(page, live_server,
                                                       f"/incidents/{inc['id']}")["alerts"])]
    for url in ("/", f"/incidents/{incident['id']}"):
        page.goto(live_server.url + url)
        expect(page.locator("h1")).to_be_visible()
        assert page.evaluate("window.pwned") is None
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{url}: {overflow}px past the right edge"
    expect(page.locator(f"#root-causes li[data-entity='{LONG_NAME}'] strong")).to_have_text(
        LONG_NAME)
    expect(page.locator("#alerts tbody tr[data-alert-id='a0'] td").nth(8)).to_have_text(
        "y" * 400)


def test_a_bidi_override_in_a_name_is_shown_not_obeyed(page: Page,
                                                       live_server: LiveServer) -> None:
    """A device named with an unpaired right-to-left override (U+202E) reversed the
    rest of its line: the other names of the incident's title, the root cause's score."""
    spoof = "\u202eevil"
    names = ["hub", spoof, "ne-22", "ne-23"]
    edges = [Edge("hub", n) for n in names[1:]] + [Edge(spoof, "ne-22"), Edge("ne-22", "ne-23")]
    live_server.runtime.import_topology([Node(n, "device", n) for n in names], edges, "test")
    now = time.time()
    ingest(live_server.runtime, [alert(f"a{i}", n, now - 60 + 2 * i)
                                 for i, n in enumerate(names[1:])])
    (incident,) = api(page, live_server, "/incidents")["incidents"]
    assert spoof in incident["title"]  # the API keeps the text as it came
    shown = "⟨U+202E⟩evil"
    page.goto(live_server.url + "/")
    expect(page.locator("#open-incidents tr.incident-row td").nth(5)).to_have_text(
        incident["title"].replace(spoof, shown))
    page.goto(f"{live_server.url}/incidents/{incident['id']}")
    expect(page.locator("#incident-title")).to_contain_text(shown)
    expect(page.locator(f"#root-causes li[data-entity='{spoof}'] strong")).to_have_text(shown)
    expect(page.locator("#alerts tr[data-alert-id='a0'] td").nth(6)).to_have_text(shown)
    expect(page.locator("#alerts tr[data-alert-id='a0'] td").nth(8)).to_have_text(
        f"LINK_DOWN on {shown}")
    assert shown in page.locator("svg.timeline").inner_html()
    assert not page.evaluate("document.body.innerText.includes('\\u202e')")
