"""The Zabbix media type in deploy/zabbix/ runs its script as Zabbix would, against the
engine over real HTTP: a problem and its recovery become one alert that fires and
resolves.

No Zabbix server runs here (it needs a database and its PHP front end), so the script
runs under Node.js with Zabbix's ``HttpRequest`` stood in by curl, and the macros are
filled the way Zabbix documents it: a recovery's macros on a problem stay unresolved
as their own text. Skipped without node or curl.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import requests
import yaml

from tests.conftest import LiveServer
from tests.integration.test_webhooks_api import alert_rows, incident_rows

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not (shutil.which("node") and shutil.which("curl")),
                                reason="needs node and curl")

# Zabbix's HttpRequest as far as the script uses it, over curl (node has no blocking HTTP).
SHIM = r"""
const {execFileSync} = require('child_process');
function HttpRequest() { this.headers = []; this.status = 0; }
HttpRequest.prototype.addHeader = function (h) { this.headers.push(h); };
HttpRequest.prototype.post = function (url, data) {
  const args = ['-s', '-X', 'POST', '-w', '\n%{http_code}', '--data-binary', '@-'];
  this.headers.forEach(function (h) { args.push('-H', h); });
  args.push(url);
  const out = execFileSync('curl', args, {input: data}).toString();
  const cut = out.lastIndexOf('\n');
  this.status = parseInt(out.slice(cut + 1), 10);
  return out.slice(0, cut);
};
HttpRequest.prototype.getStatus = function () { return this.status; };
const value = require('fs').readFileSync(0, 'utf8');
try {
  console.log((function (value) {
SCRIPT
  })(value));
} catch (error) {
  console.error(String(error));
  process.exit(1);
}
"""
PROBLEM_MACROS = {
    "{EVENT.SOURCE}": "0", "{EVENT.NSEVERITY}": "4", "{EVENT.ID}": "8812",
    "{EVENT.VALUE}": "1", "{EVENT.NAME}": "BGP peer 192.0.2.9 down",
    "{EVENT.DATE}": "2026.11.22", "{EVENT.TIME}": "16:20:05",
    "{EVENT.OPDATA}": "bgpPeerState: idle (1)",
    "{EVENT.TAGSJSON}": '[{"tag":"scope","value":"availability"}]', "{TRIGGER.ID}": "23001",
    "{TRIGGER.NAME.ORIG}": "BGP peer {#PEER} down", "{HOST.HOST}": "r1",
    "{HOST.IP}": "10.0.0.1", "{EVENT.UPDATE.STATUS}": "0", "{EVENT.ACK.STATUS}": "No"}


def media_type() -> dict:
    document = yaml.safe_load((REPO / "deploy/zabbix/aiops_media_type.yaml").read_text())
    return document["zabbix_export"]["media_types"][0]


def notify(url: str, macros: dict[str, str], zone: str = "UTC",
           timezone: str = "", without: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """Run the media type's script with its parameters filled as Zabbix fills them, in a
    process whose local time zone is ``zone`` (the Zabbix server's); ``without``: the
    parameters left out (a media type edited from an older one)."""
    media = media_type()
    params = {}
    for p in media["parameters"]:
        if p["name"] in without:
            continue
        value = p["value"]
        params[p["name"]] = url if p["name"] == "URL" else macros.get(value, value)
    params["timezone"] = timezone
    program = SHIM.replace("SCRIPT", media["script"])
    return subprocess.run(["node", "-e", program], input=json.dumps(params),
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "TZ": zone})


def test_the_media_type_sends_a_problem_and_its_recovery(live_server: LiveServer) -> None:
    url = f"{live_server.url}/api/v1/webhooks/zabbix"
    sent = notify(url, PROBLEM_MACROS)
    assert sent.returncode == 0 and sent.stdout.strip() == "OK", sent.stderr
    (alert,) = alert_rows(live_server.runtime)
    assert (alert["source"], alert["entity"], alert["status"], alert["severity"]) == (
        "zabbix", "r1", "firing", "major")
    recovery = {**PROBLEM_MACROS, "{EVENT.VALUE}": "0", "{EVENT.RECOVERY.DATE}": "2026.11.22",
                "{EVENT.RECOVERY.TIME}": "16:31:00"}
    assert notify(url, recovery).returncode == 0
    (ended,) = alert_rows(live_server.runtime)
    assert ended["status"] == "resolved" and ended["id"] == alert["id"]
    assert ended["ends_at"] - ended["starts_at"] == 655.0  # 16:20:05 to 16:31:00
    assert ended["starts_at"] == 1_795_364_405.0  # 2026-11-22T16:20:05Z: a UTC server


def test_an_update_notification_gives_the_alert_its_changed_severity(
        live_server: LiveServer) -> None:
    """An action's update operation ({EVENT.UPDATE.STATUS} 1) after an operator changed
    the problem's severity: the alert and its incident take it; a problem notification
    sent again (Zabbix retrying it) does not change it back."""
    url = f"{live_server.url}/api/v1/webhooks/zabbix"
    assert notify(url, PROBLEM_MACROS).returncode == 0
    assert notify(url, {**PROBLEM_MACROS, "{EVENT.NSEVERITY}": "5",
                        "{EVENT.UPDATE.STATUS}": "1"}).returncode == 0
    assert notify(url, PROBLEM_MACROS).returncode == 0
    (alert,) = alert_rows(live_server.runtime)
    assert (alert["status"], alert["severity"], alert["event_count"]) == (
        "firing", "critical", 3)
    assert [i["severity"] for i in incident_rows(live_server.runtime)] == ["critical"]


def test_an_acknowledgement_and_its_removal_reach_the_alert_s_label(
        live_server: LiveServer) -> None:
    """{EVENT.ACK.STATUS} as ``acknowledged``: the update operation of an operator's
    acknowledgement marks the alert, with who and why ({USER.FULLNAME}: {EVENT.UPDATE.
    MESSAGE}) as ``acknowledged_by``; a later update that does not acknowledge (a
    severity change) says nothing of either and leaves them; one after the
    acknowledgement was removed clears both. A maintenance the follower read
    (``suppressed``, which no macro says) is left as it is."""
    url = f"{live_server.url}/api/v1/webhooks/zabbix"

    def labels() -> dict:
        (alert,) = alert_rows(live_server.runtime)
        return {k: alert["labels"].get(k)
                for k in ("acknowledged", "acknowledged_by", "suppressed")}

    assert notify(url, PROBLEM_MACROS).returncode == 0
    assert labels() == {"acknowledged": "false", "acknowledged_by": None, "suppressed": None}
    # As `aiops zabbix follow` reports the problem in a maintenance.
    follower = {"event_id": "8812", "event_value": "1", "event_name": "BGP peer down",
                "event_date": "2026.11.22", "event_time": "16:20:05", "severity": "4",
                "timezone": "+00:00", "tags": [{"tag": "scope", "value": "availability"}],
                "trigger_id": "23001", "trigger_name": "BGP peer {#PEER} down",
                "host": "r1", "event_update_status": "1", "acknowledged": "false",
                "suppressed": "maintenance", "suppressed_by": "maintenance 3"}
    assert requests.post(url, json=follower, timeout=10).status_code == 200
    update = {**PROBLEM_MACROS, "{EVENT.UPDATE.STATUS}": "1", "{EVENT.ACK.STATUS}": "Yes",
              "{USER.FULLNAME}": "Jane Doe (jdoe)"}
    assert notify(url, {**update, "{EVENT.UPDATE.ACTION}": "acknowledged and commented",
                        "{EVENT.UPDATE.MESSAGE}": "on it,\nswapping the line card"}
                  ).returncode == 0
    assert labels() == {"acknowledged": "true",
                        "acknowledged_by": "Jane Doe (jdoe): on it, swapping the line card",
                        "suppressed": "maintenance"}
    assert notify(url, {**update, "{EVENT.NSEVERITY}": "5", "{EVENT.UPDATE.ACTION}":
                        "changed severity from High to Disaster"}).returncode == 0
    (alert,) = alert_rows(live_server.runtime)
    assert alert["severity"] == "critical" and labels()["acknowledged_by"] == \
        "Jane Doe (jdoe): on it, swapping the line card"
    assert notify(url, {**update, "{EVENT.ACK.STATUS}": "No",
                        "{EVENT.UPDATE.ACTION}": "unacknowledged"}).returncode == 0
    assert labels() == {"acknowledged": "false", "acknowledged_by": None,
                        "suppressed": "maintenance"}
    # Acknowledged without a message: who alone; a user with no name, as Zabbix 6.0.14
    # writes {USER.FULLNAME} for one (" (bob)"), by username.
    assert notify(url, {**update, "{EVENT.UPDATE.ACTION}": "acknowledged"}).returncode == 0
    assert labels()["acknowledged_by"] == "Jane Doe (jdoe)"
    assert notify(url, {**update, "{EVENT.UPDATE.ACTION}": "acknowledged",
                        "{USER.FULLNAME}": " (bob)"}).returncode == 0
    assert labels()["acknowledged_by"] == "bob"
    (alert,) = alert_rows(live_server.runtime)
    assert (alert["status"], alert["event_count"]) == ("firing", 7)


def test_a_media_type_without_the_update_parameters_sends_the_acknowledgement_as_before(
        live_server: LiveServer) -> None:
    """A media type edited from one imported before ``update_action`` existed: Yes and
    No go with every notification as ``acknowledged``, and no ``acknowledged_by``
    (the mapping makes no label of what the item does not carry)."""
    url = f"{live_server.url}/api/v1/webhooks/zabbix"
    old = ("update_action", "update_user", "update_message")
    update = {**PROBLEM_MACROS, "{EVENT.UPDATE.STATUS}": "1",
              "{EVENT.UPDATE.ACTION}": "acknowledged", "{USER.FULLNAME}": "Jane Doe (jdoe)"}
    for ack, label in (("Yes", "true"), ("No", "false")):
        assert notify(url, {**update, "{EVENT.ACK.STATUS}": ack}, without=old).returncode == 0
        (alert,) = alert_rows(live_server.runtime)
        assert (alert["labels"].get("acknowledged"), alert["labels"].get("acknowledged_by")
                ) == (label, None)
    # The recovery of an acknowledged problem, as it always was.
    assert notify(url, {**PROBLEM_MACROS, "{EVENT.VALUE}": "0", "{EVENT.ACK.STATUS}": "Yes",
                        "{EVENT.RECOVERY.DATE}": "2026.11.22",
                        "{EVENT.RECOVERY.TIME}": "16:31:00"}, without=old).returncode == 0
    (alert,) = alert_rows(live_server.runtime)
    assert (alert["status"], alert["labels"]["acknowledged"]) == ("resolved", "true")


def test_the_server_s_local_time_is_read_with_its_offset(live_server: LiveServer) -> None:
    """{EVENT.TIME} is the Zabbix server's local time: 16:20:05 in Paris (UTC+1 in
    November) is 15:20:05Z; the script reads the offset, or takes the one configured."""
    url = f"{live_server.url}/api/v1/webhooks/zabbix"
    assert notify(url, PROBLEM_MACROS, zone="Europe/Paris").returncode == 0
    other = {**PROBLEM_MACROS, "{HOST.HOST}": "r2"}
    assert notify(url, other, zone="UTC", timezone="America/New_York").returncode == 0
    starts = {a["entity"]: a["starts_at"] for a in alert_rows(live_server.runtime)}
    assert starts == {"r1": 1_795_364_405.0 - 3600, "r2": 1_795_364_405.0 + 5 * 3600}


def test_events_that_are_not_trigger_events_are_not_sent(live_server: LiveServer) -> None:
    sent = notify(f"{live_server.url}/api/v1/webhooks/zabbix",
                  {**PROBLEM_MACROS, "{EVENT.SOURCE}": "2"})  # autoregistration
    assert sent.returncode == 0 and "not a trigger event" in sent.stdout
    assert alert_rows(live_server.runtime) == []


def test_a_refusal_fails_the_media_type_with_the_engine_s_reason(
        live_server: LiveServer) -> None:
    """Zabbix shows a failed alert with the script's error, and retries it."""
    sent = notify(f"{live_server.url}/api/v1/webhooks/zabbix",
                  {**PROBLEM_MACROS, "{HOST.HOST}": ""})
    assert sent.returncode == 1
    assert "AIOps engine answered 400" in sent.stderr
    assert "field 'entity' is empty" in sent.stderr
    assert alert_rows(live_server.runtime) == []
