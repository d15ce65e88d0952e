"""Grouping and root-cause quality of a prediction against a scenario's ground truth.

Grouping is scored over *pairs of alert events*: a pair is a true positive when both
the prediction and the truth put the two events in one group. Pair counts come from
the contingency table (predicted group × true group → events in both), so the cost
is linear in the number of events, never quadratic:

* pairs together in the prediction  P = Σ_i C(a_i, 2)   (a_i: size of predicted group i)
* pairs together in the truth       T = Σ_j C(b_j, 2)   (b_j: size of true group j)
* pairs together in both            X = Σ_ij C(n_ij, 2)

precision = X / P, recall = X / T (1.0 when the denominator is 0: nothing claimed,
nothing missed), F1 their harmonic mean, and the adjusted Rand index
ARI = (X − P·T/C(n,2)) / ((P + T)/2 − P·T/C(n,2)) (Hubert & Arabie 1985; 1.0 when
the denominator is 0, as scikit-learn does for two identical trivial partitions).

Noise reduction = 1 − predicted groups / events: the share of notifications an
operator is spared compared with one per event.

Root cause, AC@k: for each *fault* of the truth (background alarms are excluded:
their root is trivially their own entity), take the predicted group holding the
most of its events. The fault is a hit@k when that group's first k ranked
root-cause entities contain the fault's root entity. AC@k is hits / faults. When
several groups hold the same largest share, each of them counts 1/(number tied) of
the fault (the expected score of a random pick among them): taking the group
*listed first* made the score depend on the order a method writes its groups in,
which differs between methods (the engine lists incidents by start, the
Alertmanager baseline by when a group closed) and so favoured some of them. A
method that splits a fault is judged on the piece with most of its alarms; one that
merges faults can hit only the fault whose root it ranks first.
The same figures restricted to faults with a silent root (``ac1_silent``,
``ac3_silent``) show whether a method can name a device that raised nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Prediction:
    """Groups of alert event ids, each with its ranked root-cause entities."""

    groups: list[list[str]] = field(default_factory=list)
    root_causes: list[list[str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if len(self.root_causes) < len(self.groups):
            self.root_causes.extend([] for _ in range(len(self.groups) - len(self.root_causes)))


def comb2(n: int) -> int:
    return n * (n - 1) // 2


@dataclass(frozen=True)
class PairCounts:
    """The three pair counts every grouping score derives from, plus the event count."""

    together_predicted: int
    together_true: int
    together_both: int
    events: int

    @classmethod
    def from_contingency(cls, table: Mapping[tuple[int, str], int]) -> PairCounts:
        rows: Counter[int] = Counter()
        cols: Counter[str] = Counter()
        both = 0
        for (row, col), n in table.items():
            rows[row] += n
            cols[col] += n
            both += comb2(n)
        return cls(sum(comb2(n) for n in rows.values()), sum(comb2(n) for n in cols.values()),
                   both, sum(rows.values()))

    @property
    def precision(self) -> float:
        return self.together_both / self.together_predicted if self.together_predicted else 1.0

    @property
    def recall(self) -> float:
        return self.together_both / self.together_true if self.together_true else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def ari(self) -> float:
        total = comb2(self.events)
        if total == 0:
            return 1.0
        expected = self.together_predicted * self.together_true / total
        best = (self.together_predicted + self.together_true) / 2
        if best == expected:
            return 1.0
        return (self.together_both - expected) / (best - expected)


def assign(prediction: Prediction, alert_group: Mapping[str, str]) -> tuple[list[int], int, int]:
    """Predicted group index per true alert, in ``alert_group`` order.

    Alerts the prediction left out become singletons (counted as ``missing``); ids
    the truth does not know are ignored (counted as ``unknown``). Both should be 0
    for a method that honours the contract; they are reported so it shows if not.
    """
    where: dict[str, int] = {}
    unknown = 0
    for index, group in enumerate(prediction.groups):
        for alert_id in group:
            if alert_id in alert_group:
                where.setdefault(alert_id, index)
            else:
                unknown += 1
    missing = 0
    out: list[int] = []
    next_index = len(prediction.groups)
    for alert_id in alert_group:
        index = where.get(alert_id)
        if index is None:
            index, next_index, missing = next_index, next_index + 1, missing + 1
        out.append(index)
    return out, missing, unknown


def contingency(predicted: Sequence[int], true: Sequence[str]) -> Counter[tuple[int, str]]:
    return Counter(zip(predicted, true, strict=True))


def root_cause_accuracy(table: Mapping[tuple[int, str], int], prediction: Prediction,
                        groups: Mapping[str, Mapping[str, Any]]) -> dict[str, float | int]:
    """AC@1 / AC@3 over faults (and over silent-root faults), as the module doc defines."""
    holders: dict[str, tuple[int, list[int]]] = {}  # true group -> (events, tied rows)
    for (row, col), n in table.items():
        best = holders.get(col)
        if best is None or n > best[0]:
            holders[col] = (n, [row])
        elif n == best[0]:
            best[1].append(row)
    hits: Counter[str] = Counter()
    for col, (_, rows) in holders.items():
        info = groups.get(col, {})
        if info.get("kind") != "fault":
            continue
        root = info["root_entity"]
        tags = ("", "_silent") if info.get("silent") else ("",)
        for row in rows:
            ranked = prediction.root_causes[row] if row < len(prediction.root_causes) else []
            for tag in tags:
                hits["hit1" + tag] += (root in ranked[:1]) / len(rows)
                hits["hit3" + tag] += (root in ranked[:3]) / len(rows)
        for tag in tags:
            hits["faults" + tag] += 1

    def share(key: str, tag: str) -> float:
        return hits[key + tag] / hits["faults" + tag] if hits["faults" + tag] else 0.0

    return {"ac1": share("hit1", ""), "ac3": share("hit3", ""),
            "ac1_silent": share("hit1", "_silent"), "ac3_silent": share("hit3", "_silent"),
            "faults": hits["faults"], "silent_faults": hits["faults_silent"]}


def evaluate(prediction: Prediction, period_truth: Mapping[str, Any]) -> dict[str, float | int]:
    """All scores of ``prediction`` against one period of truth.json."""
    alert_group: Mapping[str, str] = period_truth["alerts"]
    predicted, missing, unknown = assign(prediction, alert_group)
    table = contingency(predicted, list(alert_group.values()))
    pairs = PairCounts.from_contingency(table)
    used_groups = len(set(predicted))
    scores: dict[str, float | int] = {
        "alerts": pairs.events, "groups": used_groups,
        "true_groups": len(set(alert_group.values())),
        "precision": pairs.precision, "recall": pairs.recall, "f1": pairs.f1, "ari": pairs.ari,
        "noise_reduction": 1.0 - used_groups / pairs.events if pairs.events else 0.0,
        "missing": missing, "unknown": unknown,
    }
    scores.update(root_cause_accuracy(table, prediction, period_truth["groups"]))
    return scores
