"""GET /metrics: the exposition parses, every metric says what it counts, counters move
on the events they name (and only once those are stored), labels stay bounded however
many entities and incidents there are, and the endpoint obeys the access tokens."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from aiops.api import create_app
from aiops.api.access import token_line
from aiops.config import DataDir
from aiops.engine.latency import LatencyHistogram
from aiops.models import parse_alert
from aiops.runtime import Runtime, open_runtime
from tests.integration.test_feedback_api import alert, build, incident_of


def scrape(client: FlaskClient) -> dict[str, Any]:
    """Every family by name, parsed by prometheus_client's own parser."""
    answer = client.get("/metrics")
    assert answer.status_code == 200
    assert answer.content_type.startswith("text/plain; version=0.0.4")
    return {f.name: f for f in text_string_to_metric_families(answer.get_data(as_text=True))}


def value(families: dict[str, Any], name: str, **labels: str) -> float:
    """The one sample named ``name`` with ``labels`` (a counter's ``_total``, a
    histogram's ``_count``: the family is the name without the suffix)."""
    base = next(name.removesuffix(s) for s in ("_total", "_count", "_sum", "_bucket", "")
                if name.removesuffix(s) in families)
    family = families[base]
    found = [s.value for s in family.samples
             if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(found) == 1, (name, labels, family.samples)
    return found[0]


@pytest.fixture
def client(runtime: Runtime) -> FlaskClient:
    build(runtime)
    return create_app(runtime=runtime).test_client()


def test_exposition_parses_and_every_metric_says_what_it_counts(client: FlaskClient) -> None:
    families = scrape(client)
    ours = {n: f for n, f in families.items() if n.startswith("aiops_")}
    assert len(ours) >= 20
    for name, family in ours.items():
        assert len(family.documentation) > 20, name
        if family.type == "counter":
            assert all(s.name.endswith(("_total",)) for s in family.samples), name
    assert families["aiops_alert_placement_seconds"].type == "histogram"
    assert "process_start_time_seconds" in families  # resets are visible as restarts


def test_counters_follow_what_the_engine_stored(client: FlaskClient,
                                                runtime: Runtime) -> None:
    before = scrape(client)
    # build() stored 6 events: 5 new alerts, one resend folded into b2.
    assert value(before, "aiops_events_ingested_total", disposition="new") == 5
    assert value(before, "aiops_events_ingested_total", disposition="duplicate") == 1
    assert value(before, "aiops_events_ingested_total", disposition="refired") == 0
    opened = value(before, "aiops_incidents_opened_total")
    assert opened == 2  # the a-cascade and the far device's
    assert value(before, "aiops_incidents_open") == 2
    assert value(before, "aiops_alerts_firing") == 5
    assert value(before, "aiops_alert_placement_seconds_count") == 6

    posted = client.post("/api/v1/alerts", json=[alert("c1", "x2", 600),
                                                 alert("c1-end", "x2", 600, end=660)])
    assert posted.status_code == 200, posted.get_json()
    assert client.post("/api/v1/alerts", data="not json").status_code == 400
    a, b = incident_of(runtime, "a1"), incident_of(runtime, "b1")
    assert client.post(f"/api/v1/incidents/{a}/merge",
                       json={"incident_ids": [b]}).status_code == 200
    assert client.post(f"/api/v1/incidents/{a}/split",
                       json={"alert_ids": ["b1", "b2"]}).status_code == 200

    after = scrape(client)
    assert value(after, "aiops_events_ingested_total", disposition="new") == 6
    assert value(after, "aiops_events_ingested_total", disposition="resolved") == 1
    assert value(after, "aiops_incidents_opened_total") == opened + 1
    assert value(after, "aiops_incident_merges_total", origin="operator") == 1
    assert value(after, "aiops_incident_splits_total", origin="operator") == 1
    assert value(after, "aiops_alerts_firing") == 5  # c1 fired and resolved
    route = "/api/v1/alerts"
    assert value(after, "aiops_ingest_requests_total", route=route, code="2xx") == 1
    assert value(after, "aiops_ingest_requests_total", route=route, code="4xx") == 1
    assert value(after, "aiops_ingest_request_duration_seconds_count", route=route) == 2
    assert value(after, "aiops_alert_placement_seconds_count") == 8


def test_a_batch_that_was_not_stored_does_not_count(client: FlaskClient,
                                                    runtime: Runtime) -> None:
    with runtime.db.begin() as conn:  # the next write fails: the table is gone
        conn.exec_driver_sql("ALTER TABLE raw_events RENAME TO raw_events_away")
    with pytest.raises(sa.exc.OperationalError):
        runtime.engine.ingest([parse_alert(alert("z1", "x1", 700))])
    with runtime.db.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE raw_events_away RENAME TO raw_events")
    families = scrape(client)
    assert value(families, "aiops_events_ingested_total", disposition="new") == 5
    assert value(families, "aiops_incidents_opened_total") == 2


def test_labels_stay_bounded_whatever_the_alerts_name(client: FlaskClient,
                                                      runtime: Runtime) -> None:
    def series() -> set[tuple[str, tuple[tuple[str, str], ...]]]:
        return {(s.name, tuple(sorted(s.labels.items())))
                for f in scrape(client).values() if f.name.startswith("aiops_")
                for s in f.samples}

    client.post("/api/v1/alerts", json=alert("warm", "x1", 700))
    first = series()
    for batch in range(4):  # 200 entities never seen, each its own incident
        client.post("/api/v1/alerts", json=[
            {**alert(f"n{batch}-{i}", f"host-{batch}-{i}", 800 + batch), "name": f"T{i}"}
            for i in range(50)])
    assert value(scrape(client), "aiops_alerts_unresolved_entity") == 200
    assert series() == first
    words = " ".join(v for _, labels in first for _, v in labels)
    assert "host-" not in words and "inc-" not in words and "x1" not in words


def test_two_apps_in_one_process_have_their_own_registry(runtime: Runtime) -> None:
    one, two = create_app(runtime=runtime), create_app(runtime=runtime)
    one.test_client().post("/api/v1/alerts", json=alert("only-one", "x1", 0))
    assert value(scrape(one.test_client()), "aiops_ingest_requests_total",
                 route="/api/v1/alerts", code="2xx") == 1
    assert scrape(two.test_client())["aiops_ingest_requests"].samples == []


def test_placement_histogram_counts_exactly_at_its_bounds() -> None:
    histogram = LatencyHistogram()
    times = [2e-6, 1.2e-5, 3e-5, 4e-5, 9e-5, 2.5e-4, 3e-3, 0.02, 0.2, 3.0]
    for seconds in times:
        histogram.record(seconds)
    buckets = histogram.cumulative(1e-5, 0.1, 4)
    assert [le for le, _ in buckets][::4] == [1e-5, 1e-4, 1e-3, 1e-2, 1e-1]
    for le, n in buckets:
        assert n == sum(1 for t in times if t < le), le
    assert math.isclose(histogram.sum, sum(times))
    with pytest.raises(ValueError):
        histogram.cumulative(1e-5, 0.1, 3)


def test_metrics_need_a_read_token_when_tokens_are_on(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text(token_line("prom", ["read"], "prom-token-0123456789") + "\n"
                      + token_line("nms", ["ingest"], "nms-token-0123456789") + "\n",
                      encoding="utf-8")
    rt = open_runtime(replace(DataDir.from_env(tmp_path / "data"),
                              api_tokens_file=str(tokens)))
    try:
        client = create_app(runtime=rt).test_client()
        assert client.get("/metrics").status_code == 401
        nms = client.get("/metrics", headers={"Authorization": "Bearer nms-token-0123456789"})
        assert nms.status_code == 403
        refused = client.post("/api/v1/alerts", json=alert("r1", "x1", 0))
        assert refused.status_code == 401
        prom = client.get("/metrics", headers={"Authorization": "Bearer prom-token-0123456789"})
        assert prom.status_code == 200
        families = {f.name: f for f in text_string_to_metric_families(prom.get_data(as_text=True))}
        # the refused ingestion is counted: a sender whose token is wrong shows
        assert value(families, "aiops_ingest_requests_total", route="/api/v1/alerts",
                     code="4xx") == 1
    finally:
        rt.close()


def test_openmetrics_is_served_to_who_asks_for_it(client: FlaskClient) -> None:
    answer = client.get("/metrics", headers={
        "Accept": "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"})
    assert answer.content_type.startswith("application/openmetrics-text")
    assert answer.get_data(as_text=True).rstrip().endswith("# EOF")
