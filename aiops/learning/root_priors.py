"""Priors for root-cause ranking learned from resolved tickets: where the cause was.

A resolved ticket names the device that was at fault (its entity) and, through the
alerts it lists or that were around it, the pattern of alarms it was about. Over
many tickets that says two things the alarms alone do not:

* per alert type, how often the device raising it was the one at fault when the
  type was part of a ticketed fault (``type_root_share``): a power-supply alarm
  usually sits on the failed device, a link-down usually on its neighbours;
* how often the device at fault raised nothing at all (``silent_share``): a dead
  device is silent while its neighbours shout, and only tickets can say how common
  that is on this network.

Both are Laplace-smoothed shares, so a type seen in one ticket does not dominate;
the ranker adds them with a weight (``RankWeights.ticket_prior``) and quotes the
counts in the evidence ("in 12 of 15 past tickets with ALM_3, the device raising it
was at fault").
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

from aiops.learning.registry import ModelRegistry
from aiops.models import Alert, Ticket
from topology.graph import TopologyGraph

MODEL_NAME = "root_priors"


class RootCausePriors:
    """Estimator (fit / get_params / to_dict / from_dict) of ticket-learned priors.

    ``min_tickets`` is how many tickets with a resolvable entity and linked alerts
    the fit needs before the priors are used at all (``usable``).
    """

    def __init__(self, min_tickets: int = 10):
        self.min_tickets = min_tickets
        self.present_: Counter[str] = Counter()  # tickets whose alerts had the type
        self.at_root_: Counter[str] = Counter()  # ... and the ticket's device raised it
        self.tickets_ = 0
        self.silent_ = 0

    def get_params(self) -> dict[str, Any]:
        return {"min_tickets": self.min_tickets}

    def fit(self, tickets: Sequence[Ticket], alerts: Sequence[Alert],
            topology: TopologyGraph) -> RootCausePriors:
        """Count, over tickets whose entity resolves to a node and that have alerts,
        which alert types their device raised and which it did not."""
        from aiops.tickets.cases import ticket_alerts  # tickets depend on learning, not back

        self.present_, self.at_root_ = Counter(), Counter()
        self.tickets_ = self.silent_ = 0
        for found in ticket_alerts(tickets, alerts, topology):
            if found.node is None or not found.linked:
                continue
            self.tickets_ += 1
            own = {a.name for a in found.own}
            if not own:
                self.silent_ += 1
            for name in {a.name for a in found.linked}:
                self.present_[name] += 1
                if name in own:
                    self.at_root_[name] += 1
        return self

    @property
    def usable(self) -> bool:
        return self.tickets_ >= self.min_tickets

    def type_root_share(self, name: str) -> tuple[float, int, int]:
        """(smoothed share, times at the faulty device, tickets with the type)."""
        seen, root = self.present_.get(name, 0), self.at_root_.get(name, 0)
        return (root + 1) / (seen + 2), root, seen

    def silent_share(self) -> float:
        """Smoothed share of tickets whose faulty device raised no alert."""
        return (self.silent_ + 1) / (self.tickets_ + 2)

    def to_dict(self) -> dict[str, Any]:
        return {"params": self.get_params(), "tickets": self.tickets_, "silent": self.silent_,
                "types": [[name, self.present_[name], self.at_root_.get(name, 0)]
                          for name in sorted(self.present_)]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RootCausePriors:
        model = cls(**data.get("params", {}))
        model.tickets_ = int(data.get("tickets", 0))
        model.silent_ = int(data.get("silent", 0))
        for name, seen, root in data.get("types", []):
            model.present_[name] = int(seen)
            if root:
                model.at_root_[name] = int(root)
        return model


def load_promoted_priors(registry: ModelRegistry) -> RootCausePriors | None:
    """The promoted root-cause priors, or None when no tickets were trained on."""
    stored = registry.load(MODEL_NAME)
    return None if stored is None else RootCausePriors.from_dict(stored["model"])


def train_root_priors(registry: ModelRegistry, tickets: Sequence[Ticket],
                      alerts: Sequence[Alert], topology: TopologyGraph,
                      source: str) -> tuple[RootCausePriors, dict[str, Any]]:
    """Fit on ``tickets`` and ``alerts``, save as a new version and promote it."""
    started = time.perf_counter()
    model = RootCausePriors().fit(tickets, alerts, topology)
    meta = {"trained_on": source, "tickets": model.tickets_, "silent": model.silent_,
            "types": len(model.present_), "usable": model.usable,
            "seconds": round(time.perf_counter() - started, 3)}
    version = registry.save(MODEL_NAME, model.to_dict(), meta)
    registry.promote(MODEL_NAME, version)
    return model, meta
