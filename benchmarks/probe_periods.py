"""The two periods a probe benchmark generates, and the files it writes them to.

The probes (``polled_hosts``, ``k8s_node_failure``) each generate a history period for
`aiops train` and an evaluation period to replay, with the fault each alert belongs to
(the ground truth the correlation metrics read), and write them in the same files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Period:
    """One period's alerts (canonical dicts, CONTRACTS.md §1) and their ground truth."""

    alerts: list[dict[str, Any]] = field(default_factory=list)
    alert_group: dict[str, str] = field(default_factory=dict)
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)

    def truth(self) -> dict[str, Any]:
        return {"alerts": self.alert_group, "groups": self.groups}


def write_periods(out: Path, topology: dict[str, Any], history: Period,
                  evaluation: Period) -> dict[str, Path]:
    """``topology.json``, ``history.jsonl``, ``eval.jsonl`` and ``truth.json`` (the
    evaluation period's) in ``out``; their paths by role."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {"topology": out / "topology.json", "history": out / "history.jsonl",
             "eval": out / "eval.jsonl", "truth": out / "truth.json"}
    paths["topology"].write_text(json.dumps(topology), encoding="utf-8")
    for role, period in (("history", history), ("eval", evaluation)):
        paths[role].write_text("".join(json.dumps(a) + "\n" for a in period.alerts),
                               encoding="utf-8")
    paths["truth"].write_text(json.dumps({"eval": evaluation.truth()}), encoding="utf-8")
    return paths
