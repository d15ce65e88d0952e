"""deploy/nagios/aiops-notify as Nagios runs it: what it sends for each kind of
notification, to a real HTTP server on localhost."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from tests.http_server import serving

SCRIPT = Path(__file__).resolve().parents[2] / "deploy/nagios/aiops-notify"


class Engine(BaseHTTPRequestHandler):
    bodies: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 - the http.server interface
        Engine.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        status = 400 if Engine.bodies[-1]["host"] == "refuse-me" else 200
        self.send_response(status)
        self.end_headers()
        self.wfile.write(b'{"error": {"message": "alerts[0]: refused"}}' if status == 400
                         else b"{}")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def url() -> Iterator[str]:
    Engine.bodies = []
    with serving(Engine) as base:
        yield f"{base}/api/v1/webhooks/nagios"


def notify(url: str, kind: str, state: str, previous: str, host: str = "core-1",
           *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), "--url", url, "--type", kind,
                           "--host", host, "--service", "BGP peer", "--state", state,
                           "--changed", "1800000000", "--previous", previous, "--output",
                           'peer "10.0.0.9" Idle', *extra], capture_output=True,
                          text=True, timeout=60)


@pytest.mark.parametrize(("kind", "state", "previous", "times"), [
    ("PROBLEM", "CRITICAL", "OK", {"since": "1800000000"}),  # a new problem
    ("PROBLEM", "CRITICAL", "CRITICAL", {"since": "1800000000"}),  # soft turned hard
    ("PROBLEM", "CRITICAL", "WARNING", {}),  # escalation: the engine keeps the start
    ("RECOVERY", "OK", "CRITICAL", {"ended": "1800000000"}),
])
def test_each_notification_says_what_it_knows_of_its_times(
        url: str, kind: str, state: str, previous: str, times: dict) -> None:
    done = notify(url, kind, state, previous)
    assert done.returncode == 0, done.stderr
    (body,) = Engine.bodies
    assert {k: v for k, v in body.items() if k in ("since", "ended")} == times
    assert (body["check"], body["output"]) == ("BGP peer", 'peer "10.0.0.9" Idle')


OFF = {"acknowledged": "false", "suppressed": "false", "flapping": "false"}


@pytest.mark.parametrize(("kind", "state", "sent"), [
    # Nagios notifies no problem while acknowledged, in a downtime or flapping: it says
    # all three are off (how a removed acknowledgement reaches us); a recovery may come
    # in a downtime.
    ("PROBLEM", "CRITICAL", {**OFF, "since": "1800000000"}),
    ("RECOVERY", "OK", {"acknowledged": "false", "flapping": "false",
                        "ended": "1800000000"}),
    # Status reports of the problem: no start, no end, one label each.
    ("ACKNOWLEDGEMENT", "CRITICAL", {"acknowledged": "true"}),
    ("DOWNTIMESTART", "CRITICAL", {"suppressed": "downtime"}),
    ("DOWNTIMEEND", "CRITICAL", {"suppressed": "false"}),
    ("DOWNTIMECANCELLED", "WARNING", {"suppressed": "false"}),
    ("FLAPPINGSTART", "CRITICAL", {"flapping": "true"}),
    ("FLAPPINGSTOP", "CRITICAL", {"flapping": "false"}),
    ("FLAPPINGDISABLED", "CRITICAL", {"flapping": "false"}),
    # Of an object that is fine: its problem ended, unnotified, at its last change.
    ("DOWNTIMEEND", "OK", {"suppressed": "false", "ended": "1800000000"}),
    ("FLAPPINGSTOP", "OK", {"flapping": "false", "ended": "1800000000"}),
])
def test_each_notification_says_the_status_labels_it_knows(
        url: str, kind: str, state: str, sent: dict) -> None:
    done = notify(url, kind, state, "CRITICAL" if state == "OK" else "OK")
    assert done.returncode == 0, done.stderr
    (body,) = Engine.bodies
    assert {k: v for k, v in body.items()
            if k in (*OFF, "since", "ended")} == sent
    assert (body["type"], body["state"], "note" in body) == (kind, state, False)


def test_an_acknowledgement_says_who_and_why_and_a_downtime_not_by_its_ack_macros(
        url: str) -> None:
    """From $SERVICEACKAUTHOR$ and $SERVICEACKCOMMENT$ (what aiops.cfg passes; Nagios
    cleans them for the shell, and in an ACKNOWLEDGEMENT they hold what
    $NOTIFICATIONAUTHOR$ and $NOTIFICATIONCOMMENT$ do): the label ``acknowledged_by``,
    as the follower says it, and the event's description."""
    extra = ("--ack-author", "ann", "--ack-comment", "peer down, on it")
    assert notify(url, "ACKNOWLEDGEMENT", "CRITICAL", "OK", "core-1", *extra).returncode == 0
    assert notify(url, "DOWNTIMESTART", "CRITICAL", "OK", "core-1", *extra).returncode == 0
    assert notify(url, "PROBLEM", "WARNING", "CRITICAL", "core-1", *extra).returncode == 0
    ack, downtime, problem = Engine.bodies
    assert ack["note"] == "acknowledged by ann: peer down, on it" and "note" not in downtime
    assert (ack["acknowledged"], ack["acknowledged_by"]) == ("true", "ann: peer down, on it")
    # Not an acknowledgement: nothing of who (a PROBLEM's acknowledged "false" clears it).
    assert "acknowledged_by" not in downtime and "acknowledged_by" not in problem


@pytest.mark.parametrize(("extra", "said"), [
    ((), None),  # a command line of before --ack-author: still sent, without who
    (("--ack-author", "ann"), "ann"),
    (("--ack-author", "", "--ack-comment", "on it"), "on it"),
    (("--ack-author", "", "--ack-comment", ""), None),
])
def test_an_acknowledgement_without_its_author_or_comment_says_what_it_has(
        url: str, extra: tuple[str, ...], said: str | None) -> None:
    done = notify(url, "ACKNOWLEDGEMENT", "CRITICAL", "OK", "core-1", *extra)
    assert done.returncode == 0, done.stderr
    (body,) = Engine.bodies
    assert (body["acknowledged"], body.get("acknowledged_by")) == ("true", said)


DOWNTIME_BY = ("--notification-author=ann", "--notification-comment=peer maintenance")


def test_a_downtime_start_says_which_downtime_by_its_author_and_comment(url: str) -> None:
    """From $NOTIFICATIONAUTHOR$ and $NOTIFICATIONCOMMENT$, which Nagios fills with the
    downtime's author and comment: the label ``suppressed_by`` as near the follower's
    wording as they allow (no macro gives the downtime's id or end). The other kinds,
    given the same arguments, say no ``suppressed_by``: a DOWNTIMEEND's
    ``suppressed: "false"`` ends it, and the rest say nothing of a downtime."""
    for kind in ("DOWNTIMESTART", "DOWNTIMEEND", "DOWNTIMECANCELLED", "ACKNOWLEDGEMENT",
                 "PROBLEM", "RECOVERY"):
        done = notify(url, kind, "CRITICAL", "OK", "core-1", *DOWNTIME_BY)
        assert done.returncode == 0, done.stderr
    start, *others = Engine.bodies
    assert (start["suppressed"], start["suppressed_by"]) == (
        "downtime", "downtime by ann: peer maintenance")
    assert "note" not in start and "acknowledged_by" not in start
    assert [body["type"] for body in others if "suppressed_by" in body] == []


@pytest.mark.parametrize(("extra", "said"), [
    (("--notification-author=ann",), "downtime by ann"),
    (("--notification-comment=peer maintenance",), "downtime by unknown: peer maintenance"),
    (("--notification-author=  ann ", "--notification-comment= peer maintenance  "),
     "downtime by ann: peer maintenance"),
    (("--notification-author=", "--notification-comment= "), None),
    # aiops.cfg gives them as --option="VALUE": a comment that begins with "-" is a value.
    (("--notification-author=ann", "--notification-comment=-p window"),
     "downtime by ann: -p window"),
])
def test_a_downtime_start_without_its_author_or_comment_says_what_it_has(
        url: str, extra: tuple[str, ...], said: str | None) -> None:
    """As the follower words a downtime (``unknown`` for a blank author, no comment
    when blank); nothing at all when neither is said."""
    done = notify(url, "DOWNTIMESTART", "CRITICAL", "OK", "core-1", *extra)
    assert done.returncode == 0, done.stderr
    (body,) = Engine.bodies
    assert (body["suppressed"], body.get("suppressed_by")) == ("downtime", said)


def test_a_command_line_of_before_sends_a_downtime_start_as_it_did(url: str) -> None:
    """An aiops.cfg without --notification-author and --notification-comment: the body
    it always sent, with no ``suppressed_by`` (the engine then removes the label, as
    before; docs/webhooks.md)."""
    extra = ("--ack-author", "", "--ack-comment", "")
    done = notify(url, "DOWNTIMESTART", "CRITICAL", "OK", "core-1", *extra)
    assert done.returncode == 0, done.stderr
    assert Engine.bodies == [{
        "type": "DOWNTIMESTART", "host": "core-1", "address": "", "check": "BGP peer",
        "state": "CRITICAL", "output": 'peer "10.0.0.9" Idle', "suppressed": "downtime"}]


@pytest.mark.parametrize("kind", ["CUSTOM", "SOMETHINGNEW"])
def test_custom_notifications_are_not_sent(url: str, kind: str) -> None:
    done = notify(url, kind, "OK", "OK")
    assert done.returncode == 0 and f"{kind} notification not sent" in done.stderr
    assert Engine.bodies == []


def test_a_refusal_or_an_engine_that_is_not_there_exits_1_saying_why(url: str) -> None:
    done = notify(url, "PROBLEM", "CRITICAL", "OK", host="refuse-me")
    assert done.returncode == 1 and "answered 400: " in done.stderr
    done = notify("http://127.0.0.1:9/api/v1/webhooks/nagios", "PROBLEM", "CRITICAL", "OK")
    assert done.returncode == 1 and "Connection refused" in done.stderr


def test_aiops_cfg_passes_free_texts_that_begin_with_a_dash_as_values(url: str) -> None:
    """aiops.cfg's own service command line, its macros filled as Nagios would (after
    illegal_macro_output_chars), run by a shell: plugin output, an acknowledgement's
    author and comment beginning with "-" are values, not options."""
    cfg = (SCRIPT.parent / "aiops.cfg").read_text(encoding="utf-8")
    line = next(row.split("command_line", 1)[1].strip() for row in cfg.splitlines()
                if "command_line" in row and "$SERVICEDESC$" in row)
    macros = {"NOTIFICATIONTYPE": "ACKNOWLEDGEMENT", "HOSTNAME": "core-1",
              "HOSTADDRESS": "10.0.0.1", "SERVICEDESC": "BGP peer",
              "SERVICESTATE": "CRITICAL", "LASTSERVICESTATECHANGE": "1800000000",
              "LASTSERVICESTATE": "CRITICAL", "SERVICEOUTPUT": "-1 peers up",
              "SERVICEACKAUTHOR": "-ann", "SERVICEACKCOMMENT": "--see INC42",
              "NOTIFICATIONAUTHOR": "-ann", "NOTIFICATIONCOMMENT": "--see INC42"}
    for name, value in macros.items():
        line = line.replace(f"${name}$", value)
    line = line.replace("/usr/local/bin/aiops-notify", f"{sys.executable} {SCRIPT}")
    line = line.replace("http://127.0.0.1:8080/api/v1/webhooks/nagios", url)
    done = subprocess.run(["bash", "-c", line], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    (body,) = Engine.bodies
    assert body["output"] == "-1 peers up"
    assert body["acknowledged_by"] == "-ann: --see INC42"
