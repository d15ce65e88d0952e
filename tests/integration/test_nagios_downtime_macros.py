"""What a real Nagios Core 4 puts in the macros of its downtime notifications: the
record deploy/nagios/aiops-notify's ``suppressed_by`` is built on (docs/webhooks.md,
"Nagios Core 4").

Nagios runs as in test_nagios_real.py, but its contact's notification commands only
write down their arguments: macros in single quotes, so that the shell keeps a macro
Nagios does not know as Nagios left it.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.test_nagios_real import command, nagios_log, running_nagios
from tests.polling import wait_for

MACROS = ("NOTIFICATIONTYPE", "NOTIFICATIONAUTHOR", "NOTIFICATIONAUTHORNAME",
          "NOTIFICATIONCOMMENT", "SERVICEDOWNTIME", "HOSTDOWNTIME",
          # Names a downtime's id or end might have had: Nagios 4.4 knows none of them.
          "SERVICEDOWNTIMEID", "HOSTDOWNTIMEID", "DOWNTIMEID", "DOWNTIMEEND")
UNKNOWN = {name: f"${name}$" for name in MACROS[6:]}
RECORDER = """\
import json, sys
with open({seen!r}, "a") as out:
    out.write(json.dumps(dict(arg.split("=", 1) for arg in sys.argv[1:])) + "\\n")
"""
NOTIFYING = """\
define command {{
  command_name notify-service-aiops
  command_line {python} {recorder} 'OF=service' {macros}
}}
define command {{
  command_name notify-host-aiops
  command_line {python} {recorder} 'OF=host' {macros}
}}
define contact {{
  contact_name aiops
  service_notification_period 24x7
  host_notification_period 24x7
  service_notification_options w,u,c,r,f,s
  host_notification_options d,u,r,f,s
  service_notification_commands notify-service-aiops
  host_notification_commands notify-host-aiops
}}
"""


@pytest.fixture
def recording(tmp_path: Path) -> Iterator[Path]:
    """A Nagios whose notifications are written to ``seen.jsonl`` beside it."""
    recorder = tmp_path / "recorder.py"
    recorder.write_text(RECORDER.format(seen=str(tmp_path / "seen.jsonl")))
    macros = " ".join(f"'{name}=${name}$'" for name in MACROS)
    with running_nagios(tmp_path / "nagios", NOTIFYING.format(
            python=sys.executable, recorder=recorder, macros=macros)) as folder:
        yield folder


def seen(folder: Path) -> list[dict[str, str]]:
    path = folder.parent / "seen.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] \
        if path.exists() else []


def handled(folder: Path, line: str) -> None:
    """Write an external command and wait until Nagios has logged it."""
    command(folder, line)
    wait_for(lambda: f"EXTERNAL COMMAND: {line}" in (folder / "nagios.log").read_text(),
             line, 60, nagios_log(folder))


def test_a_downtime_notification_names_its_author_and_comment_and_no_id_or_end(
        recording: Path) -> None:
    """DOWNTIMESTART and DOWNTIMEEND carry the downtime's author and comment (cleaned of
    illegal_macro_output_chars), DOWNTIMECANCELLED neither; the depth reads 0 in each
    (counted after the start's notification, before the end's); no macro names the
    downtime's id or end. Only the first downtime of an object is notified, and only
    the end of its last."""
    folder, explain = recording, nagios_log(recording)
    (folder / "state-BGP peer").write_text("2")
    wait_for(lambda: len(seen(folder)) == 1, "the PROBLEM notification", 60, explain)
    now = int(time.time())
    # Each notification is waited for before the next command: its process must not
    # write after the next one's.
    handled(folder, f"SCHEDULE_SVC_DOWNTIME;core-1;BGP peer;{now};{now + 3600};1;0;3600;"
                    'ann;peer "maint" & <x>')
    wait_for(lambda: len(seen(folder)) == 2, "the downtime's start", 60, explain)
    handled(folder, f"SCHEDULE_SVC_DOWNTIME;core-1;BGP peer;{now};{now + 7200};1;0;7200;"
                    "bob;second one")
    handled(folder, "DEL_SVC_DOWNTIME;1")  # bob's is still in effect: no notification
    handled(folder, "DEL_SVC_DOWNTIME;2")
    wait_for(lambda: len(seen(folder)) == 3, "the last downtime's cancellation", 60, explain)
    now = int(time.time())
    handled(folder, f"SCHEDULE_SVC_DOWNTIME;core-1;BGP peer;{now};{now + 3};1;0;3;cid;short")
    wait_for(lambda: len(seen(folder)) == 5, "the short downtime's end", 60, explain)
    handled(folder, f"SCHEDULE_HOST_DOWNTIME;core-1;{now};{now + 3600};1;0;3600;carl;host move")
    wait_for(lambda: len(seen(folder)) == 6, "the host's downtime's start", 60, explain)
    handled(folder, "DEL_HOST_DOWNTIME;4")
    wait_for(lambda: len(seen(folder)) == 7, "the host's downtime's cancellation", 60,
             explain)
    time.sleep(1)  # nothing more comes
    problem, *downtimes = seen(folder)
    assert problem["NOTIFICATIONTYPE"] == "PROBLEM"
    said = [(d["OF"], d["NOTIFICATIONTYPE"], d["NOTIFICATIONAUTHOR"],
             d["NOTIFICATIONCOMMENT"], d["SERVICEDOWNTIME"], d["HOSTDOWNTIME"])
            for d in downtimes]
    assert said == [
        # Nagios strips `~$&|'"<> from a macro's value (the stock characters).
        ("service", "DOWNTIMESTART", "ann", "peer maint  x", "0", "0"),
        ("service", "DOWNTIMECANCELLED", "", "", "0", "0"),
        ("service", "DOWNTIMESTART", "cid", "short", "0", "0"),
        ("service", "DOWNTIMEEND", "cid", "short", "0", "0"),
        # A service macro in a host notification is not filled in: left as typed.
        ("host", "DOWNTIMESTART", "carl", "host move", "$SERVICEDOWNTIME$", "0"),
        ("host", "DOWNTIMECANCELLED", "", "", "$SERVICEDOWNTIME$", "0"),
    ], said
    for notified in downtimes:
        # The author is no contact: no name. A macro Nagios does not know is left as typed.
        assert notified["NOTIFICATIONAUTHORNAME"] == ""
        assert {name: notified[name] for name in UNKNOWN} == UNKNOWN
