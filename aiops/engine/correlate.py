"""Correlation: which incident(s) a new alert belongs to.

The engine only knows this interface, so correlators are replaced without
touching the pipeline; the default is ``aiops.engine.scored_correlator``.
"""

from __future__ import annotations

from typing import Protocol

from aiops.engine.index import IncidentIndex
from aiops.engine.placement import Why
from aiops.engine.state import AlertRecord, IncidentRecord
from aiops.models import Alert


class Correlator(Protocol):
    """Places alerts into incidents."""

    horizon: float  # seconds after its last alert that an incident stays a candidate

    def prepare(self, events: list[Alert]) -> None:
        """Called once per batch before placement (e.g. to embed its texts in one go)."""
        ...

    def place(self, alert: AlertRecord, index: IncidentIndex) -> list[IncidentRecord]:
        """Incidents ``alert`` belongs to, best first; several means they are one fault."""
        ...

    def explain(self, alert: AlertRecord, chosen: list[IncidentRecord],
                index: IncidentIndex) -> Why | None:
        """Why the last ``place`` of ``alert`` chose ``chosen``, from what it computed
        then (``aiops.engine.placement``); None when it kept nothing."""
        ...
