"""Pairwise precision, recall and F1 of a grouping against labelled groups.

A pair of alerts is a true positive when both the grouping and the labels put them
together. The counts come from the contingency table (predicted group × label →
alerts in both), so the cost is linear in the alerts, never quadratic. The same
definition as the correlation benchmark's (benchmarks/correlation/metrics.py), kept
here because the engine must not depend on the benchmark code.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


@dataclass(frozen=True, slots=True)
class PairScore:
    precision: float
    recall: float
    f1: float
    alerts: int  # labelled alerts scored

    def to_dict(self) -> dict[str, float | int]:
        return {"precision": round(self.precision, 4), "recall": round(self.recall, 4),
                "f1": round(self.f1, 4), "alerts": self.alerts}


def pair_score(predicted: Mapping[str, str], labels: Mapping[str, str]) -> PairScore:
    """Score ``predicted`` (alert → group) on the alerts ``labels`` names.

    An alert the prediction does not place counts as a group of its own. With no pair
    claimed (or none to find) precision (recall) is 1: nothing wrong was said.
    """
    table: Counter[tuple[str, str]] = Counter()
    for alert, label in labels.items():
        table[(predicted.get(alert, f"\x00{alert}"), label)] += 1
    rows: Counter[str] = Counter()
    cols: Counter[str] = Counter()
    both = 0
    for (row, col), n in table.items():
        rows[row] += n
        cols[col] += n
        both += _pairs(n)
    claimed = sum(_pairs(n) for n in rows.values())
    true = sum(_pairs(n) for n in cols.values())
    precision = both / claimed if claimed else 1.0
    recall = both / true if true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return PairScore(precision, recall, f1, len(labels))
