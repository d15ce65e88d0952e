"""The outbox and the retention in GET /metrics: sends by receiver and outcome, the
backlog waiting for a receiver that is down, and the rows retention deleted."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from aiops.api import create_app
from aiops.config import RetentionSettings
from aiops.models import parse_alert
from aiops.retention_loop import RetentionLoop
from aiops.runtime import Runtime
from aiops.sinks.webhook import webhook_name
from tests.conftest import free_port
from tests.sinks.receiver import Receiver, serving_on
from tests.sinks.receiver import webhook_handler as webhook
from tests.sinks.runtimes import open_sink_runtime
from tests.sinks.test_webhook_outbox import Clock, alert, env, loop_for  # noqa: F401


def samples(rt: Runtime) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = create_app(runtime=rt).test_client().get("/metrics").get_data(as_text=True)
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(text) for s in f.samples}


def test_sends_and_backlog_per_receiver(tmp_path: Path,
                                        env: pytest.MonkeyPatch) -> None:  # noqa: F811
    port = free_port()
    url = f"http://127.0.0.1:{port}/hook"
    sink = webhook_name(url)
    clock = Clock()
    rt = open_sink_runtime(tmp_path, env, webhook_urls=url)
    try:
        rt.delivery = loop = loop_for(rt, clock)
        rt.engine.ingest([alert("a1")])
        loop.run_once()  # nobody listens: a retry
        down = samples(rt)
        assert down["aiops_sink_sends_total", (("outcome", "retry"), ("sink", sink))] == 1
        assert down["aiops_sink_sends_total", (("outcome", "delivered"), ("sink", sink))] == 0
        assert down["aiops_sink_pending_rows", (("sink", sink),)] == 1
        assert down["aiops_sink_oldest_pending_seconds", (("sink", sink),)] >= 0
        with serving_on(webhook(Receiver()), port):
            clock.now += 600  # past the back-off
            assert loop.run_once() == 1
        up = samples(rt)
        assert up["aiops_sink_sends_total", (("outcome", "delivered"), ("sink", sink))] == 1
        assert up["aiops_sink_pending_rows", (("sink", sink),)] == 0
        assert up["aiops_sink_oldest_pending_seconds", (("sink", sink),)] == 0
    finally:
        rt.close()


def test_rows_deleted_by_retention(tmp_path: Path,
                                   env: pytest.MonkeyPatch) -> None:  # noqa: F811
    rt = open_sink_runtime(tmp_path, env)
    try:
        now, day = time.time(), 86400.0
        rt.engine.ingest([parse_alert({
            "id": i, "source": "nms", "name": "LINK_DOWN", "entity": entity,
            "severity": "major", "summary": "down", "starts_at": now - ago,
            "ends_at": now - ago + 60}) for i, entity, ago in (("old", "r1", 30 * day),
                                                               ("new", "r2", 3600))])
        rt.retention = RetentionLoop(
            rt.db, replace(rt.data_dir, retention=RetentionSettings(keep=7 * day)))
        report = rt.retention.prune_once()
        assert report.deleted["alerts"] >= 1
        got = samples(rt)
        for table, n in report.deleted.items():
            if n:
                assert got["aiops_retention_rows_deleted_total", (("table", table),)] == n
    finally:
        rt.retention = None  # never started: nothing for close() to stop
        rt.close()
