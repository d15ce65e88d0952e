"""Remediation recommendations learned from resolved tickets: similar past cases vote.

Each resolved ticket becomes a *case*: its symptoms (ticket text and the texts of the
alerts it was about), the cause the engineers wrote down, the root alert type, the
kind and role of the entity, and the action taken (its resolution text) with
whether it worked. Resolution texts vary ("replaced PSU 2 on ne-12", "swapped the
failed power supply"), so ``fit`` first groups them into *actions*: templates
whose MiniLM embeddings are at least ``action_similarity`` alike share an action
(``action_key`` first drops device names, numbers and ids), named by its most
frequent wording.

For an incident, each case is scored by similarity::

    sim = w_text·cos(symptoms) + w_cause·cos(cause) + w_type·[same root alert type]
          + w_types·Jaccard(alert types) + w_role·[same entity role] + w_kind·[same kind]

The ``k`` most similar cases vote for their action with weight ``sim**sharpness``
if it worked (a failed attempt adds to "tried", not to the score); an action's
score is its share of all the neighbours' weight, so scores lie in [0, 1] and
reflect both how alike the past cases are and how often the action fixed them.
A k-nearest-neighbour vote rather than a trained classifier because tickets are
few (hundreds, not millions), actions are many and open-ended, and every
recommendation must cite the tickets it comes from.
"""

from __future__ import annotations

import re
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from aiops.learning.embeddings import TemplateEmbedder
from aiops.learning.registry import ModelRegistry
from aiops.learning.templates import template

MODEL_NAME = "remediation"
# Resolution codes (ServiceNow close_code, Jira resolution, labels.outcome) that say
# the recorded action did not fix the problem.
FAILED_MARKERS = ("not solved", "not fixed", "unresolved", "won't", "wont", "cannot reproduce",
                  "can't reproduce", "duplicate", "rejected", "failed", "did not help",
                  "no fix")


_MASKED_WORD = re.compile(r"\S*<[a-z0-9]+>\S*")
_DANGLING = re.compile(r"\b(?:on|at|in|of|for|to|from|with|via)$")


def action_key(text: str) -> str:
    """What is compared of a resolution text: its template without the masked words
    (device names with numbers, ports, ids) and a preposition they leave dangling, so
    "Replaced the failed PSU on ne-12" and "replaced the failed PSU" are one action."""
    key = _MASKED_WORD.sub(" ", template(text))
    key = " ".join(key.split()).strip(" ,.;:-")
    return _DANGLING.sub("", key).strip(" ,.;:-") or template(text)


def ticket_worked(labels: dict[str, Any]) -> bool:
    """Whether a ticket's resolution fixed the problem, from its outcome or resolution code."""
    for key in ("outcome", "resolution_code", "close_code", "resolution"):
        value = labels.get(key)
        if isinstance(value, str) and any(m in value.lower() for m in FAILED_MARKERS):
            return False
    return True


@dataclass
class RemediationCase:
    """One resolved ticket as the model sees it."""

    ticket_id: str
    action: str
    worked: bool = True
    symptoms: str = ""
    alert_texts: list[str] = field(default_factory=list)
    alert_types: list[str] = field(default_factory=list)
    cause: str | None = None
    root_type: str | None = None
    entity_kind: str | None = None
    entity_role: str | None = None


@dataclass
class RemediationQuery:
    """What is known of an incident when asking for remediations."""

    alert_texts: list[str]
    alert_types: list[str]
    root_type: str | None = None
    cause: str | None = None
    entity_kind: str | None = None
    entity_role: str | None = None


@dataclass(frozen=True)
class RemediationParams:
    k: int = 25
    sharpness: float = 10.0
    action_similarity: float = 0.7
    w_text: float = 0.35
    w_cause: float = 0.10
    w_type: float = 0.25
    w_types: float = 0.15
    w_role: float = 0.10
    w_kind: float = 0.05
    top: int = 5


def _unit(vectors: list[np.ndarray], dim: int) -> np.ndarray:
    if not vectors:
        return np.zeros(dim, dtype=np.float32)
    mean = np.mean(vectors, axis=0)
    norm = float(np.linalg.norm(mean))
    return mean / norm if norm > 0 else mean


class RemediationModel:
    """Estimator: ``fit(cases)`` groups actions, ``predict(query)`` ranks them."""

    def __init__(self, params: RemediationParams | None = None):
        self.params = params or RemediationParams()
        self.cases_: list[RemediationCase] = []
        self.case_action_: list[int] = []
        self.actions_: list[str] = []
        self.version: int | None = None
        self._matrix: np.ndarray | None = None  # case symptom vectors, built on first use
        self._causes: np.ndarray | None = None
        self._columns: dict[str, np.ndarray] = {}
        self._type_index: dict[str, int] = {}
        self._types = np.zeros((0, 0), dtype=np.float32)

    # -- fitting ---------------------------------------------------------------------
    def fit(self, cases: Sequence[RemediationCase], embedder: TemplateEmbedder
            ) -> RemediationModel:
        usable = [c for c in cases if c.action.strip()]
        wordings = Counter(c.action.strip() for c in usable)
        by_template: dict[str, Counter[str]] = defaultdict(Counter)
        for text, n in wordings.items():
            by_template[action_key(text)][text] += n
        order = sorted(by_template, key=lambda t: (-sum(by_template[t].values()), t))
        embedder.prepare(order)
        leaders: list[str] = []
        cluster_of: dict[str, int] = {}
        for tpl in order:
            vec = embedder.vector(tpl)
            sims = [float(np.dot(vec, embedder.vector(lead))) for lead in leaders]
            best = int(np.argmax(sims)) if sims else -1
            if best >= 0 and sims[best] >= self.params.action_similarity:
                cluster_of[tpl] = best
            else:
                cluster_of[tpl] = len(leaders)
                leaders.append(tpl)
        names: list[Counter[str]] = [Counter() for _ in leaders]
        for tpl, counts in by_template.items():
            names[cluster_of[tpl]].update(counts)
        self.actions_ = [counts.most_common(1)[0][0] for counts in names]
        self.cases_ = list(usable)
        self.case_action_ = [cluster_of[action_key(c.action.strip())] for c in usable]
        self._matrix = self._causes = None
        return self

    # -- predicting ------------------------------------------------------------------
    def _prepare(self, embedder: TemplateEmbedder) -> None:
        if self._matrix is not None:
            return
        texts = {t for c in self.cases_ for t in (c.symptoms, *c.alert_texts, c.cause or "")
                 if t}
        embedder.prepare(sorted(texts))
        dim = int(embedder.vector("alert").shape[0])
        rows, causes = [], []
        for case in self.cases_:
            parts = []
            if case.symptoms:
                parts.append(embedder.vector(case.symptoms))
            if case.alert_texts:
                parts.append(_unit([embedder.vector(t) for t in case.alert_texts], dim))
            rows.append(_unit(parts, dim))
            causes.append(embedder.vector(case.cause) if case.cause
                          else np.zeros(dim, dtype=np.float32))
        self._matrix = np.array(rows, dtype=np.float32).reshape(len(rows), dim)
        self._causes = np.array(causes, dtype=np.float32).reshape(len(causes), dim)
        # Categorical features as arrays, so scoring a query is a few vector operations.
        self._columns = {name: np.array([getattr(c, name) or "" for c in self.cases_],
                                        dtype=object)
                         for name in ("root_type", "entity_role", "entity_kind")}
        types = sorted({t for c in self.cases_ for t in c.alert_types})
        self._type_index = {t: i for i, t in enumerate(types)}
        self._types = np.zeros((len(self.cases_), len(types)), dtype=np.float32)
        for row, case in enumerate(self.cases_):
            for t in case.alert_types:
                self._types[row, self._type_index[t]] = 1.0

    def similarities(self, query: RemediationQuery, embedder: TemplateEmbedder) -> np.ndarray:
        """Similarity of the query to every case, in case order."""
        if not self.cases_:
            return np.zeros(0, dtype=np.float32)
        self._prepare(embedder)
        assert self._matrix is not None and self._causes is not None
        p = self.params
        dim = self._matrix.shape[1]
        embedder.prepare(query.alert_texts + ([query.cause] if query.cause else []))
        q_text = _unit([embedder.vector(t) for t in query.alert_texts], dim)
        sims = p.w_text * np.clip(self._matrix @ q_text, 0.0, 1.0)
        if query.cause:
            sims += p.w_cause * np.clip(self._causes @ embedder.vector(query.cause), 0.0, 1.0)
        for weight, name, value in ((p.w_type, "root_type", query.root_type),
                                    (p.w_role, "entity_role", query.entity_role),
                                    (p.w_kind, "entity_kind", query.entity_kind)):
            if value:
                sims += weight * (self._columns[name] == value).astype(np.float32)
        wanted = np.zeros(self._types.shape[1], dtype=np.float32)
        for t in query.alert_types:
            if t in self._type_index:
                wanted[self._type_index[t]] = 1.0
        if query.alert_types:
            inter = self._types @ wanted
            union = self._types.sum(axis=1) + len(set(query.alert_types)) - inter
            sims += p.w_types * np.divide(inter, union, out=np.zeros_like(inter),
                                          where=union > 0)
        return sims

    def predict(self, query: RemediationQuery, embedder: TemplateEmbedder
                ) -> list[dict[str, Any]]:
        """Ranked actions, best first: ``action``, ``score``, ``ticket_ids``, ``worked``,
        ``tried`` (among the similar past cases the score comes from)."""
        sims = self.similarities(query, embedder)
        if sims.size == 0:
            return []
        k = min(self.params.k, sims.size)
        nearest = np.argsort(-sims, kind="stable")[:k]
        weights = np.maximum(sims[nearest], 0.0) ** self.params.sharpness
        total = float(weights.sum())
        if total <= 0:
            return []
        score: dict[int, float] = defaultdict(float)
        tickets: dict[int, list[tuple[float, str]]] = defaultdict(list)
        worked: Counter[int] = Counter()
        tried: Counter[int] = Counter()
        for index, weight in zip(nearest, weights, strict=True):
            case = self.cases_[int(index)]
            action = self.case_action_[int(index)]
            tried[action] += 1
            tickets[action].append((float(weight), case.ticket_id))
            if case.worked:
                worked[action] += 1
                score[action] += float(weight)
        ranked = sorted(tried, key=lambda a: (-score[a], -worked[a], self.actions_[a]))
        return [{"action": self.actions_[a], "score": round(score[a] / total, 4),
                 "ticket_ids": [t for _, t in sorted(tickets[a], key=lambda x: -x[0])][:5],
                 "worked": worked[a], "tried": tried[a]}
                for a in ranked[:self.params.top] if score[a] > 0]

    # -- persistence -----------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"params": asdict(self.params), "actions": self.actions_,
                "cases": [{**asdict(c), "action_id": a}
                          for c, a in zip(self.cases_, self.case_action_, strict=True)]}

    @classmethod
    def from_dict(cls, data: dict[str, Any], version: int | None = None) -> RemediationModel:
        model = cls(RemediationParams(**data.get("params", {})))
        model.actions_ = list(data.get("actions", []))
        for raw in data.get("cases", []):
            raw = dict(raw)
            model.case_action_.append(int(raw.pop("action_id")))
            model.cases_.append(RemediationCase(**raw))
        model.version = version
        return model


def load_promoted_remediation(registry: ModelRegistry) -> RemediationModel | None:
    """The promoted remediation model, or None when none was trained."""
    stored = registry.load(MODEL_NAME)
    if stored is None:
        return None
    return RemediationModel.from_dict(stored["model"], version=stored["version"])


def train_remediation(registry: ModelRegistry, cases: list[RemediationCase],
                      embedder: TemplateEmbedder, source: str,
                      params: RemediationParams | None = None
                      ) -> tuple[RemediationModel, dict[str, Any]]:
    """Fit on ``cases``, save as a new version of ``remediation`` and promote it."""
    started = time.perf_counter()
    model = RemediationModel(params).fit(cases, embedder)
    meta = {"trained_on": source, "cases": len(model.cases_), "actions": len(model.actions_),
            "worked": sum(c.worked for c in model.cases_),
            "with_alerts": sum(bool(c.alert_texts) for c in model.cases_),
            "seconds": round(time.perf_counter() - started, 3)}
    version = registry.save(MODEL_NAME, model.to_dict(), meta)
    registry.promote(MODEL_NAME, version)
    model.version = version
    return model, meta
