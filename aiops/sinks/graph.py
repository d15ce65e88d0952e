"""Incidents and alerts in the topology graph, linked to the nodes they are about.

So that an operator can ask the graph, in Cypher, "which incidents touched this
site last week" (docs/topology.md has such queries, and a test runs them), every
stored batch is projected into the Neo4j graph that holds the topology
(:mod:`topology.neo4j_store`)::

    (:Incident {id, status, title, severity, started_at, updated_at, resolved_at,
                alert_count, merged_into})
        -[:TOUCHED {first_at}]->(:Node)      a node one of its alerts is about
        -[:ROOT_CAUSE {rank, score}]->(:Node)  ranked candidates that are nodes (top 3)
        -[:MERGED_INTO]->(:Incident)
    (:Alert {id, name, entity, severity, status, starts_at, ends_at, summary, source,
             incident_id, node_id})
        -[:ABOUT]->(:Node)
        -[:IN]->(:Incident)

Times are epoch seconds (event time, as in the database). Every statement is an
idempotent MERGE keyed by id, so publishing the same records again changes
nothing, and a publish that failed half-way is repaired by the next publish of the
same incident. The SQL database stays the record: the summary is cut to
``summary_chars`` and descriptions and labels are not copied.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from aiops.engine.state import MERGED, AlertRecord, IncidentRecord
from topology.cypher import BoltGraph

log = logging.getLogger(__name__)

ROOT_CAUSES_KEPT = 3

INCIDENTS = """
UNWIND $rows AS r
MERGE (i:Incident {id: r[0]})
SET i.status = r[1], i.title = r[2], i.severity = r[3], i.started_at = r[4],
    i.updated_at = r[5], i.resolved_at = r[6], i.alert_count = r[7], i.merged_into = r[8]"""

MERGED_INTO = """
UNWIND $rows AS r
MATCH (i:Incident {id: r[0]})
MATCH (j:Incident {id: r[1]})
MERGE (i)-[:MERGED_INTO]->(j)"""

# A merged incident's alerts moved to the one it merged into, which now touches
# the same nodes; its own links would count the same fault twice.
UNLINK_MERGED = """
UNWIND $rows AS key
MATCH (:Incident {id: key})-[t:TOUCHED]->()
DELETE t"""

CLEAR_ROOT_CAUSES = """
UNWIND $rows AS key
MATCH (:Incident {id: key})-[c:ROOT_CAUSE]->()
DELETE c"""

ROOT_CAUSES = """
UNWIND $rows AS r
MATCH (i:Incident {id: r[0]})
MATCH (n:Node {id: r[1]})
MERGE (i)-[c:ROOT_CAUSE]->(n)
SET c.rank = r[2], c.score = r[3]"""

ALERTS = """
UNWIND $rows AS r
MERGE (a:Alert {id: r[0]})
SET a.name = r[1], a.entity = r[2], a.severity = r[3], a.status = r[4],
    a.starts_at = r[5], a.ends_at = r[6], a.summary = r[7], a.source = r[8],
    a.incident_id = r[9], a.node_id = r[10]"""

# Two statements rather than OPTIONAL MATCH ... DELETE ... MERGE in one: plainer
# Cypher that both servers run the same way.
LEAVE_OTHER_INCIDENTS = """
UNWIND $rows AS r
MATCH (:Alert {id: r[0]})-[old:IN]->(other:Incident)
WHERE other.id <> r[1]
DELETE old"""

JOIN_INCIDENT = """
UNWIND $rows AS r
MATCH (a:Alert {id: r[0]})
MATCH (i:Incident {id: r[1]})
MERGE (a)-[:IN]->(i)"""

ABOUT = """
UNWIND $rows AS r
MATCH (a:Alert {id: r[0]})
MATCH (n:Node {id: r[1]})
MERGE (a)-[:ABOUT]->(n)"""

TOUCHED = """
UNWIND $rows AS r
MATCH (i:Incident {id: r[0]})
MATCH (n:Node {id: r[1]})
MERGE (i)-[t:TOUCHED]->(n)
ON CREATE SET t.first_at = r[2]
SET t.first_at = CASE WHEN t.first_at > r[2] THEN r[2] ELSE t.first_at END"""


class IncidentGraphSink:
    """Projects each stored batch's incidents and alerts into the graph (see module doc).

    Shares the topology store's :class:`BoltGraph` (one driver per process).
    """

    def __init__(self, graph: BoltGraph, summary_chars: int = 200):
        self.graph = graph
        self.summary_chars = summary_chars

    @classmethod
    def for_store(cls, store: object) -> IncidentGraphSink | None:
        """A sink on ``store``'s graph when it is a Bolt store; None for the embedded
        default, which has no graph to link incidents into."""
        graph = getattr(store, "graph", None)
        return cls(graph) if isinstance(graph, BoltGraph) else None

    def publish(self, incidents: Iterable[IncidentRecord],
                alerts: Iterable[AlertRecord]) -> tuple[int, int]:
        """Write (MERGE) the records and their links; returns (incidents, alerts)."""
        incidents = list(incidents)
        alerts = list(alerts)
        write = self.graph.write_rows
        write(INCIDENTS, [self._incident_row(i) for i in incidents], _describe_incident)
        merged = [i for i in incidents if i.status == MERGED]
        write(MERGED_INTO, [[i.id, i.merged_into] for i in merged if i.merged_into])
        write(UNLINK_MERGED, [i.id for i in merged])
        write(CLEAR_ROOT_CAUSES, [i.id for i in incidents])
        write(ROOT_CAUSES, [row for i in incidents for row in self._root_cause_rows(i)])
        write(ALERTS, [self._alert_row(a) for a in alerts], _describe_alert)
        member = [[a.id, a.incident_id] for a in alerts if a.incident_id]
        write(LEAVE_OTHER_INCIDENTS, member)
        write(JOIN_INCIDENT, member)
        write(ABOUT, [[a.id, a.node_id] for a in alerts if a.node_id])
        write(TOUCHED, self._touched_rows(alerts, {i.id for i in merged}))
        return len(incidents), len(alerts)

    @staticmethod
    def _incident_row(i: IncidentRecord) -> list[Any]:
        return [i.id, i.status, i.title(), i.severity, i.started_at, i.updated_at,
                i.resolved_at, len(i.alerts), i.merged_into]

    @staticmethod
    def _root_cause_rows(i: IncidentRecord) -> list[list[Any]]:
        if i.status == MERGED:
            return []
        ranked = [rc for rc in i.root_causes if rc.node_id][:ROOT_CAUSES_KEPT]
        return [[i.id, rc.node_id, rank, round(rc.score, 4)]
                for rank, rc in enumerate(ranked, start=1)]

    def _alert_row(self, a: AlertRecord) -> list[Any]:
        return [a.id, a.name, a.entity, a.severity, a.status, a.starts_at, a.ends_at,
                a.event.summary[:self.summary_chars], a.event.source, a.incident_id,
                a.node_id]

    @staticmethod
    def _touched_rows(alerts: list[AlertRecord], merged: set[str]) -> list[list[Any]]:
        first: dict[tuple[str, str], float] = {}
        for a in alerts:
            if a.incident_id and a.node_id and a.incident_id not in merged:
                key = (a.incident_id, a.node_id)
                first[key] = min(first.get(key, a.starts_at), a.starts_at)
        return [[inc, node, at] for (inc, node), at in sorted(first.items())]


def _describe_incident(row: list[Any]) -> str:
    return f"incident {row[0]!r}"


def _describe_alert(row: list[Any]) -> str:
    return f"alert {row[0]!r}"
