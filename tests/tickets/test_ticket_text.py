"""Tickets and remediation read alert text as the correlator does: instance names masked.

A past ticket for one pod's crash loop must describe another pod's crash loop better
than a not-ready alert on the very pod of the incident: the kind of fault is what the
remediation depends on, the instance is evidence of its own (entity, topology).
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from aiops.learning.embeddings import TemplateEmbedder
from aiops.learning.remediation import RemediationModel
from aiops.models import Alert, Ticket, parse_alert
from aiops.runtime import Runtime
from aiops.store.queries import get_incident
from aiops.tickets.cases import cases_from_history, query_from_incident
from aiops.tickets.linker import LinkSettings, TicketLinker
from aiops.tickets.recommend import Recommender
from aiops.tickets.store import store_tickets
from topology.graph import TopologyGraph
from topology.model import Node

T0 = 1_800_000_000.0
POD_A = {"namespace": "shop", "pod": "cart-7d9f8b6c4-x2k9p", "container": "cart"}
POD_B = {"namespace": "billing", "pod": "ledger-6b8kx9vq2-mm4rt", "container": "ledger"}
# One Nagios check for pod health: the type says nothing of the kind, the text does.
CHECK = "K8S_POD_HEALTH"
CRASH, NOT_READY = "is crash looping", "is not ready"


def pod_alert(ident: str, pod: dict[str, str], state: str, at: float,
              name: str = CHECK) -> dict[str, Any]:
    summary = f"Pod {pod['namespace']}/{pod['pod']} ({pod['container']}) {state}"
    return {"id": ident, "source": "nagios", "name": name, "entity": "k8s-01",
            "severity": "critical", "summary": summary, "starts_at": at,
            "ends_at": at + 600, "labels": dict(pod)}


def pod_ticket(ident: str, pod: dict[str, str], state: str, at: float, action: str,
               alert_id: str) -> Ticket:
    return Ticket(ident, at + 60, f"Pod {pod['namespace']}/{pod['pod']} {state}",
                  resolved_at=at + 3600, entity="k8s-01", alert_ids=[alert_id],
                  description=f"The {pod['container']} container in {pod['namespace']} "
                              f"{state}.",
                  root_cause=f"{pod['container']} in {pod['namespace']}", resolution=action)


def topology() -> TopologyGraph:
    return TopologyGraph([Node("k8s-01", "host", "k8s-01")], [])


def history() -> tuple[list[Ticket], list[Alert]]:
    """Pod A crash looped (fixed by raising its memory limit), pod B was not ready
    (fixed in its readiness probe), a day apart."""
    alerts = [pod_alert("h1", POD_A, CRASH, T0), pod_alert("h2", POD_B, NOT_READY, T0 + 86400)]
    tickets = [pod_ticket("T-crash", POD_A, CRASH, T0, "Raised the memory limit", "h1"),
               pod_ticket("T-ready", POD_B, NOT_READY, T0 + 86400,
                          "Fixed the readiness probe", "h2")]
    return tickets, [parse_alert(a) for a in alerts]


def stored_incident(runtime: Runtime, alert: dict[str, Any]) -> dict[str, Any]:
    """The incident ``alert`` opens, as the API and replay read it (labels included)."""
    runtime.import_topology([Node("k8s-01", "host", "k8s-01")], [], source="test")
    runtime.engine.ingest([parse_alert(alert)])
    with runtime.db.connect() as conn:
        incident_id = conn.execute(sa.text("SELECT id FROM incidents")).scalar_one()
        return get_incident(conn, incident_id)


def test_a_crash_loop_on_another_pod_is_recommended_the_crash_loops_fix(
        runtime: Runtime) -> None:
    tickets, alerts = history()
    cases = cases_from_history(tickets, alerts, topology())
    crash_case = next(c for c in cases if c.ticket_id == "T-crash")
    # The case keeps no instance names of its own: its text, alerts and cause.
    assert "shop" not in crash_case.symptoms and "cart" not in crash_case.symptoms
    assert crash_case.alert_texts == ["k8s pod health: pod <namespace>/<pod> (<container>) "
                                      "is crash looping"]
    assert crash_case.cause == "<container> in <namespace>"
    incident = stored_incident(runtime, pod_alert("e1", POD_B, CRASH, T0 + 10 * 86400))
    query = query_from_incident(incident, topology())
    assert query.alert_texts == crash_case.alert_texts  # pod B's crash loop reads as pod A's
    embedder = TemplateEmbedder()  # the real numpy MiniLM
    model = RemediationModel().fit(cases, embedder)
    ranked = model.predict(query, embedder)
    assert ranked[0]["action"] == "Raised the memory limit"
    assert ranked[0]["ticket_ids"][0] == "T-crash"
    # Kinds stay apart: pod B's not-ready alert does not read as its crash loop.
    ready_case = next(c for c in cases if c.ticket_id == "T-ready")
    assert ready_case.alert_texts != query.alert_texts
    weights = dict(zip([c.ticket_id for c in model.cases_],
                       model.log_weights(query, embedder), strict=True))
    assert weights["T-crash"] > weights["T-ready"] + 0.1


def test_a_model_stored_before_masking_reads_its_queries_as_it_was_trained(
        runtime: Runtime) -> None:
    """Its cases' texts were read unmasked and cannot be masked again (their labels are
    not stored): the recommender reads the incident unmasked for it, so it scores as
    it did when trained."""
    tickets, alerts = history()
    embedder = TemplateEmbedder()
    model = RemediationModel().fit(cases_from_history(tickets, alerts, topology()), embedder)
    stored = json.loads(json.dumps(model.to_dict()))
    assert stored["text_format"] == 3
    del stored["text_format"]  # as every model before this change was stored
    old = RemediationModel.from_dict(stored)
    assert old.text_format == 1
    incident = stored_incident(runtime, pod_alert("e1", POD_B, CRASH, T0 + 10 * 86400))
    unmasked = query_from_incident(incident, topology(), masked=False)
    assert "billing" in unmasked.alert_texts[0]
    recommended = Recommender(old, embedder).for_incident(incident, topology())
    assert recommended == old.predict(unmasked, embedder)
    masked = query_from_incident(incident, topology())
    assert list(old.log_weights(masked, embedder)) != list(old.log_weights(unmasked,
                                                                             embedder))
    assert RemediationModel.from_dict(json.loads(json.dumps(model.to_dict()))).text_format == 3


LOGIN = "Failed password for invalid user {user} from 10.0.0.9 port 51234 ssh2"


def test_a_model_stored_before_user_masks_reads_user_names_as_it_was_trained(
        runtime: Runtime) -> None:
    """A model of text format 2 read login messages with their user names: the
    recommender leaves them in its queries; a model of format 3 reads them masked."""
    alert = {"id": "e1", "source": "syslog", "name": "sshd_auth_failure",
             "entity": "k8s-01", "severity": "warning",
             "summary": LOGIN.format(user="oracle"), "starts_at": T0, "ends_at": T0 + 600}
    incident = stored_incident(runtime, alert)
    masked = query_from_incident(incident, topology())
    kept = query_from_incident(incident, topology(), format3=False)
    assert "<user>" in masked.alert_texts[0] and "oracle" in kept.alert_texts[0]
    tickets = [Ticket("T-ssh", T0 - 86400, "SSH brute force", resolved_at=T0 - 80000,
                      entity="k8s-01", alert_ids=["h1"], resolution="Blocked the source")]
    past = {**alert, "id": "h1", "summary": LOGIN.format(user="admin"),
            "starts_at": T0 - 86400, "ends_at": T0 - 86000}
    embedder = TemplateEmbedder()
    model = RemediationModel().fit(
        cases_from_history(tickets, [parse_alert(past)], topology()), embedder)
    assert model.cases_[0].alert_texts == masked.alert_texts  # read alike: format 3
    seen: list[list[str]] = []

    class Recording(RemediationModel):
        def predict(self, query, embedder):  # type: ignore[no-untyped-def]
            seen.append(query.alert_texts)
            return super().predict(query, embedder)

    for text_format, expected in ((2, kept), (3, masked)):
        old = Recording.from_dict({**model.to_dict(), "text_format": text_format})
        Recommender(old, embedder).for_incident(incident, topology())
        assert seen[-1] == expected.alert_texts


def test_the_linker_reads_the_kind_of_fault_over_the_instance(runtime: Runtime) -> None:
    """A ticket on pod A's crash loop reads closer to pod B's crash loop than to pod A's
    not-ready alert (unmasked, the two were level: 0.70 and 0.69)."""
    runtime.import_topology([Node("k8s-01", "host", "k8s-01")], [], source="test")
    runtime.engine.ingest([parse_alert(pod_alert("b1", POD_B, CRASH, T0,
                                                 name="KubePodCrashLooping"))])
    runtime.engine.ingest([parse_alert(pod_alert("a1", POD_A, NOT_READY, T0 + 50_000,
                                                 name="KubePodNotReady"))])
    with runtime.db.connect() as conn:
        crash_b, ready_a = conn.execute(
            sa.text("SELECT id FROM incidents ORDER BY seq")).scalars().all()
    ticket = Ticket("T1", T0 + 25_000, "Pod shop/cart-7d9f8b6c4-x2k9p crash looping",
                    description="The cart container in shop restarts every minute",
                    resolved_at=T0 + 25_100)
    # Both incidents within the time horizon, every link kept: the text parts compared.
    linker = TicketLinker(topology(), TemplateEmbedder(),
                          LinkSettings(horizon=100_000.0, min_score=0.0))
    with runtime.db.begin() as conn:
        store_tickets(conn, [ticket], "test", topology().resolve)
        links = {link.incident_id: link for link in linker.link(conn, [ticket])}
    assert links[crash_b].parts["time"] > 0 and links[ready_a].parts["time"] > 0
    assert links[crash_b].parts["text"] > links[ready_a].parts["text"] + 0.05
