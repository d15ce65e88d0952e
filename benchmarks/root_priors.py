"""Benchmark: root-cause ranking with and without priors learned from resolved tickets.

For each scenario (fault cascades of ``benchmarks.correlation.scenario`` with 240 h of
history and resolved tickets simulated by ``benchmarks.remediation_sim``), the
engine learns from the history period as ``aiops train --alerts --tickets`` does
(correlation model, then the root-cause priors), and the eval period is replayed
through ``replay_alerts`` twice: in a data dir with the priors and in one without.
Both replays group alerts identically (priors only touch the ranking), so the
difference in AC@1/AC@3 is the priors' doing. The earliest-alert rule on the same
groups is the baseline the root-cause issue names.

Usage: python -m benchmarks.root_priors [--scenarios tree:1,huawei:1] [--write-docs]
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiops.learning.rank_training import train_root_ranking
from aiops.learning.root_priors import train_root_priors
from aiops.learning.training import train as train_correlation
from aiops.models import parse_alert, parse_ticket
from aiops.replay import replay_alerts
from aiops.runtime import correlator_factory, open_runtime
from benchmarks.correlation.engine_source import describe_worktree
from benchmarks.correlation.metrics import Prediction, evaluate
from benchmarks.correlation.scenario import ScenarioConfig, generate
from benchmarks.remediation import fresh_data_dir, scenario_main
from benchmarks.remediation_sim import TicketSimulator
from topology.model import parse_topology

START, END = "<!-- root-priors:start -->", "<!-- root-priors:end -->"
DEFAULT_SCENARIOS = "tree:1,tree:2,huawei:1,huawei:2,ba:1"
METHODS = ("engine with learned ranking", "engine with ticket priors", "engine without",
           "earliest alert")
KEYS = ("ac1", "ac3", "ac1_silent", "ac1_alarmed")  # per scenario
MEAN_KEYS = ("ac1", "ac3", "ac1_silent", "ac3_silent", "ac1_alarmed", "ac3_alarmed")


def _replay(work: Path, scenario: Any, tickets: list[Any] | None,
            learned: bool = False) -> dict[str, Any]:
    """Train (priors only when ``tickets``, and the learned ranking too when
    ``learned``) and replay the eval period; the document."""
    runtime = open_runtime(fresh_data_dir(work))
    try:
        nodes, edges = parse_topology(scenario.topology.document())
        runtime.import_topology(nodes, edges, source="benchmark")
        past = [parse_alert(a) for a in scenario.history.alerts]
        model, _ = train_correlation(runtime.registry, past, runtime.engine.topology, "history")
        if tickets is not None and learned:
            settings = runtime.data_dir.settings
            train_root_ranking(runtime.registry, tickets, past, runtime.engine.topology,
                               model.relations, settings,
                               correlator_factory(model, settings, runtime.embedder),
                               "history tickets", correlation_version=model.version)
        elif tickets is not None:
            train_root_priors(runtime.registry, tickets, past, runtime.engine.topology,
                              "history tickets")
        runtime.use_model(model)
        alerts = sorted((parse_alert(a) for a in scenario.eval.alerts),
                        key=lambda a: a.starts_at)
        return replay_alerts(runtime, alerts, None)
    finally:
        runtime.close()


def _earliest(document: dict[str, Any], alerts: dict[str, dict[str, Any]]) -> list[list[str]]:
    out = []
    for incident in document["incidents"]:
        ordered = sorted((alerts[i] for i in incident["alert_ids"]),
                         key=lambda a: (a["starts_at"], a["id"]))
        out.append(list(dict.fromkeys(a["entity"] for a in ordered))[:5])
    return out


def _with_alarmed(scores: dict[str, Any]) -> dict[str, Any]:
    """Add AC@1 and AC@3 over the faults whose root raised an alarm (the rest are
    silent): a change to how silent devices are placed shows in the split."""
    alarmed = scores["faults"] - scores["silent_faults"]
    out = dict(scores)
    for k in ("ac1", "ac3"):
        hits = scores[k] * scores["faults"] - scores[f"{k}_silent"] * scores["silent_faults"]
        out[f"{k}_alarmed"] = hits / alarmed if alarmed else 0.0
    return out


def run_scenario(topology: str, seed: int, work: Path, log: Any) -> dict[str, Any]:
    scenario = generate(ScenarioConfig(topology=topology, seed=seed, faults=288.0, hours=48.0,
                                       history_hours=240.0))
    roles = {n: str(scenario.topology.attrs.get(n, {}).get("role", "device"))
             for n in scenario.topology.graph.nodes}
    history = TicketSimulator(seed).simulate(scenario.history, roles, "H")
    tickets = [parse_ticket(t) for t in history.tickets]
    name = f"{topology}-s{seed}"
    log(f"{name}: {len(scenario.history.alerts)} history alerts, {len(tickets)} tickets; "
        f"{len(scenario.eval.alerts)} eval alerts")
    truth = scenario.eval.truth()
    learned = _replay(work / f"{name}-learned", scenario, tickets, learned=True)
    with_priors = _replay(work / f"{name}-priors", scenario, tickets)
    without = _replay(work / f"{name}-none", scenario, None)
    alerts = {a["id"]: a for a in scenario.eval.alerts}
    rows = {}
    for method, document, roots in (
            (METHODS[0], learned, None), (METHODS[1], with_priors, None),
            (METHODS[2], without, None), (METHODS[3], without, _earliest(without, alerts))):
        groups = [i["alert_ids"] for i in document["incidents"]]
        if roots is None:
            roots = [[r["entity"] for r in i["root_causes"]] for i in document["incidents"]]
        rows[method] = _with_alarmed(evaluate(Prediction(groups=groups, root_causes=roots),
                                              truth))
    faults = sum(1 for g in truth["groups"].values() if g["kind"] == "fault")
    log("  AC@1 " + ", ".join(f"{m} {r['ac1']:.3f}" for m, r in rows.items()))
    return {"name": name, "tickets": len(tickets), "faults": faults, "rows": rows}


def report(results: list[dict[str, Any]], seconds: float, command: str) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    cpu = platform.processor() or platform.machine()
    lines = [
        "## Root-cause priors from resolved tickets", "",
        f"Measured {when} on {cpu}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}; the whole run took {seconds:.0f} s.", "",
        f"Command: `{command}`; engine code: {describe_worktree()}.", "",
        "Scenarios as in the remediation section (240 h of history with simulated resolved "
        "tickets, 48 h of eval; ~25 % silent roots). The engine trains its correlation model "
        "on the history, then what the history's tickets teach, and replays the eval period: "
        "`engine with learned ranking` as `aiops train --tickets` does (the root-cause priors, "
        "`aiops/learning/root_priors.py`, and the ranking learned from the tickets, "
        "`aiops/learning/learned_rank.py`); `engine with ticket priors` the priors alone "
        "(the hand-weighted ranking, as before the learned one); `engine without` no tickets; "
        "the earliest-alert rule on the groups of that last replay. AC@k: share of eval "
        "faults whose root device is in the first k candidates of the incident holding most "
        "of their alerts; silent / alarmed: over the faults whose root device raised nothing "
        "/ something.",
        "", "| scenario | tickets | faults | " + " | ".join(
            f"AC@1 {m}" for m in METHODS) + " |",
        "|---|---:|---:|" + "---:|" * len(METHODS),
    ]
    for r in results:
        lines.append(f"| {r['name']} | {r['tickets']} | {r['faults']} | " + " | ".join(
            f"{r['rows'][m]['ac1']:.3f}" for m in METHODS) + " |")
    lines += ["", "| method | AC@1 | AC@3 | AC@1 silent root | AC@3 silent root "
              "| AC@1 alarmed root | AC@3 alarmed root |", "|---|" + "---:|" * len(MEAN_KEYS)]
    for method in METHODS:
        mean = {k: sum(r["rows"][method][k] for r in results) / len(results)
                for k in MEAN_KEYS}
        lines.append(f"| {method} | " + " | ".join(f"{mean[k]:.3f}" for k in MEAN_KEYS)
                     + " |")
    lines += ["", "Per scenario, AC@1 / AC@3 / AC@1 silent / AC@1 alarmed:", "",
              "| scenario | " + " | ".join(METHODS) + " |", "|---|" + "---|" * len(METHODS)]
    for r in results:
        lines.append(f"| {r['name']} | " + " | ".join(
            " / ".join(f"{r['rows'][m][k]:.3f}" for k in KEYS) for m in METHODS) + " |")
    lines += ["", "Means over scenarios. The ticket-prior weight (0.5) was chosen on other "
              "seeds (huawei 7 and 4, tree 3, ba 5), where it raised AC@1 with true groups "
              "from 0.626 to 0.659."]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    return scenario_main(argv, doc=__doc__ or "", module="benchmarks.root_priors",
                         default=DEFAULT_SCENARIOS, run=run_scenario, report=report,
                         markers=(START, END), label="root-priors")


if __name__ == "__main__":
    sys.exit(main())
