"""Access tokens (AIOPS_API_TOKENS_FILE): over real HTTP, each scope allows what it
says and nothing more, a browser is asked for the token, the audit trail names the
token, the listeners' forwarder and a real Alertmanager authenticate, and a tokens file
that is wrong stops the server naming the line."""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from aiops.api.access import load_tokens, token_line
from aiops.config import DataDir
from aiops.forwarder import Forwarder
from aiops.runtime import Runtime, open_runtime
from aiops.store.tables import alerts, feedback, raw_events
from tests.conftest import LiveServer, serving_app
from tests.integration.alertmanager_server import (
    alertmanager_binary,
    config_document,
    running_alertmanager,
    wait_for,
)
from tests.integration.test_feedback_api import T0, build, incident_of

TOKENS = {"dash": ("read", "dash-token-0123456789"),
          "nms": ("ingest", "nms-token-0123456789"),
          "ops-bot": ("read,operate", "ops-token-0123456789")}


def bearer(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[name][1]}"}


def alert(i: str, entity: str = "l1") -> dict[str, object]:
    return {"id": i, "source": "nms", "name": "LINK_DOWN", "entity": entity,
            "severity": "major", "summary": "down", "starts_at": T0 + 20}


@pytest.fixture
def tokens_file(tmp_path: Path) -> Path:
    path = tmp_path / "tokens"
    path.write_text("# who may do what\n" + "".join(
        f"{token_line(name, scopes.split(','), token)}  # {name}\n"
        for name, (scopes, token) in TOKENS.items()), encoding="utf-8")
    return path


@pytest.fixture
def guarded(tmp_path: Path, tokens_file: Path) -> Iterator[LiveServer]:
    data = replace(DataDir.from_env(tmp_path / "data"), api_tokens_file=str(tokens_file))
    rt = open_runtime(data)
    try:
        build(rt)
        with serving_app(rt) as served:
            yield served
    finally:
        rt.close()


def stored_alert_ids(rt: Runtime) -> set[str]:
    """Ids of every event stored (a duplicate folds into an alert, its event is kept)."""
    with rt.db.connect() as conn:
        return set(conn.execute(sa.select(raw_events.c.event_id)).scalars())


def test_no_token_is_refused_with_how_to_authenticate(guarded: LiveServer) -> None:
    answer = requests.get(f"{guarded.url}/api/v1/incidents", timeout=10)
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == 'Basic realm="aiops", charset="UTF-8"'
    assert "no token given" in answer.json()["error"]["message"]
    wrong = requests.get(f"{guarded.url}/api/v1/incidents", timeout=10,
                         headers={"Authorization": "Bearer not-a-token"})
    assert wrong.status_code == 401
    assert "not one of AIOPS_API_TOKENS_FILE's" in wrong.json()["error"]["message"]
    assert requests.get(f"{guarded.url}/api/v1/health", timeout=10).status_code == 200


def test_each_scope_allows_only_its_requests(guarded: LiveServer) -> None:
    url = guarded.url
    assert requests.get(f"{url}/api/v1/incidents", headers=bearer("dash"),
                        timeout=10).status_code == 200
    refused = requests.post(f"{url}/api/v1/alerts", json=[alert("x1")],
                            headers=bearer("dash"), timeout=10)
    assert refused.status_code == 403
    assert refused.json()["error"]["message"] == (
        "token 'dash' may read; this request needs the scope 'ingest'")
    assert "x1" not in stored_alert_ids(guarded.runtime)

    taken = requests.post(f"{url}/api/v1/alerts", json=[alert("x1")], headers=bearer("nms"),
                          timeout=10)
    assert taken.status_code in (200, 202), taken.text
    assert "x1" in stored_alert_ids(guarded.runtime)
    assert requests.get(f"{url}/api/v1/incidents", headers=bearer("nms"),
                        timeout=10).status_code == 403

    a, b = incident_of(guarded.runtime, "a1"), incident_of(guarded.runtime, "b1")
    merge = requests.post(f"{url}/api/v1/incidents/{a}/merge", json={"incident_ids": [b]},
                          headers=bearer("nms"), timeout=10)
    assert merge.status_code == 403 and "'operate'" in merge.json()["error"]["message"]
    assert incident_of(guarded.runtime, "b1") == b


def test_an_operators_action_is_recorded_as_the_token_when_it_names_nobody(
        guarded: LiveServer) -> None:
    rt = guarded.runtime
    a, b = incident_of(rt, "a1"), incident_of(rt, "b1")
    merged = requests.post(f"{guarded.url}/api/v1/incidents/{a}/merge",
                           json={"incident_ids": [b]}, headers=bearer("ops-bot"), timeout=10)
    assert merged.status_code == 200, merged.text
    assert merged.json()["feedback"]["author"] == "ops-bot"
    split = requests.post(f"{guarded.url}/api/v1/incidents/{a}/split",
                          json={"alert_ids": ["b1", "b2"], "author": "ann"},
                          headers=bearer("ops-bot"), timeout=10)
    assert split.status_code == 200, split.text
    with rt.db.connect() as conn:
        authors = conn.execute(sa.select(feedback.c.author).order_by(feedback.c.id)).scalars()
        assert list(authors) == ["ops-bot", "ann"]


def test_a_browser_is_asked_for_the_token_and_basic_auth_carries_it(
        guarded: LiveServer) -> None:
    page = requests.get(f"{guarded.url}/", timeout=10)
    assert page.status_code == 401 and page.headers["Content-Type"].startswith("text/html")
    assert page.headers["WWW-Authenticate"].startswith("Basic ")
    assert "no token given" in page.text
    shown = requests.get(f"{guarded.url}/", auth=("anyone", TOKENS["dash"][1]), timeout=10)
    assert shown.status_code == 200 and "<html" in shown.text.lower()
    garbled = requests.get(f"{guarded.url}/", timeout=10,
                           headers={"Authorization": "Basic !!not-base64"})
    assert garbled.status_code == 401
    no_password = base64.b64encode(b"dash-token-0123456789").decode()
    assert requests.get(f"{guarded.url}/", headers={"Authorization": f"Basic {no_password}"},
                        timeout=10).status_code == 401


def test_the_forwarder_sends_its_token_and_keeps_events_a_wrong_one_cannot_deliver(
        guarded: LiveServer) -> None:
    url = f"{guarded.url}/api/v1/alerts"
    refused = Forwarder(url, token="wrong", max_pause=0.01)
    refused.add(alert("f1"))
    assert refused.flush_once() is False
    assert refused.pending() == 1 and refused.last_error.startswith("HTTP 401")
    assert "f1" not in stored_alert_ids(guarded.runtime)

    taken = Forwarder(url, token=TOKENS["nms"][1])
    taken.add(alert("f1"))
    assert taken.flush_once() is True and taken.pending() == 0
    assert "f1" in stored_alert_ids(guarded.runtime)


@pytest.mark.alertmanager
@pytest.mark.skipif(alertmanager_binary() is None,
                    reason="prometheus-alertmanager is not installed "
                           "(scripts/install-test-deps.sh installs it)")
def test_a_real_alertmanager_delivers_with_its_credentials_file(
        guarded: LiveServer, tmp_path: Path) -> None:
    """Alertmanager's ``http_config.authorization.credentials_file`` sends the token as
    Bearer; the same receiver without it is refused and its alert never stored."""
    secret = tmp_path / "am-token"
    secret.write_text(TOKENS["nms"][1], encoding="utf-8")
    hook = f"{guarded.url}/api/v1/webhooks/alertmanager"
    config = config_document(hook, group_by=("alertname", "device"))
    config["receivers"][0]["webhook_configs"][0]["http_config"] = {
        "authorization": {"type": "Bearer", "credentials_file": str(secret)}}
    started = time.time()
    with running_alertmanager(tmp_path / "am", config) as am:
        am.post_alerts([{"labels": {"alertname": "LinkDown", "device": "l2"},
                         "annotations": {"summary": "down"},
                         "startsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                   time.gmtime(started - 5))}])
        wait_for(lambda: any(i.startswith("am-") for i in stored_alert_ids(guarded.runtime)),
                 30, "the alert Alertmanager delivered with its token")

    bare = config_document(hook, group_by=("alertname", "device"))
    with running_alertmanager(tmp_path / "am-bare", bare) as am:
        am.post_alerts([{"labels": {"alertname": "FanFail", "device": "l3"},
                         "annotations": {"summary": "fan"}}])
        wait_for(lambda: "401" in am.log_tail(50), 30,
                 "Alertmanager's log of the refused notification")
    with guarded.runtime.db.connect() as conn:
        names = set(conn.execute(sa.select(alerts.c.name)).scalars())
    assert "FanFail" not in names


@pytest.mark.parametrize(("text", "message"), [
    ("", "holds no token"),
    ("ops read\n", "line 1: expected 'NAME SCOPES SHA256 [expires=WHEN]', got 2 fields"),
    (f"ops admin {'a' * 64}\n", "line 1: unknown scope 'admin'"),
    ("# c\nops read abc\n", "line 2: the third field must be the token's SHA-256"),
    (f"ops read {'a' * 64}\nops read {'b' * 64}\n",
     "line 2: token name 'ops' is on line 1 already"),
    (f"a read {'a' * 64}\nb read {'a' * 64}\n", "line 2: the same token (SHA-256) as line 1 ('a')"),
    (f"-x read {'a' * 64}\n", "line 1: a token's name is 1-64 letters"),
])
def test_a_wrong_tokens_file_is_refused_naming_the_line(tmp_path: Path, text: str,
                                                       message: str) -> None:
    path = tmp_path / "tokens"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=re.escape(message)):
        load_tokens(path)


def test_serve_stops_before_serving_on_a_wrong_tokens_file(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    path.write_text(f"ops read {'A' * 64}\n", encoding="utf-8")
    env = {**os.environ, "AIOPS_API_TOKENS_FILE": str(path), "AIOPS_TEXT_SIMILARITY": "off"}
    done = subprocess.run([sys.executable, "-m", "aiops", "--data-dir", str(tmp_path / "d"),
                           "serve", "--port", "1"], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2, done.stderr
    assert f"AIOPS_API_TOKENS_FILE {path}, line 1: the third field" in done.stderr


def test_tokens_new_makes_a_token_the_file_accepts(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    made = subprocess.run([sys.executable, "-m", "aiops", "tokens", "new", "grafana",
                           "--scopes", "read", "--append", str(path)],
                          capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert token not in path.read_text(encoding="utf-8")  # only its hash is kept
    found = load_tokens(path).find(token)
    assert found is not None and found.name == "grafana" and found.scopes == {"read"}
    again = subprocess.run([sys.executable, "-m", "aiops", "tokens", "new", "grafana",
                            "--append", str(path)], capture_output=True, text=True,
                           timeout=60)
    assert again.returncode == 2 and "a token named 'grafana' is there already" in again.stderr


def test_the_listeners_read_their_token_from_AIOPS_FORWARD_TOKEN_FILE(
        guarded: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from aiops.cli_follow import engine_forwarder
    from aiops.errors import InputError
    from connectors.syslog import parse_syslog
    from connectors.syslog_rules import load_rules

    secret = tmp_path / "forward-token"
    secret.write_text(TOKENS["nms"][1] + "\n", encoding="utf-8")
    monkeypatch.setenv("AIOPS_FORWARD_TOKEN_FILE", str(secret))
    forwarder = engine_forwarder(guarded.url, "syslog")
    rules, _errors = load_rules(None)
    message = parse_syslog(b"<187>Nov 23 13:00:00 l2 ios: %LINK-3-UPDOWN: Interface Gi0/1, "
                           b"changed state to down", "127.0.0.1:514", time.time())
    event = rules.event(message)
    assert event is not None
    forwarder.add(event)
    assert forwarder.flush_once() is True, forwarder.last_error
    assert (forwarder.stats.forwarded, forwarder.stats.refused) == (1, 0)
    monkeypatch.setenv("AIOPS_FORWARD_TOKEN_FILE", str(tmp_path / "missing"))
    with pytest.raises(InputError, match="AIOPS_FORWARD_TOKEN_FILE .*missing cannot be read"):
        engine_forwarder(guarded.url, "syslog")
