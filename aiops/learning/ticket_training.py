"""Learning from resolved tickets: remediations, root-cause priors and ranking, at once.

Why one place: ``aiops train --tickets`` and the scheduled retraining
(``aiops.learning.retrain``, from the tickets the connectors stored) must learn the
same things the same way (CONTRACTS.md §4: train "is the same code the scheduled
retraining runs"). Both models read the tickets against the alerts of the same
history and the correlation model that will run: the remediation cases take their
root alert types from its learned relations, and the ranking is learned on the
incidents its correlator forms.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiops.learning.rank_training import train_root_ranking
from aiops.learning.remediation import train_remediation
from aiops.learning.training import CorrelationModel
from aiops.models import Alert, Ticket
from aiops.runtime import Runtime, correlator_factory
from aiops.tickets.cases import cases_from_history


def train_ticket_models(runtime: Runtime, tickets: Sequence[Ticket], alerts: Sequence[Alert],
                        model: CorrelationModel, source: str, promote: bool = True
                        ) -> dict[str, Any]:
    """Fit and save a remediation model and root-cause priors with their learned
    ranking from ``tickets`` over ``alerts`` (the history), promoting them when
    ``promote``; what was learned, for the caller to report. The runtime switches to
    them when promoted. ``remediation`` is None when no ticket says how it was
    resolved (nothing to learn actions from)."""
    topology = runtime.engine.topology
    out: dict[str, Any] = {"tickets": len(tickets), "promoted": promote}
    cases = cases_from_history(tickets, alerts, topology, model.relations)
    if cases:
        remediation, meta = train_remediation(runtime.registry, cases, runtime.embedder, source,
                                              promote=promote)
        out["remediation"] = {"version": remediation.version, **meta}
    else:
        out["remediation"] = None
    settings = runtime.data_dir.settings
    priors, learned, meta = train_root_ranking(
        runtime.registry, tickets, alerts, topology, model.relations, settings,
        correlator_factory(model, settings, runtime.embedder), source, promote=promote,
        correlation_version=model.version)
    out["root_priors"] = {**meta, "min_tickets": priors.min_tickets,
                          "ranker_min_tickets": learned.min_tickets}
    if promote:
        runtime.use_model(model)
    return out
