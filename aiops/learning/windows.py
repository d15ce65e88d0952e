"""Stretches of time around labelled groups: what replaying or trusting them covers.

An alert can change the grouping of another only if it starts within an incident's
reach (its span, the correlation window and the skew tolerance), so the labels'
neighbourhood in time is the union of their spans widened by that reach.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass

from aiops.config import EngineSettings


@dataclass(frozen=True, slots=True)
class Windows:
    """Sorted, disjoint ``[start, end]`` intervals with a logarithmic membership test."""

    starts: tuple[float, ...]
    ends: tuple[float, ...]

    @classmethod
    def around(cls, spans: Iterable[tuple[float, float]], pad: float) -> Windows:
        """The union of ``spans`` each widened by ``pad`` seconds on both sides."""
        merged: list[list[float]] = []
        for low, high in sorted(spans):
            if merged and low - pad <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], high + pad)
            else:
                merged.append([low - pad, high + pad])
        return cls(tuple(w[0] for w in merged), tuple(w[1] for w in merged))

    def __contains__(self, t: float) -> bool:
        i = bisect.bisect_right(self.starts, t) - 1
        return i >= 0 and t <= self.ends[i]

    def __len__(self) -> int:
        return len(self.starts)


def group_spans(groups: dict[str, str], starts: dict[str, float]) -> list[tuple[float, float]]:
    """First..last start of every group's alerts (alert → group, alert → start)."""
    spans: dict[str, tuple[float, float]] = {}
    for alert_id, group in groups.items():
        t = starts.get(alert_id)
        if t is not None:
            low, high = spans.get(group, (t, t))
            spans[group] = (min(low, t), max(high, t))
    return list(spans.values())


def reach(settings: EngineSettings, time_scale: float = 1.0) -> float:
    """Seconds around an incident within which an alert can still change its grouping,
    with the correlator's times stretched by a model's learned ``time_scale``."""
    return (settings.max_incident_span + settings.correlation_window
            + settings.skew_tolerance) * time_scale
