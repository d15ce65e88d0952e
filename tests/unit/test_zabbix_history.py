"""``aiops zabbix history`` (aiops/zabbix_history.py): its arguments, and a Zabbix that
goes away part-way, against a local JSON-RPC server that answers the first page and
then closes the connection. The real Zabbix is in tests/integration/test_zabbix_real.py;
the events here have the shape it answered there."""

from __future__ import annotations

import fcntl
import json
import threading
import time
from collections.abc import Iterator
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
    which, while ``going``, answers the first page of a listing and closes the
    connection at the second (``stalling``: first holds it open, says so by
    ``stalled``, until ``released``); each listing's (eventid_from, time_from,
    time_till)."""

    listings: list[tuple[str, str, str]] = []
    going = True
    stalling = False
    stalled = threading.Event()
    released = threading.Event()

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        params = body["params"]
        if body["method"] == "apiinfo.version":
            result: Any = "6.0.14"
        elif "eventid_from" in params:
            self.listings.append((params["eventid_from"], params["time_from"],
                                  params["time_till"]))
            if self.going and len(self.listings) > 1:  # the server goes away mid-pull
                if self.stalling:
                    self.stalled.set()
                    self.released.wait(60)
                self.close_connection = True
                self.connection.close()
                return
            result = [{"eventid": str(e)} for e in (10, 12, 14, 16)
                      if e >= int(params["eventid_from"])][:params["limit"]]
        elif params.get("output") == "extend":
            result = [_event(int(e)) for e in params["eventids"]]
        else:
            result = [{"eventid": e, "clock": str(1_795_374_000 + int(e))}
                      for e in params["eventids"]]
        _reply(self, result)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def goes_away() -> Iterator[str]:
    """The URL of a ``_GoesAway`` that goes away at its second listing."""
    _GoesAway.listings, _GoesAway.going, _GoesAway.stalling = [], True, False
    _GoesAway.stalled, _GoesAway.released = threading.Event(), threading.Event()
    with serving(_GoesAway) as url:
        try:
            yield url
        finally:
            _GoesAway.released.set()


SPAN = ("--since", "2026-11-22", "--until", "2026-11-24", "--page-size", "2")
# The span's ends as Zabbix is asked them (time_from, time_till).
ASKED = ("1795305600", "1795478400")


def _stopped(tmp_path: Path, url: str, *span: str) -> Path:
    """A pull to tmp_path/alerts.jsonl stopped after its first page; its output."""
    out = tmp_path / "alerts.jsonl"
    result = _history(tmp_path, url, *span, "--out", str(out))
    assert result.exit_code == 1, result.output
    return out


def test_a_server_that_goes_away_mid_pull_keeps_the_page_written_for_resume(
        tmp_path: Path, goes_away: str) -> None:
    url = goes_away
    out = tmp_path / "alerts.jsonl"
    out.write_text("the file of an earlier pull\n")
    result = _history(tmp_path, url, *SPAN, "--out", str(out))
    assert [listed for listed, *_ in _GoesAway.listings] == ["1", "13"]  # after event 12
    assert result.exit_code == 1, result.output
    (error,) = [line for line in result.output.splitlines() if "error" in line]
    assert error.startswith(f"aiops: error: {url}: ConnectionError"), error
    assert error.endswith("; 2 alerts written (0 still open), up to 2026-11-22T19:00:12Z "
                          f"before it stopped; {out} not written; kept in {out}.partial: "
                          "the same command with --resume continues it"), error
    assert "aiops: zabbix history: 2 alerts written" in result.output  # the progress line
    assert out.read_text() == "the file of an earlier pull\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "alerts.jsonl", "alerts.jsonl.checkpoint", "alerts.jsonl.partial", "token"]
    assert [json.loads(line)["id"] for line in Path(f"{out}.partial").read_text(
        ).splitlines()] == ["zabbix-10-1", "zabbix-12-1"]
    checkpoint = json.loads(Path(f"{out}.checkpoint").read_text())
    assert (checkpoint["span"]["url"], checkpoint["span"]["since"], checkpoint["span"]["until"],
            checkpoint["after"], checkpoint["written"]) == (url, *map(int, ASKED), 12, 2)


def _uninterrupted(tmp_path: Path, url: str, *span: str) -> bytes:
    """The file a pull of ``span`` that does not stop writes."""
    whole = tmp_path / "whole" / "alerts.jsonl"
    whole.parent.mkdir()
    result = _history(tmp_path, url, *span, "--out", str(whole))
    assert result.exit_code == 0, result.output
    return whole.read_bytes()


def test_resume_continues_after_the_last_page_into_the_file_of_an_uninterrupted_pull(
        tmp_path: Path, goes_away: str) -> None:
    out = _stopped(tmp_path, goes_away, *SPAN)
    _GoesAway.going, _GoesAway.listings = False, []
    # A larger page on resume: the file does not depend on it.
    result = _history(tmp_path, goes_away, *SPAN[:4], "--out", str(out), "--resume")
    assert result.exit_code == 0, result.output
    assert _GoesAway.listings == [("13", *ASKED)]  # after event 12, not again from 1
    assert "4 alerts (0 still open, 0 events skipped)" in result.output
    assert "; 1 pages in " in result.output and "; resumed after 2 events" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alerts.jsonl", "token"]
    assert out.read_bytes() == _uninterrupted(tmp_path, goes_away, *SPAN)
    assert [json.loads(line)["id"] for line in out.read_text().splitlines()] == [
        "zabbix-10-1", "zabbix-12-1", "zabbix-14-1", "zabbix-16-1"]


def test_resume_after_a_page_half_written_writes_that_page_again(
        tmp_path: Path, goes_away: str) -> None:
    """Killed while writing a page: its lines are in the partial file, its checkpoint
    not; the resumed pull cuts them and writes the page again, once."""
    out = _stopped(tmp_path, goes_away, *SPAN)
    partial = Path(f"{out}.partial")
    with partial.open("a") as handle:
        handle.write('{"id": "zabbix-14-1", "half')
    _GoesAway.going = False
    result = _history(tmp_path, goes_away, *SPAN, "--out", str(out), "--resume")
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == _uninterrupted(tmp_path, goes_away, *SPAN)


def test_resume_keeps_the_span_of_a_relative_since(tmp_path: Path, goes_away: str) -> None:
    """``--since 3d`` is another moment a second later: the resumed pull asks the
    first run's span."""
    out = _stopped(tmp_path, goes_away, "--since", "3d", "--page-size", "2")
    first = _GoesAway.listings[0][1:]
    time.sleep(1.1)
    _GoesAway.going, _GoesAway.listings = False, []
    result = _history(tmp_path, goes_away, "--since", "3d", "--page-size", "2",
                      "--out", str(out), "--resume")
    assert result.exit_code == 0, result.output
    assert [asked for _, *asked in _GoesAway.listings] == [list(first)] * 2


@pytest.mark.parametrize("change, message", [
    (lambda url: ("--url", url.replace("127.0.0.1", "localhost")),
     "--url http://localhost:"),
    (lambda url: ("--since", "2026-11-21"), "--since 2026-11-21T00:00:00Z, not its "
     "2026-11-22T00:00:00Z"),
    (lambda url: ("--until", "2026-11-23T12:00:00Z"), "--until 2026-11-23T12:00:00Z, "
     "not its 2026-11-24T00:00:00Z"),
])
def test_resume_of_another_url_or_span_exits_2_naming_what_differs(
        tmp_path: Path, goes_away: str, change: Any, message: str) -> None:
    out = _stopped(tmp_path, goes_away, *SPAN)
    _GoesAway.going, _GoesAway.listings = False, []
    args = dict(zip(("--url", *SPAN[::2]), (goes_away, *SPAN[1::2]), strict=True))
    args.update(dict([change(goes_away)]))
    token = tmp_path / "token"
    result = CliRunner().invoke(main, ["--data-dir", str(tmp_path / "data"), "zabbix",
                                       "history", "--token-file", str(token),
                                       *[x for pair in args.items() for x in pair],
                                       "--out", str(out), "--resume"])
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"aiops: error: --resume: {out}.checkpoint is of "
                                    "another pull: "), result.output
    assert message in result.output
    assert _GoesAway.listings == []  # refused before any listing
    assert Path(f"{out}.partial").exists() and not out.exists()


def test_resume_with_another_mapping_exits_2(tmp_path: Path, goes_away: str) -> None:
    out = _stopped(tmp_path, goes_away, *SPAN)
    webhooks = tmp_path / "data" / "webhooks"
    webhooks.mkdir(parents=True)
    (webhooks / "zabbix.yml").write_bytes(
        (Path(__file__).parents[2] / "connectors" / "webhook_presets" / "zabbix.yml")
        .read_bytes())
    result = _history(tmp_path, goes_away, *SPAN, "--out", str(out), "--resume")
    assert result.exit_code == 2, result.output
    assert f"the zabbix mapping {webhooks / 'zabbix.yml'} (" in result.output
    assert ", not its built-in (" in result.output


@pytest.mark.parametrize("text, message", [
    ("{not json", "cannot be read (Expecting property name"),
    ('{"version": 1, "span": {"url": "x"}}', "is not one ("),
    ('{"version": 1, "span": {"url": "x", "since": 0, "until": 1, "mapping": "m"}, '
     '"after": "12", "size": 0, "written": 0, "still_open": 0, "skipped": 0, '
     '"pages": 1, "reached": null}', "is not one (a field of the wrong type)"),
])
def test_a_corrupt_checkpoint_exits_2_naming_the_file(
        tmp_path: Path, goes_away: str, text: str, message: str) -> None:
    out = _stopped(tmp_path, goes_away, *SPAN)
    Path(f"{out}.checkpoint").write_text(text)
    result = _history(tmp_path, goes_away, *SPAN, "--out", str(out), "--resume")
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"aiops: error: --resume: the checkpoint "
                                    f"{out}.checkpoint {message}"), result.output
    assert "run without --resume to pull the span again" in result.output


def test_resume_with_nothing_to_resume_exits_2(tmp_path: Path, goes_away: str) -> None:
    out = tmp_path / "alerts.jsonl"
    result = _history(tmp_path, goes_away, *SPAN, "--out", str(out), "--resume")
    assert result.exit_code == 2, result.output
    assert f"--resume: no checkpoint {out}.checkpoint" in result.output
    assert _GoesAway.listings == []


def test_without_resume_a_stopped_pull_is_replaced_and_said(
        tmp_path: Path, goes_away: str) -> None:
    out = _stopped(tmp_path, goes_away, *SPAN)
    _GoesAway.going, _GoesAway.listings = False, []
    result = _history(tmp_path, goes_away, *SPAN, "--out", str(out))
    assert result.exit_code == 0, result.output
    assert (f"aiops: zabbix history: replacing the stopped pull in {out}.partial "
            "(--resume would have continued it)") in result.output
    assert [listed for listed, *_ in _GoesAway.listings] == ["1", "13", "17"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alerts.jsonl", "token"]
    assert out.read_bytes() == _uninterrupted(tmp_path, goes_away, *SPAN)


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


def test_resume_without_its_partial_file_exits_2(tmp_path: Path, goes_away: str) -> None:
    out = _stopped(tmp_path, goes_away, *SPAN)
    Path(f"{out}.partial").unlink()
    _GoesAway.listings = []
    result = _history(tmp_path, goes_away, *SPAN, "--out", str(out), "--resume")
    assert result.exit_code == 2, result.output
    assert f"--resume: no partial file {out}.partial beside its checkpoint" in result.output
    assert _GoesAway.listings == []


def test_a_second_pull_to_the_same_out_exits_2(tmp_path: Path, goes_away: str) -> None:
    """Two pulls appending to one partial file would interleave their lines."""
    out = tmp_path / "alerts.jsonl"
    with Path(f"{out}.partial").open("a") as running:
        fcntl.flock(running, fcntl.LOCK_EX)  # as a pull that is running holds it
        result = _history(tmp_path, goes_away, *SPAN, "--out", str(out))
    assert result.exit_code == 2, result.output
    assert (f"{out}.partial is being written by another pull of the same --out"
            in result.output)
    assert _GoesAway.listings == [] and not out.exists()
