"""The filter form of the incident list in a real browser: it narrows both tables as
the API's filters do, says how many match, keeps the filters while paging, and
clears."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import LiveServer, load_demo
from tests.e2e.test_incident_view import alert, api, ingest, row_ids
from topology.model import Node

pytestmark = pytest.mark.browser

EXTRA = 55  # critical incidents, resolved: more than a page of the resolved table (50)


@pytest.fixture
def busy_server(live_server: LiveServer) -> LiveServer:
    """The demo, an alert firing now on ne-05, and 55 resolved critical incidents, each
    on a device of its own."""
    load_demo(live_server.runtime)
    now = time.time()
    ingest(live_server.runtime, [alert("e2e-open-1", "ne-05", now, "FAN_FAIL")])
    names = [f"pe-{i:02d}" for i in range(EXTRA)]
    live_server.runtime.import_topology([Node(n, "device", n) for n in names], [], "test")
    start = now - 20 * 3600
    ingest(live_server.runtime, [
        alert(f"sync-{i:02d}", n, start + 600 * i, "SYNC_LOST", "critical",
              end=start + 600 * i + 60) for i, n in enumerate(names)])
    return live_server


def listed(page: Page, server: LiveServer, status: str, limit: int, **filters: Any
           ) -> list[str]:
    query = urlencode({"status": status, "limit": limit, **filters})
    return [i["id"] for i in api(page, server, f"/incidents?{query}")["incidents"]]


def test_filter_by_entity_and_severity_page_and_clear(page: Page, busy_server: LiveServer,
                                                      tmp_path: Path) -> None:
    page.goto(busy_server.url + "/")
    expect(page.locator("#filter-matches")).to_have_count(0)
    everything = api(page, busy_server, "/incidents?limit=1")["total"]

    # an alias of a demo device: the rows are the API's for that entity, both tables
    page.fill("#filter-entity", "ne-05.demo.net")
    page.click("#filter-apply")
    page.wait_for_url("**/?*entity=ne-05.demo.net*")
    by_entity = {s: listed(page, busy_server, s, 200, entity="ne-05") for s in
                 ("open", "resolved")}
    assert by_entity["open"], "the open FAN_FAIL on ne-05 must be found by its alias"
    assert row_ids(page, "open-incidents") == by_entity["open"]
    assert row_ids(page, "resolved-incidents") == by_entity["resolved"]
    found = len(by_entity["open"]) + len(by_entity["resolved"])
    expect(page.locator("#filter-matches")).to_contain_text(
        f"{found} of {everything} open and resolved match")
    expect(page.locator("#filter-entity")).to_have_value("ne-05.demo.net")

    # critical only, anything: more than a page of resolved incidents
    page.fill("#filter-entity", "")
    page.select_option("#filter-severity", "critical")
    page.check("#filter-hide-acknowledged")
    page.click("#filter-apply")
    page.wait_for_url("**/?*severity=critical*")
    critical = listed(page, busy_server, "resolved", 1000, severity="critical",
                      acknowledged="false")
    assert len(critical) > 50
    assert row_ids(page, "resolved-incidents") == critical[:50]
    for severity in page.locator("#resolved-incidents .sev").all_inner_texts():
        assert severity == "critical"
    page.screenshot(path=str(tmp_path / "filtered.png"))  # to look at: --basetemp

    # the next page keeps the filters (and the form shows them)
    page.locator("#resolved-incidents-pager a[rel=next]").click()
    page.wait_for_url("**resolved_offset=50*")
    assert "severity=critical" in page.url and "acknowledged=false" in page.url
    assert row_ids(page, "resolved-incidents") == critical[50:]
    expect(page.locator("#resolved-incidents-pager")).to_have_text(
        f"51–{len(critical)} of {len(critical)}, newest first · newer")
    expect(page.locator("#filter-severity")).to_have_value("critical")
    expect(page.locator("#filter-hide-acknowledged")).to_be_checked()

    page.click("#filter-clear")
    page.wait_for_url(busy_server.url + "/")
    expect(page.locator("#filter-matches")).to_have_count(0)
    assert row_ids(page, "resolved-incidents") == listed(page, busy_server, "resolved", 50)

    # a link for only the acknowledged keeps asking that through the form
    page.goto(busy_server.url + "/?acknowledged=true")
    expect(page.locator("label", has=page.locator("#filter-hide-acknowledged"))).to_have_text(
        "only acknowledged")
    page.click("#filter-apply")
    page.wait_for_url("**/?*acknowledged=true*")
    assert row_ids(page, "open-incidents") == listed(page, busy_server, "open", 200,
                                                     acknowledged="true")

    response = page.goto(busy_server.url + "/?severity=urgent")
    assert response is not None and response.status == 400
    expect(page.locator("#not-found-message")).to_contain_text("query parameter 'severity'")

