"""A fixed-size latency histogram: percentiles of per-alert placement time.

Log-spaced buckets from 1 µs to 10 s: constant memory and O(1) recording, so it
can stay on in production and the benchmark reads the same numbers an operator
would see at /api/v1/health.
"""

from __future__ import annotations

import math

_LOW, _HIGH, _PER_DECADE = 1e-6, 10.0, 40
_BUCKETS = int(math.log10(_HIGH / _LOW) * _PER_DECADE) + 1


class LatencyHistogram:
    def __init__(self) -> None:
        self.counts = [0] * (_BUCKETS + 1)
        self.total = 0
        self.maximum = 0.0

    def record(self, seconds: float) -> None:
        if seconds <= _LOW:
            index = 0
        else:
            index = min(_BUCKETS, int(math.log10(seconds / _LOW) * _PER_DECADE) + 1)
        self.counts[index] += 1
        self.total += 1
        self.maximum = max(self.maximum, seconds)

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
