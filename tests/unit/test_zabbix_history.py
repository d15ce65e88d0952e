"""``aiops zabbix history`` (aiops/zabbix_history.py): its arguments, and a Zabbix that
goes away part-way, against a local JSON-RPC server that answers the first page and
then closes the connection. The real Zabbix is in tests/integration/test_zabbix_real.py;
the events here have the shape it answered there."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from aiops.cli import main
from aiops.errors import InputError
from aiops.zabbix_history import parse_moment
from tests.http_server import serving

NOW = 1_795_400_000.0


@pytest.mark.parametrize("text, expected", [
    ("30d", NOW - 30 * 86400), ("12h", NOW - 12 * 3600), ("90m", NOW - 5400),
    ("2026-11-23", 1_795_392_000.0), ("2026-11-23T08:00:00+01:00", 1_795_417_200.0),
    ("100000d", 0.0),
])
def test_since_reads_a_duration_back_a_date_or_a_time(text: str, expected: float) -> None:
    assert parse_moment(text, "since", NOW) == expected


@pytest.mark.parametrize("text, message", [
    ("yesterday", "neither a duration"), ("3600", "bare number"), ("0d", "duration"),
    ("2026-13-01", "neither a duration"),
])
def test_an_unreadable_moment_is_refused_by_name(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_moment(text, "since", NOW)


def _history(tmp_path: Path, url: str, *args: str) -> Any:
    token = tmp_path / "token"
    token.write_text("t")
    return CliRunner().invoke(main, ["--data-dir", str(tmp_path / "data"), "zabbix",
                                     "history", "--url", url, "--token-file", str(token),
                                     *args])


@pytest.mark.parametrize("args, message", [
    (["--since", "last week"], "--since 'last week' is neither a duration"),
    (["--since", "1d", "--until", "2d"], "--until '2d' is before --since '1d'"),
    (["--since", "2026-02-01", "--until", "2026-01-01"], "is before --since"),
    (["--since", "1d", "--out", "/no/such/dir/alerts.jsonl"], "no directory /no/such/dir"),
])
def test_bad_arguments_exit_2_naming_them_before_any_call(
        tmp_path: Path, args: list[str], message: str) -> None:
    out = ["--out", str(tmp_path / "alerts.jsonl")] if "--out" not in args else []
    # Port 9 (discard): nothing answers there; a call would fail with exit 1.
    result = _history(tmp_path, "http://127.0.0.1:9/api_jsonrpc.php", *args, *out)
    assert result.exit_code == 2, result.output
    assert result.output.startswith("aiops: error: ") and message in result.output
    assert not (tmp_path / "alerts.jsonl").exists()


def _event(eventid: int) -> dict[str, Any]:
    return {"eventid": str(eventid), "source": "0", "object": "0", "objectid": "23133",
            "clock": str(1_795_374_000 + eventid), "value": "1", "name": "Link 0 down",
            "severity": "4", "r_eventid": str(eventid + 1), "opdata": "state 0",
            "acknowledged": "0", "suppressed": "0", "suppression_data": [],
            "hosts": [{"hostid": "10559", "host": "sw-1"}],
            "relatedObject": {"triggerid": "23133", "description": "Link down"},
            "tags": []}


def _reply(handler: BaseHTTPRequestHandler, result: Any) -> None:
    """Answer a JSON-RPC call with ``result``."""
    data = json.dumps({"jsonrpc": "2.0", "id": 1, "result": result}).encode()
    handler.send_response(200)
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


class _GoesAway(BaseHTTPRequestHandler):
    """Zabbix 6.0 with problem events 10, 12, 14, 16 (each recovered by the next id),
    which answers the first page of a listing and closes the connection at the second."""

    listings: list[str] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        params = body["params"]
        if body["method"] == "apiinfo.version":
            result: Any = "6.0.14"
        elif "eventid_from" in params:
            self.listings.append(params["eventid_from"])
            if len(self.listings) > 1:  # the server goes away mid-pull
                self.close_connection = True
                self.connection.close()
                return
            result = [{"eventid": "10"}, {"eventid": "12"}]
        elif params.get("output") == "extend":
            result = [_event(int(e)) for e in params["eventids"]]
        else:
            result = [{"eventid": e, "clock": str(1_795_374_000 + int(e))}
                      for e in params["eventids"]]
        _reply(self, result)

    def log_message(self, *args: Any) -> None:
        pass


def test_a_server_that_goes_away_mid_pull_leaves_no_file_and_says_what_was_pulled(
        tmp_path: Path) -> None:
    out = tmp_path / "alerts.jsonl"
    out.write_text("the file of an earlier pull\n")
    _GoesAway.listings = []
    with serving(_GoesAway) as url:
        result = _history(tmp_path, url, "--since", "2026-11-22", "--until", "2026-11-24",
                          "--out", str(out), "--page-size", "2")
    assert _GoesAway.listings == ["1", "13"]  # the second page, after event 12
    assert result.exit_code == 1, result.output
    (error,) = [line for line in result.output.splitlines() if "error" in line]
    assert error.startswith(f"aiops: error: {url}: ConnectionError"), error
    assert error.endswith("; 2 alerts written (0 still open), up to 2026-11-22T19:00:12Z "
                          f"before it stopped; {out} not written"), error
    assert "aiops: zabbix history: 2 alerts written" in result.output  # the progress line
    assert out.read_text() == "the file of an earlier pull\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alerts.jsonl", "token"]


def test_a_server_that_does_not_answer_exits_1_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "alerts.jsonl"
    result = _history(tmp_path, "http://127.0.0.1:9/api_jsonrpc.php", "--since", "1d",
                      "--out", str(out))
    assert result.exit_code == 1, result.output
    assert result.output.startswith("aiops: error: http://127.0.0.1:9/api_jsonrpc.php: "
                                    "ConnectionError"), result.output
    assert f"; 0 alerts written (0 still open) before it stopped; {out} not written" \
        in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["token"]


class _InMaintenance(BaseHTTPRequestHandler):
    """Zabbix 6.0 with one open problem, 20, suppressed by maintenance 3: as Zabbix, it
    says which maintenance only to a call that asks ``selectSuppressionData``."""

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        params = body["params"]
        if body["method"] == "apiinfo.version":
            result: Any = "6.0.14"
        elif "eventid_from" in params:
            result = [{"eventid": "20"}] if params["eventid_from"] == "1" else []
        else:
            event = {**_event(20), "r_eventid": "0", "suppressed": "1"}
            del event["suppression_data"]
            if "selectSuppressionData" in params:
                event["suppression_data"] = [{"maintenanceid": "3", "suppress_until": "0"}]
            result = [event]
        _reply(self, result)

    def log_message(self, *args: Any) -> None:
        pass


def test_a_problem_in_a_maintenance_names_it_as_the_follower_does(tmp_path: Path) -> None:
    """The follower labels an open suppressed problem with its maintenances
    (``problem.get``'s suppression data); the history's ``event.get`` must ask for them
    too, or the same problem was two different alerts."""
    out = tmp_path / "alerts.jsonl"
    with serving(_InMaintenance) as url:
        result = _history(tmp_path, url, "--since", "2026-11-22", "--out", str(out))
    assert result.exit_code == 0, result.output
    (line,) = out.read_text().splitlines()
    alert = json.loads(line)
    assert (alert["ends_at"], alert["labels"]) == (None, {
        "trigger_id": "23133", "acknowledged": "false", "suppressed": "maintenance",
        "suppressed_by": "maintenance 3"})
