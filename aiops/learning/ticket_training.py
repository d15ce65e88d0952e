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
from aiops.runtime import Runtime, absorber_factory, correlator_factory, splitter_factory
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
    out: dict[str, Any] = {"tickets": len(tickets)}
    cases = cases_from_history(tickets, alerts, topology, model.relations)
    if cases:
        remediation, meta = train_remediation(runtime.registry, cases, runtime.embedder, source,
                                              promote=promote)
        out["remediation"] = {"version": remediation.version, "promoted": promote, **meta}
    else:
        out["remediation"] = None
    settings = runtime.data_dir.settings
    # The incidents the ranking learns on are grouped as the engine groups them: for
    # the untrained default, at the pace the live engine reads (as ``Runtime.regroup``).
    pace = runtime.engine.pace if model.version is None else None
    priors, learned, meta = train_root_ranking(
        runtime.registry, tickets, alerts, topology, model.relations, settings,
        correlator_factory(model, settings, runtime.embedder, pace), source,
        promote=promote, correlation_version=model.version,
        splitter=splitter_factory(model), absorber=absorber_factory(model))
    out["root_priors"] = {**meta, "promoted": promote, "min_tickets": priors.min_tickets,
                          "ranker_min_tickets": learned.min_tickets}
    if promote:
        runtime.use_model(model)
    return out


def promote_if_not_weaker(runtime: Runtime, learned: dict[str, Any],
                          running: CorrelationModel) -> None:
    """Promote what ``train_ticket_models`` saved unpromoted, model by model, unless the
    promoted version learned from more: a scheduled retrain sees only the tickets of
    its days, and must not replace what a larger export (or a longer period) taught
    with less (review). A ranking that cannot run under ``running`` (read with
    another correlation version) does not count as more. Each part gets ``promoted``
    and, when kept out, ``kept_because``; the runtime switches to what was promoted."""
    from aiops.learning.rank_training import load_ticket_models
    from aiops.learning.remediation import MODEL_NAME as REMEDIATION
    from aiops.learning.root_priors import MODEL_NAME as PRIORS
    from aiops.runtime import ranking_for

    registry = runtime.registry
    remediation = learned["remediation"]
    if remediation is not None:
        current = registry.load(REMEDIATION)
        before = int(current["meta"].get("cases", 0)) if current is not None else -1
        remediation["promoted"] = remediation["cases"] >= before
        if remediation["promoted"]:
            registry.promote(REMEDIATION, remediation["version"])
        else:
            remediation["kept_because"] = (f"the promoted v{current['version']} learned from "
                                           f"{before} resolved tickets, this one from "
                                           f"{remediation['cases']}")
    priors = learned["root_priors"]
    current = registry.load(PRIORS)
    before = int(current["meta"].get("tickets", 0)) if current is not None else -1
    old_ranker = load_ticket_models(registry).ranker
    old_runs = old_ranker is not None and old_ranker.usable and \
        ranking_for(running, old_ranker) is not None
    priors["promoted"] = priors["tickets"] >= before or (priors["ranker"]["usable"]
                                                         and not old_runs)
    if priors["promoted"]:
        registry.promote(PRIORS, priors["version"])
    else:
        priors["kept_because"] = (f"the promoted v{current['version']} learned from {before} "
                                  f"tickets, this one from {priors['tickets']}")
    runtime.use_model(running)
