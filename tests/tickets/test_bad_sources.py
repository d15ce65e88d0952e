"""Ticket systems that fail: clear errors naming what was wrong, and nothing half-stored."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from connectors.rt import RTConnector
from connectors.servicenow import ServiceNowConnector
from connectors.ticket_http import TicketSourceError
from tests.conftest import free_port
from tests.tickets.fake_itsm import DROP, Request, fake_server, reply
from tests.tickets.payloads import sn_incident

SN_PATH = "/api/now/table/incident"


def pull_sn(url: str, **kwargs) -> list:
    return ServiceNowConnector(url, user="u", password="p", timeout=2.0, **kwargs).pull()


@pytest.mark.parametrize(("status", "words"), [
    (401, "HTTP 401: authentication failed: check the user name and password or the token"),
    (403, "HTTP 403: permission denied"),
    (404, "HTTP 404: not found: check the base URL"),
    (500, "HTTP 500: the server refused the request"),
])
def test_http_errors_name_the_system_url_and_cause(status: int, words: str) -> None:
    body = {"error": {"message": "User Not Authenticated", "detail": "Required to provide Auth"}}
    with fake_server({SN_PATH: lambda r: reply(status, body)}) as server, \
            pytest.raises(TicketSourceError) as err:
        pull_sn(server.url)
    message = str(err.value)
    assert message.startswith(f"ServiceNow {server.url}{SN_PATH} (offset 0): ")
    assert words in message and "server says: User Not Authenticated" in message


def test_malformed_json_and_html_are_refused() -> None:
    with fake_server({SN_PATH: lambda r: reply(200, b'{"result": [', "application/json")}
                     ) as server, pytest.raises(TicketSourceError,
                                                match="not valid JSON .* at character 12"):
        pull_sn(server.url)
    html = b"<html><body>Instance hibernating</body></html>"
    with fake_server({SN_PATH: lambda r: reply(200, html, "text/html")}) as server, \
            pytest.raises(TicketSourceError, match="Content-Type text/html"):
        pull_sn(server.url)


def test_json_nested_too_deeply_is_refused() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    with fake_server({SN_PATH: lambda r: reply(200, deep)}) as server, \
            pytest.raises(TicketSourceError, match=r"\(offset 0\): the answer is not valid "
                                                   r"JSON \(nested too deeply\)"):
        pull_sn(server.url)
    with fake_server({SN_PATH: lambda r: reply(500, deep)}) as server, \
            pytest.raises(TicketSourceError, match=r"HTTP 500: the server refused the request$"):
        pull_sn(server.url)


def test_wrong_shape_is_refused() -> None:
    with fake_server({SN_PATH: lambda r: {"records": []}}) as server, \
            pytest.raises(TicketSourceError, match="expected an object with a 'result' array"):
        pull_sn(server.url)


def test_server_gone_mid_pagination() -> None:
    def handler(request: Request):
        if request.query["sysparm_offset"] == "0":
            return {"result": [sn_incident(1), sn_incident(2)]}
        return DROP

    with fake_server({SN_PATH: handler}) as server, \
            pytest.raises(TicketSourceError,
                          match=r"\(offset 2\): cannot connect or connection lost"):
        pull_sn(server.url, page_size=2)


def test_nothing_listening_and_slow_server() -> None:
    with pytest.raises(TicketSourceError, match="cannot connect"):
        pull_sn(f"http://127.0.0.1:{free_port()}")

    def slow(request: Request):
        time.sleep(1.5)
        return {"result": []}

    with fake_server({SN_PATH: slow}) as server, \
            pytest.raises(TicketSourceError, match="no answer within 0.5 s"):
        ServiceNowConnector(server.url, timeout=0.5).pull()


def test_huge_page_is_refused_before_it_is_read_whole() -> None:
    records = [sn_incident(i % 50 + 1) for i in range(200)]
    with fake_server({SN_PATH: lambda r: {"result": records}}) as server, \
            pytest.raises(TicketSourceError, match="over the limit of 10,000; lower the page"):
        pull_sn(server.url, max_bytes=10_000)


def test_too_many_tickets_and_bad_url() -> None:
    def handler(request: Request):
        offset = int(request.query["sysparm_offset"])
        return {"result": [sn_incident(offset + 1), sn_incident(offset + 2)]}

    with fake_server({SN_PATH: handler}) as server, \
            pytest.raises(TicketSourceError, match="more than 3 tickets match"):
        pull_sn(server.url, page_size=2, max_tickets=3)
    with pytest.raises(TicketSourceError, match="must start with http"):
        ServiceNowConnector("example.service-now.com")


def test_rt_search_without_items_is_refused() -> None:
    with fake_server({"/REST/2.0/tickets": lambda r: {"count": 0}}) as server, \
            pytest.raises(TicketSourceError, match="expected an object with an 'items' array"):
        RTConnector(server.url, user="root", password="password").pull()


def aiops(data_dir: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "aiops", "--data-dir", str(data_dir), *args],
                          capture_output=True, text=True, timeout=120, env=env)


def test_cli_pull_failing_mid_way_stores_nothing(tmp_path: Path) -> None:
    calls = {"n": 0}

    def handler(request: Request):
        calls["n"] += 1
        if request.query["sysparm_offset"] == "0":
            return {"result": [sn_incident(1), sn_incident(2)]}
        return reply(401, {"error": {"message": "session expired"}})

    data = tmp_path / "d"
    with fake_server({SN_PATH: handler}) as server:
        r = aiops(data, "tickets", "pull", "servicenow", server.url, "--user", "u",
                  "--password", "p", "--page-size", "2")
    assert r.returncode == 1
    assert "HTTP 401" in r.stderr and "(offset 2)" in r.stderr and "Traceback" not in r.stderr
    r = aiops(data, "tickets", "list", "--json")
    assert r.returncode == 0 and r.stdout == ""


def test_cli_pull_stores_and_is_idempotent(tmp_path: Path) -> None:
    records = [sn_incident(i) for i in range(1, 4)]
    data = tmp_path / "d"
    with fake_server({SN_PATH: lambda r: {"result": records}}) as server:
        env = {**__import__("os").environ, "AIOPS_TICKETS_TOKEN": "secret"}
        first = aiops(data, "tickets", "pull", "servicenow", server.url, env=env)
        again = aiops(data, "tickets", "pull", "servicenow", server.url, env=env)
        auth = server.requests[0].headers["authorization"]
    assert first.returncode == 0, first.stderr
    assert "pulled 3 tickets from servicenow: 3 new, 0 updated" in first.stdout
    assert "3 updated" in again.stdout and auth == "Bearer secret"
    listed = [json.loads(line) for line in aiops(data, "tickets", "list", "--json")
              .stdout.splitlines()]
    assert sorted(t["id"] for t in listed) == ["INC0010001", "INC0010002", "INC0010003"]


def test_credentials_in_the_url_authenticate_but_are_never_printed(tmp_path: Path) -> None:
    """requests authenticates with ``user:password@`` in a URL; error messages and the
    CLI's output name the URL, and must not carry the password with it."""
    with fake_server({SN_PATH: lambda r: reply(401, {"error": {"message": "no"}})}) as server:
        url = server.url.replace("http://", "http://admin:s3cr%40t@")
        with pytest.raises(TicketSourceError) as err:
            ServiceNowConnector(url).pull()
        auth = server.requests[0].headers["authorization"]
    assert auth == "Basic " + base64.b64encode(b"admin:s3cr@t").decode()
    assert "s3cr" not in str(err.value) and "admin" not in str(err.value)
    assert str(err.value).startswith(f"ServiceNow {server.url}{SN_PATH} (offset 0): HTTP 401")
    with pytest.raises(TicketSourceError) as err:
        pull_sn(f"http://admin:s3cret@127.0.0.1:{free_port()}")
    assert "s3cret" not in str(err.value)
    with fake_server({SN_PATH: lambda r: {"result": []}}) as server:
        r = aiops(tmp_path / "d", "tickets", "pull", "servicenow",
                  server.url.replace("http://", "http://admin:s3cret@"))
    assert r.returncode == 0, r.stderr
    assert "s3cret" not in r.stdout + r.stderr and "no tickets matched" in r.stdout


def test_an_answer_no_store_can_take_is_refused_naming_the_fault() -> None:
    """A lone surrogate escape is valid JSON but no text (the ticket store failed on it
    with a traceback); a 5,000-digit number was a ValueError traceback."""
    sur = b'{"result": [{"number": "INC1", "short_description": "bad \\ud800"}]}'
    with fake_server({SN_PATH: lambda r: reply(200, sur)}) as server, \
            pytest.raises(TicketSourceError, match=r"not valid JSON \(string at "
                                                   r"result\[0\]\.short_description holds"):
        pull_sn(server.url)
    big = b'{"result": [], "n": ' + b"1" * 5000 + b"}"
    with fake_server({SN_PATH: lambda r: reply(200, big)}) as server, \
            pytest.raises(TicketSourceError, match=r"a number with more than \d+ digits"):
        pull_sn(server.url)
