"""The RT connector against a real Request Tracker 5: tickets made through REST2, pulled back."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from connectors.rt import RTConnector
from connectors.ticket_http import TicketSourceError
from tests.conftest import free_port
from tests.tickets.rt_server import AUTH, SERVICE_AUTH, rt_available, rt_server

pytestmark = pytest.mark.skipif(rt_available() is not None, reason=str(rt_available()))


def rest(url: str, method: str, path: str, body: dict | None = None) -> object:
    response = requests.request(method, f"{url}/REST/2.0/{path}", json=body, auth=AUTH,
                                timeout=30)
    assert response.ok, response.text
    return response.json()


@pytest.fixture(scope="module")
def rt(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with rt_server(tmp_path_factory.mktemp("rt"), free_port()) as url:
        psu = rest(url, "POST", "ticket", {
            "Queue": "General", "Subject": "Power failure at ne-12",
            "Content": "PSU alarm on ne-12; neighbours report LINK_DOWN",
            "ContentType": "text/plain",
            "CustomFields": {"Entity": "ne-12", "Root Cause": "failed power supply",
                             "Alert IDs": ["a1", "a2"]}})["id"]
        rest(url, "POST", f"ticket/{psu}/comment",
             {"Content": "Checked the rack, PSU 2 dead", "ContentType": "text/plain"})
        rest(url, "POST", f"ticket/{psu}/correspond",
             {"Content": "Replaced the failed PSU", "ContentType": "text/plain"})
        rest(url, "PUT", f"ticket/{psu}", {"Status": "resolved"})
        still_open = rest(url, "POST", "ticket", {"Queue": "General", "Subject": "Open one",
                                                  "Content": "not done"})["id"]
        fibre = rest(url, "POST", "ticket", {
            "Queue": "General", "Subject": "Uplink flapping on ne-07",
            "Content": "CRC errors", "ContentType": "text/plain",
            "CustomFields": {"Entity": "ne-07"}})["id"]
        rest(url, "POST", f"ticket/{fibre}/comment",
             {"Content": "Cleaned the fibre connectors", "ContentType": "text/plain",
              "Status": "resolved"})
        assert still_open
        yield url


def test_pull_resolved_tickets_from_real_rt(rt: str) -> None:
    tickets = RTConnector(rt, user=AUTH[0], password=AUTH[1], page_size=1).pull()
    by_title = {t.title: t for t in tickets}
    assert sorted(by_title) == ["Power failure at ne-12", "Uplink flapping on ne-07"]
    psu = by_title["Power failure at ne-12"]
    assert psu.id.startswith("rt-") and psu.entity == "ne-12"
    assert psu.description == "PSU alarm on ne-12; neighbours report LINK_DOWN"
    assert psu.resolution == "Replaced the failed PSU"  # the last correspondence
    assert psu.root_cause == "failed power supply" and sorted(psu.alert_ids) == ["a1", "a2"]
    assert psu.resolved_at is not None and psu.resolved_at >= psu.opened_at
    assert psu.labels["status"] == "resolved" and psu.labels["system"] == "rt"
    fibre = by_title["Uplink flapping on ne-07"]
    assert fibre.resolution == "Cleaned the fibre connectors" and fibre.alert_ids == []


def test_pull_as_a_service_account_reads_every_page(rt: str) -> None:
    """RT hides the totals of history and attachments (null ``pages``, no
    ``next_page``) from anyone but a superuser; the whole history must still be read."""
    psu = requests.get(f"{rt}/REST/2.0/tickets", auth=AUTH, timeout=30, params={
        "query": "Subject = 'Power failure at ne-12'"}).json()["items"][0]["id"]
    history = requests.get(f"{rt}/REST/2.0/ticket/{psu}/history", auth=SERVICE_AUTH,
                           timeout=30, params={"per_page": 1}).json()
    assert history["pages"] is None and "next_page" not in history  # what RT sends it
    tickets = RTConnector(rt, user=SERVICE_AUTH[0], password=SERVICE_AUTH[1],
                          page_size=1).pull()
    by_title = {t.title: t for t in tickets}
    assert sorted(by_title) == ["Power failure at ne-12", "Uplink flapping on ne-07"]
    psu = by_title["Power failure at ne-12"]
    assert psu.resolution == "Replaced the failed PSU" and psu.entity == "ne-12"
    assert psu.description == "PSU alarm on ne-12; neighbours report LINK_DOWN"


def test_wrong_password_and_query(rt: str) -> None:
    with pytest.raises(TicketSourceError, match="HTTP 401: authentication failed"):
        RTConnector(rt, user="root", password="wrong").pull()
    with pytest.raises(TicketSourceError, match="RT .*search, page 1"):
        RTConnector(rt, user="root", password="password", query="Nonsense ==== 'x").pull()


def test_cli_pulls_rt_into_the_data_dir(rt: str, tmp_path: Path) -> None:
    run = [sys.executable, "-m", "aiops", "--data-dir", str(tmp_path / "d")]
    r = subprocess.run([*run, "tickets", "pull", "rt", rt, "--user", "root", "--password",
                        "password"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "pulled 2 tickets from rt: 2 new" in r.stdout
