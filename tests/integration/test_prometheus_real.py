"""A real Prometheus scrapes the engine's ``/metrics``: what it stores is what was
ingested through the API, a scrape with a read token succeeds while one without is
refused (target down, 401), and promtool accepts the exposition and the example scrape
config and alert rules of deploy/prometheus/."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
import requests

from aiops.api.access import token_line
from aiops.config import DataDir
from aiops.runtime import Runtime, open_runtime
from tests.conftest import serving_app
from tests.integration.prometheus_server import (
    PrometheusProcess,
    prometheus_binary,
    promtool_binary,
    running_prometheus,
    scrape_config,
)
from tests.integration.test_feedback_api import alert, build
from tests.polling import wait_for

DEPLOY = Path(__file__).parents[2] / "deploy" / "prometheus"
TOKEN = "prom-token-0123456789"


@pytest.fixture(autouse=True)
def _binaries() -> None:
    if prometheus_binary() is None or promtool_binary() is None:
        pytest.fail("prometheus or promtool is missing: `make test` installs Debian's "
                    "prometheus package (scripts/install-test-deps.sh)")


def _target(address: str, job: str, **extra: object) -> dict[str, object]:
    return {"job_name": job, "static_configs": [{"targets": [address]}], **extra}


def _settled(prom: PrometheusProcess, promql: str, expected: float) -> bool:
    return prom.value(promql) == expected


def test_prometheus_stores_what_was_ingested(runtime: Runtime, tmp_path: Path) -> None:
    build(runtime)  # 5 new alerts and one duplicate, through the engine
    with serving_app(runtime) as served:
        posted = requests.post(f"{served.url}/api/v1/alerts", timeout=30, json=[
            alert("p1", "x1", 3600), alert("p2", "x2", 3605),
            alert("p1-again", "x1", 3600), alert("p3", "h1", 3610),
            alert("p3-end", "h1", 3610, end=3620)])
        assert posted.status_code == 200, posted.text
        assert requests.post(f"{served.url}/api/v1/alerts", data="{", timeout=30
                             ).status_code == 400
        open_now = requests.get(f"{served.url}/api/v1/incidents", timeout=30
                                ).json()["counts"]["open"]
        address = served.url.removeprefix("http://")
        with running_prometheus(tmp_path / "prom", scrape_config(
                [_target(address, "aiops")])) as prom:
            new = 'aiops_events_ingested_total{job="aiops",disposition="new"}'
            wait_for(lambda: _settled(prom, new, 8), "Prometheus storing 8 new alert "
                     "events", timeout=60, explain=lambda: f"{prom.query(new)}\n"
                     f"{prom.targets()}\n{prom.log_tail()}")
            assert prom.value('aiops_events_ingested_total{disposition="duplicate"}') == 2
            assert prom.value('aiops_events_ingested_total{disposition="resolved"}') == 1
            assert prom.value("aiops_incidents_open") == open_now
            assert prom.value('aiops_ingest_requests_total{code="2xx"}') == 1
            assert prom.value('aiops_ingest_requests_total{code="4xx"}') == 1
            assert prom.value("aiops_alert_placement_seconds_count") == 11
            # the histogram works as one: a quantile within its bounds
            p99 = prom.value("histogram_quantile(0.99, aiops_alert_placement_seconds_bucket)")
            assert p99 is not None and 0 < p99 <= 0.1


def test_a_scrape_needs_a_read_token_when_tokens_are_on(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text(token_line("prometheus", ["read"], TOKEN) + "\n", encoding="utf-8")
    secret = tmp_path / "prom-token"
    secret.write_text(TOKEN + "\n", encoding="utf-8")
    rt = open_runtime(replace(DataDir.from_env(tmp_path / "data"),
                              api_tokens_file=str(tokens)))
    try:
        with serving_app(rt) as served:
            address = served.url.removeprefix("http://")
            config = scrape_config([
                _target(address, "with-token", authorization={
                    "type": "Bearer", "credentials_file": str(secret)}),
                _target(address, "no-token")])
            with running_prometheus(tmp_path / "prom", config) as prom:
                def scraped() -> dict[str, dict[str, object]] | None:
                    found = {t["labels"]["job"]: t for t in prom.targets()}
                    done = all(t["health"] != "unknown" for t in found.values())
                    return found if len(found) == 2 and done else None

                found = wait_for(scraped, "both targets scraped", timeout=60,
                                 explain=prom.log_tail)
                assert found["with-token"]["health"] == "up", found["with-token"]
                assert found["no-token"]["health"] == "down"
                assert "401" in str(found["no-token"]["lastError"])
                up = 'up{job="with-token"}'
                wait_for(lambda: prom.value(up) == 1, "up stored", timeout=30)
                assert prom.value('up{job="no-token"}') == 0
                assert prom.query('aiops_incidents_open{job="with-token"}')
                assert not prom.query('aiops_incidents_open{job="no-token"}')
    finally:
        rt.close()


def _promtool(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    tool = promtool_binary()
    assert tool is not None
    return subprocess.run([tool, *args], input=stdin, capture_output=True, text=True,
                          timeout=60)


def test_promtool_accepts_the_exposition(runtime: Runtime) -> None:
    build(runtime)
    with serving_app(runtime) as served:
        text = requests.get(f"{served.url}/metrics", timeout=30).text
    done = _promtool("check", "metrics", stdin=text)
    assert done.returncode == 0 and not done.stdout.strip(), done.stdout + done.stderr


def test_promtool_accepts_the_example_config_and_rules(tmp_path: Path) -> None:
    rules = _promtool("check", "rules", str(DEPLOY / "aiops-rules.yml"))
    assert rules.returncode == 0, rules.stdout + rules.stderr
    assert "SUCCESS: 6 rules found" in rules.stdout
    # The config names the token file of a real install: here, one that exists.
    shutil.copy(DEPLOY / "aiops-rules.yml", tmp_path)
    (tmp_path / "aiops-token").write_text(TOKEN + "\n", encoding="utf-8")
    config = (DEPLOY / "prometheus.yml").read_text(encoding="utf-8")
    assert "/etc/prometheus/aiops-token" in config
    (tmp_path / "prometheus.yml").write_text(
        config.replace("/etc/prometheus/aiops-token", str(tmp_path / "aiops-token")),
        encoding="utf-8")
    checked = _promtool("check", "config", str(tmp_path / "prometheus.yml"))
    assert checked.returncode == 0, checked.stdout + checked.stderr


RULE_TESTS = {
    "rule_files": [str(DEPLOY / "aiops-rules.yml")],
    "evaluation_interval": "1m",
    "tests": [{
        "interval": "1m",
        "input_series": [
            # engine a stores nothing after its start; engine b keeps ingesting
            {"series": 'aiops_events_ingested_total{job="aiops",instance="a",'
                       'disposition="new"}', "values": "5+0x40"},
            {"series": 'aiops_events_ingested_total{job="aiops",instance="b",'
                       'disposition="new"}', "values": "0+10x40"},
            {"series": 'aiops_sink_oldest_pending_seconds{job="aiops",instance="a",'
                       'sink="webhook https://itsm.example/hook"}', "values": "0+60x40"},
        ],
        "alert_rule_test": [
            {"eval_time": "5m", "alertname": "AiopsNotIngesting", "exp_alerts": []},
            {"eval_time": "25m", "alertname": "AiopsNotIngesting", "exp_alerts": [{
                "exp_labels": {"severity": "warning", "instance": "a"},
                "exp_annotations": {"summary": "The AIOps engine at a stored no alert "
                                               "event for 10 minutes"}}]},
            {"eval_time": "10m", "alertname": "AiopsSinkBacklog", "exp_alerts": []},
            {"eval_time": "25m", "alertname": "AiopsSinkBacklog", "exp_alerts": [{
                "exp_labels": {"severity": "warning", "job": "aiops", "instance": "a",
                               "sink": "webhook https://itsm.example/hook"},
                "exp_annotations": {"summary": "Incidents wait for sink webhook "
                                               "https://itsm.example/hook: 25m 0s the "
                                               "longest"}}]},
        ],
    }],
}


def test_the_example_rules_fire_when_they_should(tmp_path: Path) -> None:
    """promtool's rule unit tests: an engine that stops storing events is reported
    after 10 minutes of nothing and 10 more of pending, one that ingests is not; a
    receiver whose oldest incident waits past 15 minutes is reported 5 minutes later."""
    spec = tmp_path / "rules-test.yml"
    spec.write_text(json.dumps(RULE_TESTS, indent=2), encoding="utf-8")
    done = _promtool("test", "rules", str(spec))
    assert done.returncode == 0, done.stdout + done.stderr
