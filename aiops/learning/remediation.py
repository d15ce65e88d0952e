"""Remediation recommendations learned from resolved tickets: similar past cases vote.

Each resolved ticket becomes a *case*: its symptoms (ticket text and the texts of the
alerts it was about), the cause the engineers wrote down, the root alert type (and a
distribution over root types, for when the evidence is not one type), the alert
types present, the kind and role of the entity, and the action taken (its
resolution text) with whether it worked. ``fit`` groups resolution texts into
*actions* by wording and by the faults they were used for, root alert types and
fault classes (root type, role) (:mod:`aiops.learning.actions`).

For an incident, every case gets a weight from a log-linear kernel::

    log K = b_type·[same root alert type] + b_root·Σ_t P_incident(t)·P_case(t)
            + b_types·Jaccard_idf(alert types) + b_role·[same role] + b_kind·[same kind]
            + b_text·cos(symptoms) + b_cause·cos(cause)

(relative to the best case, so the most similar weighs 1). A case votes partly for
the action it took and partly (``class_mix``, 0.75) for the actions its *fault class*
(root alert type, role) took, backed off to its root type, then to all fixes::

    P(a | t, r) = (n(a, t, r) + α·P(a | t)) / (n(t, r) + α),
    P(a | t) = (n(a, t) + β·P(a)) / (n(t) + β)          (counts of fixes; α = β = 3)

since within a class the action is close to a draw from one distribution, a single
case's action is a noisy sample of it, and the nearest cases are few. An action's
score is that vote plus ``prior`` times its share of all fixes, over the weight of
all cases plus ``prior``::

    score(a) = ((1 − m)·Σ_{i took a, worked} K_i + m·Σ_i K_i·P(a | t_i, r_i)
                + prior·P(a)) / (Σ_i K_i + prior)

so it lies in [0, 1], a failed attempt weighs against its own action (it counts
only as evidence of its class), and where no
past case is alike the ranking backs off to how often each action fixed anything.
Every piece of evidence adds to every case rather than selecting a few neighbours:
the root alert type of an incident is wrong often enough (a dead device shows only
its effects) that cases agreeing on the other evidence must still count. A weighted
vote over cases rather than a trained classifier because tickets are few (hundreds,
not millions), actions are open-ended, and every recommendation must cite the
tickets it comes from (the class vote changes the scores, never which cases are
cited). The weights are round values chosen on development scenarios the benchmark
does not use, not fitted (docs/tickets.md). With ``learn_vote`` (off by default: on
the development scenarios it was level with the fixed values) ``fit`` instead
chooses ``class_mix`` and ``kernel_scale`` (a factor on log K) from a small grid by
exact leave-one-out MRR on the history itself: each ticket whose action worked is
ranked by the others, its own count removed from the class distributions and the
prior; the choice and the whole grid are kept in ``loo_`` and stored with the model.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import numpy as np

from aiops.learning.actions import ActionSettings, group_actions
from aiops.learning.embeddings import TemplateEmbedder
from aiops.learning.registry import ModelRegistry

MODEL_NAME = "remediation"
# Resolution codes (ServiceNow close_code, Jira resolution, labels.outcome) that say
# the recorded action did not fix the problem.
FAILED_MARKERS = ("not solved", "not fixed", "unresolved", "won't", "wont", "cannot reproduce",
                  "can't reproduce", "duplicate", "rejected", "failed", "did not help",
                  "no fix")

# How the texts of a model's cases were read, so its queries are read alike:
# 1, ``alert_text`` (type and templated summary); 2, identity labels' values masked
# (``templates.labelled_text``, ``aiops.tickets.cases``); 3, user names of login
# messages masked too (``aiops.learning.users``) and IPv6 addresses masked by their
# shapes (``templates.template``). Models stored without a format are 1:
# their stored texts cannot be masked again (the labels are not stored with them), so
# their queries are read as they were (unmasked; format 3's masks left out below 3) and they
# score as they were trained.
TEXT_FORMAT = 3

# Leave-one-out choice of the vote's mix and kernel scale (``_learn_vote``).
LOO_MIXES = (0.0, 0.25, 0.5, 0.75, 1.0)
LOO_SCALES = (0.5, 0.75, 1.0, 1.5, 2.0)
LOO_MIN_TICKETS = 50  # fewer labelled tickets: keep the defaults
LOO_MAX_TICKETS = 2000  # more: leave out a fixed sample of them


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
    root_types: dict[str, float] = field(default_factory=dict)  # distribution over root types
    entity_kind: str | None = None
    entity_role: str | None = None


@dataclass
class RemediationQuery:
    """What is known of an incident when asking for remediations."""

    alert_texts: list[str]
    alert_types: list[str]
    root_type: str | None = None
    root_types: dict[str, float] = field(default_factory=dict)
    cause: str | None = None
    entity_kind: str | None = None
    entity_role: str | None = None


@dataclass(frozen=True)
class RemediationParams:
    b_type: float = 1.5
    b_root: float = 3.0
    b_types: float = 7.5
    b_role: float = 1.5
    b_kind: float = 0.75
    b_text: float = 1.5
    b_cause: float = 0.75
    prior: float = 0.5  # weight of "how often each action fixed anything", in best cases
    # Share of a case's vote that goes to its fault class's action distribution
    # P(a | root type, role) rather than to its own action (0: the version before).
    class_mix: float = 0.75
    class_alpha: float = 3.0  # pseudo-count backing P(a | type, role) off to P(a | type)
    type_beta: float = 3.0  # ... and P(a | type) off to P(a)
    kernel_scale: float = 1.0  # multiplies log K: sharper (> 1) or flatter (< 1) kernel
    # Choose class_mix and kernel_scale in ``fit`` by leave-one-out on the history's
    # own tickets (the values above are then only the fallback, for few tickets).
    learn_vote: bool = False

    def __post_init__(self) -> None:
        # Zero pseudo-counts divide 0 by 0 for a class or type with no fixes, and every
        # score would be NaN (found by review).
        for name in ("class_alpha", "type_beta"):
            if not getattr(self, name) > 0:
                raise ValueError(f"RemediationParams.{name} must be above 0, "
                                 f"got {getattr(self, name)!r}")
    neighbours: int = 25  # most similar cases counted in "worked"/"tried" ...
    min_weight: float = 0.05  # ... when they weigh at least this (the best weighs 1)
    top: int = 10
    grouping: ActionSettings = field(default_factory=ActionSettings)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RemediationParams:
        """Stored parameters; ones an older version stored and this one lacks are ignored.

        A model stored before the class vote had none (``class_mix`` 0): it keeps
        ranking as it did when it was trained (found by review), until retrained."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known and k != "grouping"}
        values.setdefault("class_mix", 0.0)
        grouping = data.get("grouping")
        if isinstance(grouping, dict):
            names = {f.name for f in fields(ActionSettings)}
            values["grouping"] = ActionSettings(**{k: v for k, v in grouping.items()
                                                   if k in names})
        return cls(**values)


def _unit(vectors: list[np.ndarray], dim: int) -> np.ndarray:
    if not vectors:
        return np.zeros(dim, dtype=np.float32)
    mean = np.mean(vectors, axis=0)
    norm = float(np.linalg.norm(mean))
    return mean / norm if norm > 0 else mean


def _case_roots(case: RemediationCase) -> dict[str, float]:
    if case.root_types:
        return case.root_types
    return {case.root_type: 1.0} if case.root_type else {}


def _grouping_context(case: RemediationCase) -> dict[Hashable, float]:
    """What a resolution was used for, to group resolutions into actions: each root
    type, and each fault class (root type, role), with the case's share of it."""
    roots = _case_roots(case)
    return {**roots, **{(t, case.entity_role or ""): p for t, p in roots.items()}}


class RemediationModel:
    """Estimator: ``fit(cases)`` groups actions, ``predict(query)`` ranks them."""

    def __init__(self, params: RemediationParams | None = None):
        self.params = params or RemediationParams()
        self.cases_: list[RemediationCase] = []
        self.case_action_: list[int] = []
        self.actions_: list[str] = []
        self.version: int | None = None
        self.loo_: dict[str, Any] = {}  # what the leave-one-out choice found (fit)
        self.text_format = TEXT_FORMAT  # how its cases' texts were read (TEXT_FORMAT)
        self._ready = False  # the matrices below are built on first use
        self._symptoms = np.zeros((0, 0), dtype=np.float32)
        self._causes = np.zeros((0, 0), dtype=np.float32)
        self._columns: dict[str, np.ndarray] = {}
        self._type_index: dict[str, int] = {}
        self._types = np.zeros((0, 0), dtype=np.float32)
        self._idf = np.zeros(0, dtype=np.float32)
        self._root_index: dict[str, int] = {}
        self._roots = np.zeros((0, 0), dtype=np.float32)
        self._action = np.zeros(0, dtype=np.int64)
        self._worked = np.zeros(0, dtype=bool)
        self._fixes = np.zeros(0, dtype=np.float64)
        self._class = np.zeros(0, dtype=np.int64)
        self._class_dist = np.zeros((0, 0), dtype=np.float64)
        self._class_type = np.zeros(0, dtype=np.int64)  # root type index of each class

    # -- fitting ---------------------------------------------------------------------
    def fit(self, cases: Sequence[RemediationCase], embedder: TemplateEmbedder
            ) -> RemediationModel:
        usable = [c for c in cases if c.action.strip()]
        labels, names = group_actions([c.action for c in usable],
                                      [_grouping_context(c) for c in usable], embedder,
                                      self.params.grouping)
        self.cases_, self.case_action_, self.actions_ = list(usable), labels, names
        self._ready = False
        self.loo_ = {}
        if self.params.learn_vote:
            self._learn_vote(embedder)
        return self

    def _loo_log_kernel(self, rows: np.ndarray, embedder: TemplateEmbedder) -> np.ndarray:
        """log K (scale 1) of the cases ``rows``, each described as an incident would be,
        against every case: what ``log_weights`` gives for them, without the cause term
        (a ticket's cause note is not what an incident's cause is, its root alert)."""
        p = self.params
        dim = self._symptoms.shape[1]
        queries = []
        for i in rows:
            case = self.cases_[int(i)]
            queries.append(_unit([embedder.vector(t) for t in case.alert_texts], dim)
                           if case.alert_texts else self._symptoms[int(i)])
        q = np.array(queries, dtype=np.float32).reshape(len(rows), dim)
        logs = p.b_text * np.clip(q @ self._symptoms.T, 0.0, 1.0).astype(np.float64)
        for weight, name in ((p.b_type, "root_type"), (p.b_role, "entity_role"),
                             (p.b_kind, "entity_kind")):
            column = self._columns[name]
            logs += weight * ((column[rows][:, None] == column[None, :])
                              & (column[rows] != "")[:, None])
        logs += p.b_root * (self._roots[rows] @ self._roots.T)
        weighted = self._types * self._idf
        inter = weighted[rows] @ self._types.T
        union = weighted[rows].sum(axis=1)[:, None] + weighted.sum(axis=1)[None, :] - inter
        jaccard = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
        return logs + p.b_types * jaccard

    def _learn_vote(self, embedder: TemplateEmbedder) -> None:
        """Choose ``class_mix`` and ``kernel_scale`` on a small grid by leave-one-out MRR:
        every ticket whose action worked is a labelled incident, ranked by all the other
        tickets (its own left out of the cases and of its class's distribution)."""
        self._prepare(embedder)
        p = self.params
        labelled = np.flatnonzero(self._worked)
        if len(labelled) < LOO_MIN_TICKETS:
            return
        if len(labelled) > LOO_MAX_TICKETS:
            rng = np.random.default_rng(0)
            labelled = np.sort(rng.choice(labelled, LOO_MAX_TICKETS, replace=False))
        n_actions = len(self.actions_)
        n_classes = self._class_dist.shape[0]
        y = np.zeros((len(self.cases_), n_actions))
        y[self._worked, self._action[self._worked]] = 1.0
        onehot = np.zeros((len(self.cases_), n_classes))
        onehot[np.arange(len(self.cases_)), self._class] = 1.0
        worked = self._worked
        per_class = np.zeros((n_classes, n_actions))
        np.add.at(per_class, (self._class[worked], self._action[worked]), 1.0)
        per_type = np.zeros((int(self._class_type.max()) + 1, n_actions))
        np.add.at(per_type, (self._class_type[self._class[worked]], self._action[worked]), 1.0)
        base = self._loo_log_kernel(labelled, embedder)
        base[np.arange(len(labelled)), labelled] = -np.inf  # leave the ticket out
        truth = self._action[labelled]
        fixed, by_class, total = [], [], []
        for scale in LOO_SCALES:
            logs = scale * base
            weight = np.exp(logs - logs.max(axis=1, keepdims=True))
            fixed.append(weight @ y)
            by_class.append(weight @ onehot)
            total.append(weight.sum(axis=1, keepdims=True))
        votes = np.zeros((len(LOO_SCALES), len(labelled), n_actions))
        prior = np.zeros((len(labelled), n_actions))
        for row, i in enumerate(labelled):
            # The counts without ticket i (only a ticket that worked is labelled).
            a, c = self._action[i], self._class[i]
            per_class[c, a] -= 1.0
            per_type[self._class_type[c], a] -= 1.0
            fixes = self._fixes.copy()
            fixes[a] -= 1.0
            prior[row] = fixes / fixes.sum() if fixes.sum() > 0 else 0.0
            dist = self._backed_off(per_class, per_type, prior[row])
            for k in range(len(LOO_SCALES)):
                votes[k, row] = by_class[k][row] @ dist
            per_class[c, a] += 1.0
            per_type[self._class_type[c], a] += 1.0
        results: dict[tuple[float, float], float] = {}
        rows = np.arange(len(labelled))
        for k, scale in enumerate(LOO_SCALES):
            for mix in LOO_MIXES:
                score = ((1.0 - mix) * fixed[k] + mix * votes[k] + p.prior * prior) / (
                    total[k] + p.prior)
                ranks = 1 + (score > score[rows, truth][:, None]).sum(axis=1)
                results[(mix, scale)] = float(np.mean(1.0 / ranks))
        default = (p.class_mix, p.kernel_scale)
        best = max(results, key=lambda k: (results[k], k == default))
        self.params = replace(p, class_mix=best[0], kernel_scale=best[1])
        self.loo_ = {"class_mix": best[0], "kernel_scale": best[1],
                     "mrr": round(results[best], 4), "tickets": int(len(labelled)),
                     "grid": [[m, k, round(v, 4)] for (m, k), v in sorted(results.items())]}

    # -- predicting ------------------------------------------------------------------
    def _prepare(self, embedder: TemplateEmbedder) -> None:
        if self._ready:
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
        n = len(self.cases_)
        self._symptoms = np.array(rows, dtype=np.float32).reshape(n, dim)
        self._causes = np.array(causes, dtype=np.float32).reshape(n, dim)
        # Categorical features as arrays, so scoring a query is a few vector operations.
        self._columns = {name: np.array([getattr(c, name) or "" for c in self.cases_],
                                        dtype=object)
                         for name in ("root_type", "entity_role", "entity_kind")}
        types = sorted({t for c in self.cases_ for t in c.alert_types})
        self._type_index = {t: i for i, t in enumerate(types)}
        self._types = np.zeros((n, len(types)), dtype=np.float32)
        for row, case in enumerate(self.cases_):
            for t in case.alert_types:
                self._types[row, self._type_index[t]] = 1.0
        # A type present in most cases says little about which kind of fault this is.
        self._idf = (np.log((n + 1) / (self._types.sum(axis=0) + 1)) + 1).astype(np.float32)
        roots = sorted({t for c in self.cases_ for t in _case_roots(c)})
        self._root_index = {t: i for i, t in enumerate(roots)}
        self._roots = np.zeros((n, len(roots)), dtype=np.float32)
        for row, case in enumerate(self.cases_):
            for t, p in _case_roots(case).items():
                self._roots[row, self._root_index[t]] = p
        self._action = np.array(self.case_action_, dtype=np.int64)
        self._worked = np.array([c.worked for c in self.cases_], dtype=bool)
        self._fixes = np.bincount(self._action[self._worked],
                                  minlength=len(self.actions_)).astype(np.float64)
        self._class, self._class_dist = self._class_distributions()
        self._ready = True

    def _class_distributions(self) -> tuple[np.ndarray, np.ndarray]:
        """Each case's fault class (root type, role) and every class's backed-off
        action distribution P(a | type, role) → P(a | type) → P(a)."""
        n_actions = len(self.actions_)
        keys = [(c.root_type or "", c.entity_role or "") for c in self.cases_]
        class_index = {k: i for i, k in enumerate(sorted(set(keys)))}
        type_index = {t: i for i, t in enumerate(sorted({k[0] for k in keys}))}
        case_class = np.array([class_index[k] for k in keys], dtype=np.int64)
        self._class_type = np.array([type_index[k[0]] for k in sorted(class_index,
                                                                      key=class_index.get)],
                                    dtype=np.int64).reshape(-1)
        worked = self._worked
        per_class = np.zeros((len(class_index), n_actions))
        np.add.at(per_class, (case_class[worked], self._action[worked]), 1.0)
        per_type = np.zeros((len(type_index), n_actions))
        np.add.at(per_type, (self._class_type[case_class[worked]], self._action[worked]), 1.0)
        total = self._fixes.sum()
        overall = self._fixes / total if total > 0 else np.zeros(n_actions)
        return case_class, self._backed_off(per_class, per_type, overall)

    def _backed_off(self, per_class: np.ndarray, per_type: np.ndarray, overall: np.ndarray
                    ) -> np.ndarray:
        """P(a | type, role) per class from counts of fixes, backed off as in the module doc."""
        p = self.params
        type_dist = (per_type + p.type_beta * overall) / (
            per_type.sum(axis=1, keepdims=True) + p.type_beta)
        backed = type_dist[self._class_type] if len(self._class_type) else np.zeros(
            (0, per_class.shape[1]))
        return (per_class + p.class_alpha * backed) / (
            per_class.sum(axis=1, keepdims=True) + p.class_alpha)

    def _alert_types(self, query: RemediationQuery) -> np.ndarray:
        """IDF-weighted Jaccard similarity of the query's alert types with each case's."""
        weighted = self._types * self._idf
        wanted = np.zeros(len(self._type_index), dtype=np.float32)
        for t in query.alert_types:
            if t in self._type_index:
                wanted[self._type_index[t]] = 1.0
        inter = weighted @ wanted
        union = weighted.sum(axis=1) + float(self._idf @ wanted) - inter
        return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)

    def log_weights(self, query: RemediationQuery, embedder: TemplateEmbedder) -> np.ndarray:
        """log K of every case for the query, in case order (see the module doc)."""
        if not self.cases_:
            return np.zeros(0, dtype=np.float64)
        self._prepare(embedder)
        p = self.params
        dim = self._symptoms.shape[1]
        embedder.prepare(query.alert_texts + ([query.cause] if query.cause else []))
        q_text = _unit([embedder.vector(t) for t in query.alert_texts], dim)
        score = p.b_text * np.clip(self._symptoms @ q_text, 0.0, 1.0).astype(np.float64)
        if query.cause:
            score += p.b_cause * np.clip(self._causes @ embedder.vector(query.cause), 0.0, 1.0)
        for weight, name, value in ((p.b_type, "root_type", query.root_type),
                                    (p.b_role, "entity_role", query.entity_role),
                                    (p.b_kind, "entity_kind", query.entity_kind)):
            if value:
                score += weight * (self._columns[name] == value)
        roots = query.root_types or ({query.root_type: 1.0} if query.root_type else {})
        wanted = np.zeros(len(self._root_index), dtype=np.float32)
        for t, share in roots.items():
            if t in self._root_index:
                wanted[self._root_index[t]] = share
        score += p.b_root * (self._roots @ wanted)
        if query.alert_types:
            score += p.b_types * self._alert_types(query)
        return p.kernel_scale * score

    def _scores(self, query: RemediationQuery, embedder: TemplateEmbedder
                ) -> tuple[np.ndarray, np.ndarray]:
        """(score of every action, weight of every case relative to the best) for one query."""
        logs = self.log_weights(query, embedder)
        p = self.params
        weight = np.exp(logs - logs.max())
        n_actions = len(self.actions_)
        fixed = np.bincount(self._action[self._worked], weights=weight[self._worked],
                            minlength=n_actions)
        if p.class_mix > 0:
            # Every case, worked or not, is evidence of its class; the class's
            # distribution counts only what worked.
            per_class = np.bincount(self._class, weights=weight,
                                    minlength=self._class_dist.shape[0])
            fixed = (1.0 - p.class_mix) * fixed + p.class_mix * (per_class @ self._class_dist)
        total_fixes = float(self._fixes.sum())
        prior = self._fixes / total_fixes if total_fixes > 0 else np.zeros(n_actions)
        return (fixed + p.prior * prior) / (float(weight.sum()) + p.prior), weight

    def predict(self, query: RemediationQuery, embedder: TemplateEmbedder
                ) -> list[dict[str, Any]]:
        """Ranked actions, best first: ``action``, ``score``, ``ticket_ids`` (its most
        similar cases), ``worked`` and ``tried`` (among the most similar cases)."""
        if not self.cases_:
            return []
        p = self.params
        score, weight = self._scores(query, embedder)
        order = np.argsort(-weight, kind="stable")
        near = [int(i) for i in order[:p.neighbours] if weight[i] >= p.min_weight]
        worked = Counter(int(self._action[i]) for i in near if self._worked[i])
        tried = Counter(int(self._action[i]) for i in near)
        ranked = [int(a) for a in np.argsort(-score, kind="stable") if score[a] > 0][:p.top]
        cited: dict[int, list[str]] = {a: [] for a in ranked}
        for i in order:
            action = int(self._action[i])
            if action in cited and len(cited[action]) < 5:
                cited[action].append(self.cases_[int(i)].ticket_id)
        return [{"action": self.actions_[a], "score": round(float(score[a]), 4),
                 "ticket_ids": cited[a], "worked": worked[a], "tried": tried[a]}
                for a in ranked]

    # -- persistence -----------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"params": asdict(self.params), "actions": self.actions_, "loo": self.loo_,
                "text_format": self.text_format,
                "cases": [{**asdict(c), "action_id": a}
                          for c, a in zip(self.cases_, self.case_action_, strict=True)]}

    @classmethod
    def from_dict(cls, data: dict[str, Any], version: int | None = None) -> RemediationModel:
        model = cls(RemediationParams.from_dict(data.get("params", {})))
        model.actions_ = list(data.get("actions", []))
        model.loo_ = dict(data.get("loo") or {})
        model.text_format = int(data.get("text_format", 1))
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
                      params: RemediationParams | None = None, promote: bool = True
                      ) -> tuple[RemediationModel, dict[str, Any]]:
    """Fit on ``cases``, save as a new version of ``remediation`` and promote it
    (unless not ``promote``: saved for review)."""
    started = time.perf_counter()
    model = RemediationModel(params).fit(cases, embedder)
    meta = {"trained_on": source, "cases": len(model.cases_), "actions": len(model.actions_),
            "worked": sum(c.worked for c in model.cases_),
            "with_alerts": sum(bool(c.alert_texts) for c in model.cases_),
            "seconds": round(time.perf_counter() - started, 3)}
    version = registry.save(MODEL_NAME, model.to_dict(), meta)
    if promote:
        registry.promote(MODEL_NAME, version)
    model.version = version
    return model, meta
