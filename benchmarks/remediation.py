"""Benchmark: remediation recommendations against held-back resolutions of simulated tickets.

For each scenario (``benchmarks.correlation.scenario``: fault cascades along a real
causal graph between alarm types, on a real or synthetic topology), resolved tickets
are simulated for the faults of both periods (``benchmarks.remediation_sim``). The
engine learns from the history period exactly as ``aiops train --alerts --tickets``
does (``cases_from_history`` + ``train_remediation``, promoted in a fresh data dir),
then the eval period is replayed through ``replay_alerts`` (the ``aiops replay``
path) and each eval fault's incident (the one holding most of its events) is
scored by the rank of the fault's true action among the incident's
``remediations``: Hit@1, Hit@3 and MRR, over eval tickets whose action worked.

Baselines, ranked on the same incidents: ``type-frequency`` (actions most often
taken for the incident's root alert type in history, then overall),
``type-frequency-grouped`` (the same over the engine's own grouping of resolution
texts into actions, each group counted as the action most of its tickets took: it
tells the engine's case vote from its action grouping), ``random``
(a random order of all actions), and ``class-oracle`` (most frequent actions for
the fault's *true* class, root alarm type and role: a reference for what the
class distributions allow, not a method).

Usage: python -m benchmarks.remediation [--scenarios tree:1,huawei:1] [--write-docs]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiops.learning.remediation import load_promoted_remediation
from aiops.learning.ticket_training import train_ticket_models
from aiops.learning.training import train as train_correlation
from aiops.models import parse_alert, parse_ticket
from aiops.replay import replay_alerts
from aiops.runtime import open_runtime
from aiops.tickets.root_type import pick_root_type
from benchmarks.correlation.scenario import ScenarioConfig, generate
from benchmarks.correlation.topologies import TOPOLOGIES
from benchmarks.machine import fresh_data_dir
from benchmarks.remediation_sim import TicketSimulator
from topology.model import parse_topology

DOCS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
START, END = "<!-- remediation:start -->", "<!-- remediation:end -->"
DEFAULT_SCENARIOS = "tree:1,tree:2,huawei:1,huawei:2"
METHODS = ("engine", "type-frequency", "type-frequency-grouped", "random", "class-oracle")


@dataclass
class ScenarioResult:
    name: str
    history_tickets: int
    eval_tickets: int
    actions: int
    seconds_train: float
    seconds_replay: float
    ranks: dict[str, list[int | None]] = field(default_factory=lambda: defaultdict(list))


def _rank(order: Sequence[str], truth: str) -> int | None:
    for i, action in enumerate(order, start=1):
        if action == truth:
            return i
    return None


def _fill(order: list[str], fallback: Sequence[str]) -> list[str]:
    return list(dict.fromkeys([*order, *fallback]))


def _incident_of_group(document: dict[str, Any], group_of_alert: dict[str, str]
                       ) -> dict[str, dict[str, Any]]:
    """Fault group → the incident holding most of its events."""
    best: dict[str, tuple[int, dict[str, Any]]] = {}
    for incident in document["incidents"]:
        counts = Counter(group_of_alert.get(a) for a in incident["alert_ids"])
        for group, n in counts.items():
            if group is not None and n > best.get(group, (0, {}))[0]:
                best[group] = (n, incident)
    return {g: inc for g, (_, inc) in best.items()}


def _root_type(incident: dict[str, Any], alerts: dict[str, dict[str, Any]],
               relations: Any) -> str | None:
    """The incident's root alert type as the engine's recommender takes it."""
    causes = incident["root_causes"]
    entity = causes[0].get("entity") if causes else None
    members = [alerts[a] for a in incident["alert_ids"] if a in alerts]
    own = [a for a in members if a["entity"] == entity]
    return pick_root_type([(a["name"], a["starts_at"]) for a in own or members],
                          {a["name"] for a in members}, relations)


def run_scenario(topology: str, seed: int, work: Path, log: Any) -> ScenarioResult:
    config = ScenarioConfig(topology=topology, seed=seed, faults=288.0, hours=48.0,
                            history_hours=240.0)
    scenario = generate(config)
    roles = {n: str(scenario.topology.attrs.get(n, {}).get("role", "device"))
             for n in scenario.topology.graph.nodes}
    sim = TicketSimulator(seed)
    history = sim.simulate(scenario.history, roles, "H")
    evaluation = sim.simulate(scenario.eval, roles, "E")
    name = f"{topology}-s{seed}"
    log(f"{name}: {len(scenario.history.alerts)} history alerts, {len(history.tickets)} "
        f"history tickets; {len(scenario.eval.alerts)} eval alerts, "
        f"{len(evaluation.tickets)} eval tickets")

    runtime = open_runtime(fresh_data_dir(work / name))
    try:
        nodes, edges = parse_topology(scenario.topology.document())
        runtime.import_topology(nodes, edges, source="benchmark")
        started = time.perf_counter()
        tickets = [parse_ticket(t) for t in history.tickets]
        past = [parse_alert(a) for a in scenario.history.alerts]
        # What `aiops train --alerts --tickets` does: the correlation model, then what
        # tickets teach (remediations, root-cause priors and the ranking learned from
        # them: the ranking picks the root whose alert type the recommendations key on).
        correlation, _ = train_correlation(runtime.registry, past, runtime.engine.topology,
                                           f"{name} history")
        runtime.use_model(correlation)
        train_ticket_models(runtime, tickets, past, correlation, f"{name} history")
        model = load_promoted_remediation(runtime.registry)
        assert model is not None
        cases = model.cases_  # as trained on, for the baselines
        seconds_train = time.perf_counter() - started
        started = time.perf_counter()
        alerts = sorted((parse_alert(a) for a in scenario.eval.alerts),
                        key=lambda a: a.starts_at)
        document = replay_alerts(runtime, alerts, None)
        seconds_replay = time.perf_counter() - started
    finally:
        runtime.close()

    all_actions = sorted(set(history.action_of.values()))
    overall = [a for a, _ in Counter(history.action_of[t] for t in history.action_of
                                     if history.worked[t]).most_common()]
    by_type: dict[str | None, Counter[str]] = defaultdict(Counter)
    case_type = {c.ticket_id: c.root_type for c in cases}
    by_class: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for ticket_id, action in history.action_of.items():
        if history.worked[ticket_id]:
            by_type[case_type.get(ticket_id)][action] += 1
            by_class[history.fault_class[history.group_of[ticket_id]]][action] += 1

    # The engine's action groups, each named by the action most of its tickets took.
    group_tickets: dict[int, Counter[str]] = defaultdict(Counter)
    for case, group_id in zip(model.cases_, model.case_action_, strict=True):
        if case.ticket_id in history.action_of:
            group_tickets[group_id][history.action_of[case.ticket_id]] += 1
    group_action = {g: c.most_common(1)[0][0] for g, c in group_tickets.items()}
    by_type_grouped: dict[str | None, Counter[int]] = defaultdict(Counter)
    for case, group_id in zip(model.cases_, model.case_action_, strict=True):
        if case.worked and group_id in group_action:
            by_type_grouped[case.root_type][group_id] += 1

    eval_alerts = {a["id"]: a for a in scenario.eval.alerts}
    incident_of = _incident_of_group(document, scenario.eval.alert_group)
    rng = random.Random(f"random-baseline-{name}")
    result = ScenarioResult(name, len(history.tickets), len(evaluation.tickets),
                            len(all_actions), seconds_train, seconds_replay)
    for ticket in evaluation.tickets:
        ticket_id = ticket["id"]
        if not evaluation.worked[ticket_id]:
            continue  # the held-back resolution must be one that fixed the fault
        truth = evaluation.action_of[ticket_id]
        group = evaluation.group_of[ticket_id]
        incident = incident_of.get(group)
        if incident is None:
            continue
        engine_order = []
        for rec in incident["remediations"]:
            cited = Counter(history.action_of[t] for t in rec["ticket_ids"]
                            if t in history.action_of)
            if cited:
                engine_order.append(cited.most_common(1)[0][0])
        result.ranks["engine"].append(_rank(list(dict.fromkeys(engine_order)), truth))
        root_type = _root_type(incident, eval_alerts, correlation.relations)
        typed = [a for a, _ in by_type.get(root_type, Counter()).most_common()]
        result.ranks["type-frequency"].append(_rank(_fill(typed, overall), truth))
        grouped = [group_action[g] for g, _ in by_type_grouped.get(root_type, Counter())
                   .most_common()]
        result.ranks["type-frequency-grouped"].append(
            _rank(_fill(list(dict.fromkeys(grouped)), overall), truth))
        shuffled = list(all_actions)
        rng.shuffle(shuffled)
        result.ranks["random"].append(_rank(shuffled, truth))
        oracle = [a for a, _ in by_class.get(evaluation.fault_class[group],
                                             Counter()).most_common()]
        result.ranks["class-oracle"].append(_rank(_fill(oracle, overall), truth))
    return result


def metrics(ranks: Sequence[int | None]) -> dict[str, float]:
    n = len(ranks) or 1
    return {"n": len(ranks),
            "hit1": sum(r == 1 for r in ranks) / n,
            "hit3": sum(r is not None and r <= 3 for r in ranks) / n,
            "mrr": sum(1.0 / r for r in ranks if r) / n}


def report(results: list[ScenarioResult], seconds: float, command: str) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    cpu = platform.processor() or platform.machine()
    lines = [
        "## Remediation recommendations", "",
        f"Measured {when} on {cpu}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}; the whole run took {seconds:.0f} s.", "",
        f"Command: `{command}`", "",
        "Scenarios: fault cascades of `benchmarks/correlation/scenario.py` (NeurIPS 2023 "
        "causal graph between alarm types; 240 h of history, 48 h of eval, ~6 faults per hour) "
        "with resolved tickets simulated by `benchmarks/remediation_sim.py`: a fault class "
        "(root alarm type × role of the root device) has its own distribution over the actions "
        "of its category (0.6 / 0.25 / 0.1, and 0.05 for a generic reboot); free-text titles, "
        "root causes and resolutions with paraphrases; 90 % of tickets name the entity, 50 % "
        "list alert ids, 10 % record an action that did not work. The engine trains on the "
        "history tickets as `aiops train --tickets` does and the eval period is replayed "
        "through the `aiops replay` path; each eval ticket whose action worked is scored on "
        "the incident holding most of its fault's events, against its held-back action.", "",
        "| scenario | history tickets | eval tickets scored | true actions | train s | replay s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(f"| {r.name} | {r.history_tickets} | {len(r.ranks['engine'])} | "
                     f"{r.actions} | {r.seconds_train:.1f} | {r.seconds_replay:.1f} |")
    lines += ["", "| method | Hit@1 | Hit@3 | MRR | per scenario Hit@1 |",
              "|---|---:|---:|---:|---|"]
    for method in METHODS:
        pooled = metrics([x for r in results for x in r.ranks[method]])
        per = ", ".join(f"{metrics(r.ranks[method])['hit1']:.2f}" for r in results)
        lines.append(f"| `{method}` | {pooled['hit1']:.3f} | {pooled['hit3']:.3f} | "
                     f"{pooled['mrr']:.3f} | {per} |")
    lines += ["", "`type-frequency`: actions most often taken for the incident's root alert "
              "type (the same type the engine uses), then overall; `type-frequency-grouped`: "
              "the same over the engine's own action groups (resolution texts grouped as "
              "`aiops train` does, each group named by the action most of its tickets took), "
              "so it differs from the engine only in the vote; `random`: a random order "
              "of all actions seen in history; `class-oracle`: the most frequent actions of "
              "the fault's true class, a reference for what the simulated distributions allow "
              "(its Hit@1 is bounded by ~0.6, the most likely action's share), not a method. "
              "The other baselines rank the canonical action ids directly; the engine has to "
              "group paraphrased resolution texts into actions itself, and a recommendation counts "
              "as the action most of its cited tickets took."]
    return "\n".join(lines) + "\n"


def write_section(section: str, start: str, end: str) -> None:
    """Replace the block between ``start`` and ``end`` in docs/benchmarks.md (append
    it when the markers are not there yet)."""
    text = DOCS.read_text(encoding="utf-8")
    block = f"{start}\n{section}{end}"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    DOCS.write_text(text, encoding="utf-8")


def module_command(module: str, argv: Sequence[str] | None) -> str:
    """The command a report names: ``.venv/bin/python -m MODULE`` and the arguments it
    ran with, so that running it again refreshes the section."""
    return " ".join([".venv/bin/python -m", module,
                     *(argv if argv is not None else sys.argv[1:])])


def publish(section: str, write_docs: bool, start: str, end: str) -> None:
    """Print a benchmark's section, and write it into docs/benchmarks.md when asked."""
    print(section)
    if write_docs:
        write_section(section, start, end)


def scenario_main(argv: Sequence[str] | None, *, doc: str, module: str, default: str,
                  run: Callable[[str, int, Path, Callable[[str], None]], Any],
                  report: Callable[[list[Any], float, str], str], markers: tuple[str, str],
                  label: str) -> int:
    """The command line shared by the ticket-based benchmarks: ``--scenarios`` as
    topology:seed pairs, one temporary work dir, a report, ``--write-docs``."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--scenarios", default=default,
                        help="comma-separated topology:seed pairs")
    parser.add_argument("--write-docs", action="store_true",
                        help=f"replace the section between the markers in {DOCS.name}")
    args = parser.parse_args(argv)
    pairs = []
    for item in args.scenarios.split(","):
        topology, _, seed = item.strip().partition(":")
        # Checked before any scenario runs: a typo in the last one must not cost the others.
        if topology not in TOPOLOGIES or not (seed or "1").isdigit():
            parser.error(f"--scenarios: {item.strip()!r} is not TOPOLOGY[:SEED] with TOPOLOGY "
                         f"one of {', '.join(TOPOLOGIES)} and SEED a whole number")
        pairs.append((topology, int(seed or 1)))
    started = time.perf_counter()

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix=f"aiops-{label}-") as tmp:
        results = [run(t, s, Path(tmp), log) for t, s in pairs]
    command = f".venv/bin/python -m {module}" + (
        f" --scenarios {args.scenarios}" if args.scenarios != default else "") + (
        " --write-docs" if args.write_docs else "")
    section = report(results, time.perf_counter() - started, command)
    print(section)
    if args.write_docs:
        write_section(section, *markers)
        log(f"wrote the {label} section of {DOCS}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return scenario_main(argv, doc=__doc__ or "", module="benchmarks.remediation",
                         default=DEFAULT_SCENARIOS, run=run_scenario, report=report,
                         markers=(START, END), label="remediation")


if __name__ == "__main__":
    sys.exit(main())
