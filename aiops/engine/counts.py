"""What the engine has done since this process started, for ``GET /metrics``.

Why here and not in the API: alerts reach the engine by many paths (webhooks, the
pull connectors, the drift check, replays), and only the engine sees them all. Why
kept per batch and added only once the batch is stored: a batch whose write fails
is undone in memory, so it must not count either; the counters then say what the
database says happened. Plain integers under the engine's lock: the metrics
collector reads them at scrape time (no second bookkeeping, no cost per alert
beyond an addition).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

ENGINE = "engine"  # correlation merged, hindsight split or absorbed an incident
OPERATOR = "operator"  # feedback through the API or CLI (merge, split)
ORIGINS = (ENGINE, OPERATOR)


@dataclass(slots=True)
class EngineCounts:
    """Counts of one batch, or, added up, of the process so far."""

    dispositions: Counter[str] = field(default_factory=Counter)  # events, by disposition
    opened: int = 0  # incidents opened by an alert that matched none
    merged: Counter[str] = field(default_factory=Counter)  # incidents folded, by origin
    split: Counter[str] = field(default_factory=Counter)  # incidents split, by origin

    def add(self, other: EngineCounts, dispositions: Mapping[str, int] = {}) -> None:
        """Add a stored batch's counts (and its events' dispositions)."""
        self.dispositions.update(other.dispositions)
        self.dispositions.update(dispositions)
        self.opened += other.opened
        self.merged.update(other.merged)
        self.split.update(other.split)

    def copy(self) -> EngineCounts:
        return EngineCounts(Counter(self.dispositions), self.opened, Counter(self.merged),
                            Counter(self.split))
