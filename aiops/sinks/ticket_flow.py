"""The one order of requests every ticket system's sink follows (ServiceNow, RT, Jira).

Why one place: the rules are the outbox's, not a receiver's, and three copies of them
drifted apart before (a merged incident that made a record only to close it, a lost
create answer made twice): an outbox row that knows the receiver's id updates it; one
that does not first looks for what a lost create answer, or an incident re-opened
after its row was pruned, left there; an incident merged before its first send gets
nothing (the incident it went into has the alerts and its own ticket); one that ended
before its first send is created and closed at once, so the outage is on record as it
happened. Each system says how it finds, creates and updates (``TicketSystem``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from aiops.sinks.http import DELIVERED, Outcome


@dataclass(frozen=True, slots=True)
class Found:
    """What a search found for the incident: its id there, and whether it must re-open
    (closed there while the incident is open here)."""

    external_id: str
    reopen: bool = False


class TicketSystem(Protocol):
    kind: str  # what it calls one: "record", "ticket", "issue"

    def find(self, document: dict[str, Any]) -> Found | None | Outcome: ...

    def create(self, document: dict[str, Any]) -> Outcome: ...

    def update(self, document: dict[str, Any], external_id: str,
               reopen: bool = False) -> Outcome: ...


def send_ticket(system: TicketSystem, document: dict[str, Any],
                external_id: str | None) -> Outcome:
    """Deliver ``document`` to ``system`` (module docstring for the order)."""
    if external_id is not None:
        return system.update(document, external_id)
    found = system.find(document)
    if isinstance(found, Outcome):
        return found
    if found is not None:
        return system.update(document, found.external_id, found.reopen)
    if document["status"] == "merged":
        return Outcome(DELIVERED, f"{document['incident_id']} merged into "
                                  f"{document['merged_into']} before its first send: "
                                  f"no {system.kind} created")
    created = system.create(document)
    if created.kind != DELIVERED or document["status"] == "open":
        return created
    assert created.external_id is not None
    return system.update(document, created.external_id)
