"""A fixed-size latency histogram: percentiles of per-alert placement time.

Log-spaced buckets from 1 µs to 10 s: constant memory and O(1) recording, so it
can stay on in production and the benchmark reads the same numbers an operator
would see at /api/v1/health. ``GET /metrics`` reads it too (``cumulative``), as a
Prometheus histogram whose bucket bounds are edges of these buckets: no second
histogram is kept per alert.
"""

from __future__ import annotations

import math

_LOW, _HIGH, _PER_DECADE = 1e-6, 10.0, 40
_BUCKETS = int(math.log10(_HIGH / _LOW) * _PER_DECADE) + 1


class LatencyHistogram:
    def __init__(self) -> None:
        self.counts = [0] * (_BUCKETS + 1)
        self.total = 0
        self.sum = 0.0  # seconds, for a Prometheus histogram's ``_sum``
        self.maximum = 0.0

    def record(self, seconds: float) -> None:
        if seconds <= _LOW:
            index = 0
        else:
            index = min(_BUCKETS, int(math.log10(seconds / _LOW) * _PER_DECADE) + 1)
        self.counts[index] += 1
        self.total += 1
        self.sum += seconds
        self.maximum = max(self.maximum, seconds)

    def cumulative(self, low: float, high: float, per_decade: int) -> list[tuple[float, int]]:
        """(upper bound in seconds, events under it) at ``per_decade`` bounds a
        decade from ``low`` to ``high``, each an edge of this histogram's buckets (so
        each count is exact, not interpolated); ``per_decade`` must divide 40."""
        if _PER_DECADE % per_decade:
            raise ValueError(f"{per_decade} bounds a decade do not fall on bucket edges")
        step = _PER_DECADE // per_decade
        first = round(math.log10(low / _LOW) * _PER_DECADE)
        last = round(math.log10(high / _LOW) * _PER_DECADE)
        out, seen, index = [], 0, 0
        for edge in range(first, last + 1, step):
            while index <= min(edge, _BUCKETS):
                seen += self.counts[index]
                index += 1
            out.append((float(f"{_LOW * 10 ** (edge / _PER_DECADE):.4g}"), seen))
        return out

    def percentile(self, q: float) -> float:
        """Upper edge of the bucket holding the q-th percentile (seconds; 0 if empty)."""
        if self.total == 0:
            return 0.0
        rank = math.ceil(q / 100.0 * self.total)
        seen = 0
        for index, count in enumerate(self.counts):
            seen += count
            if seen >= rank:
                return min(self.maximum, _LOW * 10 ** (index / _PER_DECADE))
        return self.maximum

    def summary_ms(self) -> dict[str, float]:
        return {"count": self.total, "p50_ms": round(self.percentile(50) * 1e3, 3),
                "p99_ms": round(self.percentile(99) * 1e3, 3),
                "max_ms": round(self.maximum * 1e3, 3)}
