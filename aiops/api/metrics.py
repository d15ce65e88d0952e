"""``GET /metrics``: the engine's own Prometheus metrics (docs/contracts.md, "Metrics").

Each app has a registry of its own, not prometheus_client's global one: the tests,
and anything else that builds several apps in one process, would otherwise register
the same names twice. State and counts are read at scrape time
(``aiops.api.metrics_state``); only what exists nowhere else is counted here, as it
happens: the ingestion requests, by route and status class, and their duration.

Counters are per process and start at zero when it starts (Prometheus takes a reset
as one); ``aiops serve`` runs one engine process per data dir.
"""

from __future__ import annotations

import time

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
)
from prometheus_client.exposition import choose_encoder

from aiops.api.metrics_state import EngineCollector
from aiops.runtime import Runtime

blueprint = Blueprint("metrics", __name__)

REGISTRY_KEY = "aiops_metrics"
# Request seconds: a single alert takes about a millisecond, a batch of 10,000 seconds.
REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                   10.0, 30.0)


class IngestRequests:
    """The two metrics of the ingestion requests, in one app's registry."""

    def __init__(self, registry: CollectorRegistry):
        self.count = Counter(
            "aiops_ingest_requests", "Ingestion requests (alerts and webhooks) answered, "
            "by route and status class (2xx, 4xx, 5xx).", ["route", "code"],
            registry=registry)
        self.seconds = Histogram(
            "aiops_ingest_request_duration_seconds", "Seconds from an ingestion request's "
            "arrival to its answer (parsing, storing), by route.", ["route"],
            registry=registry, buckets=REQUEST_BUCKETS)


def install_metrics(app: Flask, runtime: Runtime) -> None:
    """Give ``app`` its registry and time its ingestion requests. Called before the
    access check is installed: its hook then runs after this one, so a request it
    refuses (401, 403) is timed and counted too."""
    # No ``_created`` series beside each counter and histogram: a gauge per labelled
    # child that Prometheus 2 does not use (it sees resets itself); a process-wide
    # switch, and this process has no other prometheus_client user.
    disable_created_metrics()
    registry = CollectorRegistry(auto_describe=False)
    registry.register(EngineCollector(runtime))
    ProcessCollector(registry=registry)  # process_start_time_seconds, memory, CPU
    requests = IngestRequests(registry)
    app.extensions[REGISTRY_KEY] = registry

    @app.before_request
    def _start_clock() -> None:
        g.aiops_started = time.perf_counter()

    @app.after_request
    def _count_ingest(response: Response) -> Response:
        rule = request.url_rule
        if request.blueprint == "ingest" and request.method == "POST" and rule is not None:
            started = g.get("aiops_started")
            requests.count.labels(rule.rule, f"{response.status_code // 100}xx").inc()
            if started is not None:
                requests.seconds.labels(rule.rule).observe(time.perf_counter() - started)
        return response


@blueprint.get("/metrics")
def metrics() -> Response:
    registry: CollectorRegistry = current_app.extensions[REGISTRY_KEY]
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    return Response(encode(registry), content_type=content_type)
