"""A root-cause ranking learned from resolved tickets: which candidate was at fault.

Each ticketed past incident is a choice among its candidates (``aiops.engine.
rank_features``), the ticket naming the one that was at fault. A conditional logit
(a softmax over each incident's candidates of a linear score of their standardised
features, L2-penalised) is fitted to those choices by maximum likelihood. Why this
model: the question is always "which of *these* candidates", so the fit compares
candidates within an incident rather than judging each alone; a linear score is
saved as a few numbers and read back without pickles; and with hundreds of tickets
it has few enough weights (about 35) not to overfit. On development scenarios it
was as good as gradient-boosted trees (docs/architecture.md, "A ranking learned from
tickets").

Below ``min_tickets`` usable tickets the model is not used (``usable``) and the
hand-weighted ranking stays: fitted on random subsets of the development scenarios'
tickets, 100 tickets gave AC@1 0.700 against the hand ranking's 0.694 (and lost 0.036
on one Huawei scenario), 200 gave 0.716, 400 0.722, all of them (~1,100) 0.726.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from aiops.engine.rank_features import FEATURE_NAMES, FEATURE_SCHEMA

# One incident: its candidates' feature rows and the row of the device at fault.
Choice = tuple[np.ndarray, int]
REASON_MIN_LIFT = 0.05  # log-odds a feature must add to be named as a reason
NEWTON_STEPS = 50  # at most; the penalised likelihood is concave, so a few usually do
NEWTON_TOLERANCE = 1e-8  # stop when a step gains less log-likelihood than this


class LearnedRanker:
    """Estimator (fit / get_params / to_dict / from_dict) of the learned ranking."""

    def __init__(self, l2: float = 0.1, min_tickets: int = 200):
        if not l2 > 0:
            raise ValueError(f"learned ranking: l2 must be positive (got {l2}): without it "
                             "features that move together leave the fit undetermined")
        self.l2 = l2
        self.min_tickets = min_tickets
        self.names_: tuple[str, ...] = FEATURE_NAMES
        # What the features meant when fitted (``FEATURE_SCHEMA``): a change of meaning
        # under the same names (placement counted per alarm instead of per device)
        # would otherwise leave old weights reading new numbers. Stored rankings from
        # before it was saved are schema 1.
        self.schema_ = FEATURE_SCHEMA
        self.mean_ = np.zeros(len(FEATURE_NAMES))
        self.scale_ = np.ones(len(FEATURE_NAMES))
        self.coef_ = np.zeros(len(FEATURE_NAMES))
        self.tickets_ = 0  # incidents (with the device at fault among them) fitted on
        # The correlation model version whose incidents and relations the features were
        # read with (set by training): rootness, tracing and the hand ranking all come
        # from its relations, so under another version the weights mean something else.
        self.correlation_version_: int | None = None

    def get_params(self) -> dict[str, Any]:
        return {"l2": self.l2, "min_tickets": self.min_tickets}

    def fit(self, choices: Sequence[Choice]) -> LearnedRanker:
        """Maximise the likelihood of the devices at fault among their incidents'
        candidates (features standardised over all candidates, so ``l2`` treats every
        feature alike)."""
        self.names_ = FEATURE_NAMES
        self.schema_ = FEATURE_SCHEMA
        self.tickets_ = len(choices)
        if not choices:
            return self
        rows = np.vstack([x for x, _ in choices])
        self.mean_ = rows.mean(axis=0)
        self.scale_ = np.where(rows.std(axis=0) > 1e-9, rows.std(axis=0), 1.0)
        standard = [((x - self.mean_) / self.scale_, y) for x, y in choices]
        self.coef_ = _newton(standard, rows.shape[1], self.l2)
        return self

    @property
    def usable(self) -> bool:
        """Enough tickets, fitted on the features this version computes (names and
        meaning, ``current``), every weight a finite number (a damaged file must not
        rank anything)."""
        arrays = (self.mean_, self.scale_, self.coef_)
        return (self.tickets_ >= self.min_tickets and self.current
                and all(len(a) == len(FEATURE_NAMES) and bool(np.isfinite(a).all())
                        for a in arrays)
                and bool((self.scale_ > 0).all()))

    @property
    def current(self) -> bool:
        """Whether it was fitted on the features this version computes: the same names
        with the same meaning (``FEATURE_SCHEMA``)."""
        return self.names_ == FEATURE_NAMES and self.schema_ == FEATURE_SCHEMA

    def fits(self, correlation_version: int | None) -> bool:
        """Whether it was fitted with the incidents and relations of that correlation
        model version (``correlation_version_``)."""
        return self.correlation_version_ == correlation_version

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """Per candidate row of one incident, the fitted chance it is the one at fault."""
        s = ((features - self.mean_) / self.scale_) @ self.coef_
        p = np.exp(s - s.max())
        return p / p.sum()

    def reasons(self, features: np.ndarray, row: int, among: Sequence[int],
                count: int = 2) -> list[int]:
        """Of the feature columns ``among`` (the candidate's own kind: a silent device's
        alarming block is all zeros), those that raised candidate ``row`` most over the
        incident's average candidate (weight times the standardised difference), at
        most ``count``, only those that raised it: why the model put it where it is,
        for its evidence."""
        columns = np.asarray(among, dtype=int)
        lift = (self.coef_[columns] * (features[row, columns] - features[:, columns].mean(axis=0))
                / self.scale_[columns])
        best = np.argsort(-lift, kind="stable")[:count]
        return [int(columns[k]) for k in best if lift[k] > REASON_MIN_LIFT]

    def to_dict(self) -> dict[str, Any]:
        return {"params": self.get_params(), "tickets": self.tickets_,
                "correlation_version": self.correlation_version_,
                "feature_schema": self.schema_,
                "features": [[name, float(m), float(s), float(c)] for name, m, s, c in zip(
                    self.names_, self.mean_, self.scale_, self.coef_, strict=True)]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LearnedRanker:
        params = data.get("params") or {}
        known = {k: params[k] for k in ("l2", "min_tickets") if k in params}
        try:
            model = cls(**known)
        except (TypeError, ValueError):  # damaged parameters: a model never usable
            model = cls()
            model.tickets_ = 0
            return model
        model.tickets_ = int(data.get("tickets", 0))
        version = data.get("correlation_version")
        model.correlation_version_ = int(version) if version is not None else None
        try:
            model.schema_ = int(data.get("feature_schema", 1))
        except (TypeError, ValueError):  # damaged: never current
            model.schema_ = 0
        features = data.get("features", [])
        model.names_ = tuple(str(f[0]) for f in features)
        model.mean_ = np.array([float(f[1]) for f in features])
        model.scale_ = np.array([float(f[2]) for f in features])
        model.coef_ = np.array([float(f[3]) for f in features])
        return model


def _penalised(choices: Sequence[Choice], w: np.ndarray, l2: float
               ) -> tuple[float, np.ndarray, np.ndarray]:
    """The L2-penalised log-likelihood of the choices at ``w``, its gradient and its
    Hessian (a softmax over each incident's candidates)."""
    dim = len(w)
    value, grad, hess = -0.5 * l2 * float(w @ w), -l2 * w, -l2 * np.eye(dim)
    for x, y in choices:
        s = x @ w
        p = np.exp(s - s.max())
        p /= p.sum()
        mean = p @ x
        value += float(s[y] - s.max() - np.log(np.exp(s - s.max()).sum()))
        grad += x[y] - mean
        hess -= (x * p[:, None]).T @ x - np.outer(mean, mean)
    return value, grad, hess


def _newton(choices: Sequence[Choice], dim: int, l2: float) -> np.ndarray:
    """Maximise the penalised likelihood by Newton steps with step halving.

    Why not a library optimiser: the problem is small (about 35 weights) and concave,
    so exact Newton steps converge in a handful of iterations, and numpy alone keeps
    the core install free of scipy (which only the text-model extra brings)."""
    w = np.zeros(dim)
    value, grad, hess = _penalised(choices, w, l2)
    for _ in range(NEWTON_STEPS):
        step = np.linalg.solve(hess, -grad)  # hess is negative definite (l2 > 0)
        size = 1.0
        while size > 1e-6:
            trial = w + size * step
            new_value, new_grad, new_hess = _penalised(choices, trial, l2)
            if new_value >= value:
                break
            size /= 2.0
        else:
            break
        gained = new_value - value
        w, value, grad, hess = trial, new_value, new_grad, new_hess
        if gained < NEWTON_TOLERANCE:
            break
    return w
