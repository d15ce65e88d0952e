"""The real data the scenarios are built from (copied into benchmarks/data/, see its README).

Two causal graphs between alarm types come with real alarm logs: the Huawei NeurIPS
2023 sample (59 types, with the 45-device topology) and the 18V_55N wireless set
(18 types, no topology). The graph decides which alarms a fault sets off; the log
decides how often each type occurs as background noise and how long such an
alarm lasts, so the noise looks like the real network's and not like a uniform draw.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
NEURIPS_DIR = DATA_DIR / "huawei-neurips2023"
WIRELESS_DIR = DATA_DIR / "huawei-18v-wireless"
MAX_BACKGROUND_DURATION = 7200.0  # the wireless log has alarms lasting weeks; cap noise at 2 h

# name -> (directory, causal graph file, alarm log file, prefix of readable type names)
CAUSAL_SOURCES: dict[str, tuple[Path, str, str, str]] = {
    "neurips": (NEURIPS_DIR, "true_graph.npy", "alarm.csv", "ALM"),
    "wireless": (WIRELESS_DIR, "DAG.npy", "Alarm.csv", "WLS"),
}


@dataclass(frozen=True)
class CausalModel:
    """Alarm types, who causes whom, and the real log's type frequencies and durations."""

    name: str
    prefix: str
    children: tuple[tuple[int, ...], ...]  # children[i]: types that type i causes
    type_weights: tuple[float, ...]  # occurrences of each type in the real log
    durations: tuple[float, ...]  # real alarm durations in seconds, sorted

    @property
    def types(self) -> int:
        return len(self.children)

    @property
    def roots(self) -> tuple[int, ...]:
        """Types that cause at least one other: the ones a fault can start from."""
        return tuple(i for i, kids in enumerate(self.children) if kids)

    def type_name(self, index: int) -> str:
        return f"{self.prefix}_{index}"


def load_adjacency(path: Path) -> np.ndarray:
    """A square 0/1 matrix from a ``.npy`` file, checked so a wrong file fails early."""
    matrix = np.load(path)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"{path}: expected a square matrix, got shape {matrix.shape}")
    return matrix != 0


@lru_cache(maxsize=4)
def load_causal(name: str) -> CausalModel:
    """The causal model named ``name`` (``neurips`` or ``wireless``)."""
    try:
        directory, graph_file, log_file, prefix = CAUSAL_SOURCES[name]
    except KeyError:
        raise ValueError(f"unknown causal graph {name!r}; choose from "
                         f"{', '.join(CAUSAL_SOURCES)}") from None
    graph = load_adjacency(directory / graph_file)
    children = tuple(tuple(int(j) for j in np.flatnonzero(row)) for row in graph)
    counts = [0] * len(children)
    durations: list[float] = []
    with (directory / log_file).open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            counts[int(row["alarm_id"])] += 1
            span = float(row["end_timestamp"]) - float(row["start_timestamp"])
            # The log has a few negative spans (clock faults); a cleared alarm lasts >= 1 s.
            durations.append(min(max(span, 1.0), MAX_BACKGROUND_DURATION))
    weights = tuple(float(c) if c else 1.0 for c in counts)  # every type may appear as noise
    return CausalModel(name=name, prefix=prefix, children=children, type_weights=weights,
                       durations=tuple(sorted(durations)))


def huawei_adjacency() -> np.ndarray:
    """The real 45-device adjacency of the NeurIPS 2023 sample."""
    return load_adjacency(NEURIPS_DIR / "topology.npy")
