"""Sinks: where the engine sends what it decided, after the batch is stored.

A sink receives the incidents and alerts that one ``Engine.ingest`` batch changed,
after the database committed them. The database stays the record; a sink is a
projection of it (the topology graph, ticket links, and the outbox of incidents
pushed to webhooks and ServiceNow: ``aiops.sinks.outbox``, docs/sinks.md), so a
failing sink is logged and never fails ingestion.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from aiops.engine.state import AlertRecord, IncidentRecord


class IncidentSink(Protocol):
    def publish(self, incidents: Iterable[IncidentRecord],
                alerts: Iterable[AlertRecord]) -> None:
        """Send what one stored batch changed; raise on failure (the caller logs it)."""
        ...
