"""``aiops webhooks``: list, check a folder of mappings, try one on a saved payload."""

from __future__ import annotations

import json
from pathlib import Path

from tests.integration.test_cli import aiops
from tests.unit.test_webhook_mapping import ZABBIX_PROBLEM


def test_try_prints_the_alerts_a_payload_becomes_and_stores_nothing(tmp_path: Path) -> None:
    payload = tmp_path / "problem.json"
    payload.write_text(json.dumps(ZABBIX_PROBLEM))
    r = aiops(tmp_path / "d", "webhooks", "try", "zabbix", str(payload))
    assert r.returncode == 0, r.stderr
    (line,) = r.stdout.splitlines()
    assert json.loads(line)["entity"] == "core-1"
    assert not (tmp_path / "d" / "aiops.db").exists()
    recovery = tmp_path / "recovery.json"
    recovery.write_text(json.dumps({"type": "RECOVERY", "host": "r1", "check": "host",
                                    "state": "UP", "ended": "1800000000"}))
    r = aiops(tmp_path / "d", "webhooks", "try", "nagios", str(recovery))
    assert "the engine gives it the start of the live alert it ends" in r.stdout


def test_bad_payloads_and_mappings_exit_2_naming_what_is_wrong(tmp_path: Path) -> None:
    data = tmp_path / "d"
    (data / "webhooks").mkdir(parents=True)
    (data / "webhooks" / "ok.yml").write_text("name: '{n}'\nentity: '{e}'\n")
    (data / "webhooks" / "bad.yml").write_text("name: '{n}'\nentity: '{e}'\nlevel: 3\n")
    r = aiops(data, "webhooks", "check")
    assert r.returncode == 2
    assert "aiops: error: bad.yml: unknown key 'level'" in r.stderr
    assert "6 mappings ok, 1 refused" in r.stderr  # ok and the 5 built-ins
    listed = json.loads(aiops(data, "webhooks", "list", "--json").stdout)
    assert [w["name"] for w in listed["webhooks"]] == ["icinga", "nagios", "ok", "snmptrap",
                                                         "syslog", "zabbix"]
    payload = tmp_path / "p.json"
    payload.write_text('{"n": "x"}')
    r = aiops(data, "webhooks", "try", "ok", str(payload))
    assert r.returncode == 2
    assert "alerts[0]: field 'entity' is empty: '{e}' gave no text (nothing at e)" in r.stderr
    payload.write_text('{"n": ')
    r = aiops(data, "webhooks", "try", "ok", str(payload))
    assert r.returncode == 2 and "p.json: not JSON" in r.stderr
    r = aiops(data, "webhooks", "try", "bad", str(payload))
    assert r.returncode == 2 and "webhook mapping 'bad' cannot be used" in r.stderr
    r = aiops(data, "webhooks", "try", "grafana", str(payload))
    assert r.returncode == 2 and "no webhook mapping named 'grafana'" in r.stderr
