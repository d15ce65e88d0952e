"""Benchmark: what the correlator's scoring weights gain from operator feedback.

Operators merge and split incidents (``POST /api/v1/incidents/{id}/merge|split``) and
``aiops train`` fits the scoring weights to what they left (``aiops/learning/weights.py``).
Whether that helps can only be measured where the right grouping is known, so for each
scenario of ``benchmarks.correlation.scenario`` (a history period and a later, disjoint
eval period, both with ground truth):

1. the history is replayed through a real runtime (``replay_alerts``, the ``aiops
   replay`` path) into a fresh data dir with the scenario's topology;
2. a simulated operator reviews the incidents that started in the last ``--review``
   share of it and corrects them from ``truth.json`` *through the HTTP API* (Flask's
   test client): split out the alarms of other faults, then merge a fault's pieces;
3. the data dir trains as ``aiops train --alerts history.jsonl`` does (labels from the
   stored feedback, weak labels as ``--weak`` says, a fit of ``--fit-seconds`` at most);
4. the eval period, which neither the operators nor the fit saw, is replayed twice in
   fresh data dirs: with the learned relations and the default weights, and with the
   fitted weights. Both are scored against its truth (pairwise F1 etc., AC@1).

Seeds 31–35 by default: the correlation benchmark uses 1–3, the integration test
(``tests/integration/test_feedback_training.py``) 11 and 16, and the weights' defaults
and the weak-label modes were chosen while looking at 11–24.

Progress goes to stderr, the report to stdout, every number to
benchmarks/out/feedback.json; ``--write-docs`` replaces the feedback section of
docs/benchmarks.md.

Usage: python -m benchmarks.feedback [--topologies huawei,ba,tree] [--seeds 31,32,33,34,35]
           [--review 0.3] [--weak near] [--fit-seconds 300] [--write-docs]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shlex
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from aiops.api import create_app
from aiops.engine.scored_correlator import ScoringWeights
from aiops.learning.labels import WEAK_MODES, read_labels
from aiops.learning.training import CorrelationModel, train
from aiops.learning.weights import ScoringWeightsFitter
from aiops.learning.windows import reach
from aiops.models import Alert
from aiops.replay import load_alerts, replay_alerts
from aiops.runtime import Runtime, open_runtime
from aiops.store.tables import alerts as alerts_table
from aiops.store.tables import incidents as incidents_table
from benchmarks.correlation.metrics import Prediction, evaluate
from benchmarks.correlation.report import markdown_table
from benchmarks.correlation.run import machine
from benchmarks.correlation.scenario import ScenarioConfig, generate, write_scenario
from benchmarks.correlation.topologies import TOPOLOGIES
from benchmarks.machine import fresh_data_dir
from benchmarks.remediation import write_section
from topology.loader import read_topology

ROOT = Path(__file__).resolve().parent.parent
OUT_JSON = ROOT / "benchmarks" / "out" / "feedback.json"
START, END = "<!-- feedback:start -->", "<!-- feedback:end -->"
DEFAULT_TOPOLOGIES = "huawei,ba,tree"
DEFAULT_SEEDS = "31,32,33,34,35"
METRICS = (("f1", "pair F1"), ("precision", "precision"), ("recall", "recall"),
           ("ari", "ARI"), ("ac1", "AC@1"))
Log = Callable[[str], None]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def import_topology(rt: Runtime, path: Path) -> None:
    nodes, edges = read_topology(path)
    rt.import_topology(nodes, edges, "sim")


def membership(rt: Runtime) -> dict[str, str]:
    """First event id of every alert → its incident now."""
    with rt.db.connect() as conn:
        return dict(conn.execute(sa.select(alerts_table.c.first_event_id,
                                           alerts_table.c.incident_id)).all())


def correct_from_truth(rt: Runtime, truth: dict[str, str], reviewed_share: float) -> int:
    """What a diligent operator does to the incidents that started in the last
    ``reviewed_share`` of the period: split out alarms of other faults (keeping the
    largest fault in place), then merge the pieces of one fault. Through the API, so
    the feedback is stored exactly as a real operator's is; returns the API calls."""
    client = create_app(runtime=rt).test_client()
    with rt.db.connect() as conn:
        starts = dict(conn.execute(sa.select(incidents_table.c.id,
                                             incidents_table.c.started_at)).all())
    low, high = min(starts.values()), max(starts.values())
    cut = high - reviewed_share * (high - low)
    calls = 0
    by_incident: dict[str, dict[str, list[str]]] = {}
    for alert_id, incident in membership(rt).items():
        by_incident.setdefault(incident, {}).setdefault(truth[alert_id], []).append(alert_id)
    for incident, faults in by_incident.items():
        if starts[incident] < cut or len(faults) < 2:
            continue
        keep = max(faults, key=lambda fault: len(faults[fault]))
        for fault, alert_ids in faults.items():
            if fault != keep:
                answer = client.post(f"/api/v1/incidents/{incident}/split",
                                     json={"alert_ids": alert_ids, "author": "sim"})
                assert answer.status_code == 200, answer.get_json()
                calls += 1
    pieces: dict[str, dict[str, int]] = {}
    for alert_id, incident in membership(rt).items():
        counts = pieces.setdefault(truth[alert_id], {})
        counts[incident] = counts.get(incident, 0) + 1
    for counts in pieces.values():
        target = max(counts, key=lambda incident: counts[incident])
        if len(counts) > 1 and starts.get(target, high) >= cut:
            answer = client.post(f"/api/v1/incidents/{target}/merge", json={
                "incident_ids": [i for i in counts if i != target], "author": "sim"})
            assert answer.status_code == 200, answer.get_json()
            calls += 1
    return calls


def train_like_cli(rt: Runtime, history: list[Alert], weak: str, fit_seconds: float
                   ) -> tuple[CorrelationModel, dict[str, Any]]:
    """What ``aiops train --alerts`` does with a data dir's stored feedback
    (``aiops/cli_learning.py``), without the progress lines."""
    settings = rt.data_dir.settings
    with rt.db.connect() as conn:
        labels = read_labels(conn, weak=weak, reach=reach(settings))
    text = rt.embedder if settings.text_similarity else None
    return train(rt.registry, history, rt.engine.topology, "history", embedder=text,
                 labels=labels, settings=settings,
                 fitter=ScoringWeightsFitter(max_seconds=fit_seconds))


def score_eval(work: Path, paths: dict[str, Path], truth: dict[str, Any],
               model: CorrelationModel) -> dict[str, Any]:
    """Replay the eval period with ``model`` in a fresh data dir; the benchmark's scores."""
    rt = open_runtime(fresh_data_dir(work))
    try:
        import_topology(rt, paths["topology"])
        rt.use_model(model)
        document = replay_alerts(rt, load_alerts(paths["eval"]), None)
    finally:
        rt.close()
    incidents = document["incidents"]
    prediction = Prediction([i["alert_ids"] for i in incidents],
                            [[rc["entity"] for rc in i["root_causes"]] for i in incidents])
    return evaluate(prediction, truth)


def run_seed(config: ScenarioConfig, review: float, weak: str, fit_seconds: float,
             work: Path, log: Log = log) -> dict[str, Any]:
    """One scenario end to end: history, corrections through the API, fit, eval twice."""
    name = f"{config.topology}-s{config.seed}"
    load = os.getloadavg()[0]
    started = time.perf_counter()
    paths = write_scenario(generate(config), work / name / "scenario")
    truth = json.loads(paths["truth"].read_text(encoding="utf-8"))["periods"]
    history = load_alerts(paths["history"])
    rt = open_runtime(fresh_data_dir(work / name / "live"))
    try:
        import_topology(rt, paths["topology"])
        replay_alerts(rt, history, None)
        corrections = correct_from_truth(rt, truth["history"]["alerts"], review)
        model, meta = train_like_cli(rt, history, weak, fit_seconds)
    finally:
        rt.close()
    weights = meta["weights"]
    default = score_eval(work / name / "eval-default", paths, truth["eval"],
                         dataclasses.replace(model, weights=ScoringWeights()))
    fitted = score_eval(work / name / "eval-fitted", paths, truth["eval"], model)
    keys = [k for k, _ in METRICS]
    result = {
        "topology": config.topology, "seed": config.seed, "name": name,
        "history_alerts": len(history), "eval_alerts": default["alerts"],
        "corrections": corrections, "load_average": round(load, 2),
        "fit": {k: weights.get(k) for k in (
            "fitted", "feedback_records", "corrected_incidents", "weak_incidents",
            "labelled_alerts", "f1_before", "f1_after", "changed", "evaluations",
            "seconds", "stopped_early", "reason")},
        "default": {k: round(float(default[k]), 4) for k in keys},
        "fitted": {k: round(float(fitted[k]), 4) for k in keys},
        "seconds": round(time.perf_counter() - started, 1),
    }
    log(f"{name}: {corrections} corrections, fit {weights.get('seconds', 0):.0f} s "
        f"({describe_changes(weights.get('changed') or {})}); eval pair F1 "
        f"{result['default']['f1']:.4f} -> {result['fitted']['f1']:.4f}; "
        f"{result['seconds']:.0f} s, load {load:.1f}")
    return result


def describe_changes(changed: dict[str, Sequence[float]]) -> str:
    return ", ".join(f"{k} {a:g}→{b:g}" for k, (a, b) in changed.items()) or "defaults kept"


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def up_same_down(results: Sequence[dict[str, Any]]) -> str:
    """How many seeds the fit raised, kept or lowered eval pair F1 on (and the worst)."""
    deltas = [r["fitted"]["f1"] - r["default"]["f1"] for r in results]
    up = sum(d > 0 for d in deltas)
    down = [d for d in deltas if d < 0]
    worst = f" (worst {min(down):+.3f})".replace("-", "−") if down else ""
    return f"{up} / {len(deltas) - up - len(down)} / {len(down)}{worst}"


def topology_table(results: Sequence[dict[str, Any]]) -> str:
    """Per seed: corrections, the fit, and every eval score default → fitted; then means."""
    header = ["seed", "corrections", "fit s", "weights changed",
              *(label for _, label in METRICS)]
    rows = []
    for r in results:
        fit = r["fit"]
        rows.append([str(r["seed"]), str(r["corrections"]), f"{fit.get('seconds') or 0:.0f}",
                     describe_changes(fit.get("changed") or {}),
                     *(f"{r['default'][k]:.3f} → {r['fitted'][k]:.3f}" for k, _ in METRICS)])
    rows.append(["mean", f"{mean([r['corrections'] for r in results]):.0f}",
                 f"{mean([r['fit'].get('seconds') or 0 for r in results]):.0f}", "",
                 *(f"{mean([r['default'][k] for r in results]):.3f} → "
                   f"{mean([r['fitted'][k] for r in results]):.3f}" for k, _ in METRICS)])
    return markdown_table(header, rows)


def by_topology(results: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for r in results:
        out.setdefault(r["topology"], []).append(r)
    return out


def seed_span(results: Sequence[dict[str, Any]]) -> str:
    seeds = sorted(r["seed"] for r in results)
    contiguous = seeds == list(range(seeds[0], seeds[-1] + 1))
    return f"{seeds[0]}–{seeds[-1]}" if contiguous and len(seeds) > 1 else ", ".join(
        map(str, seeds))


def summary_table(document: dict[str, Any]) -> str:
    """One row per topology, the shape of the table in docs/architecture.md."""
    review = document["review"]
    reviewed = "all" if review >= 1.0 else f"last {review:.0%}".replace("%", " %")
    rows = []
    for topology, results in by_topology(document["results"]).items():
        rows.append([f"{topology} ({seed_span(results)})", reviewed, document["weak"],
                     f"{mean([r['default']['f1'] for r in results]):.3f}",
                     f"{mean([r['fitted']['f1'] for r in results]):.3f}",
                     up_same_down(results)])
    return markdown_table(["topology (seeds)", "reviewed", "weak labels", "defaults",
                           "fitted", "per seed: up / same / down"], rows)


def report(document: dict[str, Any]) -> str:
    """The docs section (markdown, ending in a newline)."""
    info = document["machine"]
    loads = [r["load_average"] for r in document["results"]]
    fits = [r["fit"].get("seconds") or 0 for r in document["results"]]
    review = document["review"]
    lines = [
        "## Learning from operator feedback", "",
        f"Measured {document['date']} on {info['cpu']} ({info['nproc']} CPUs), Python "
        f"{info['python']}; the whole run took {document['elapsed_seconds']:.0f} s. The "
        f"machine was shared: 1-minute load average {min(loads):.1f}–{max(loads):.1f} at "
        "the scenarios' starts (it changes fit times, and how far a fit gets within its "
        "budget, not the replays' scores).", "",
        f"Command: `{document['command']}`", "",
        "Scenarios of `benchmarks/correlation/scenario.py` (24 h of history, a later 8 h "
        "eval period). The history is replayed through a runtime; a simulated operator "
        + ("reviews all of it" if review >= 1.0 else
           f"reviews the incidents that started in its last {review:.0%}".replace("%", " %"))
        + " and corrects them from the ground truth through the HTTP API (split out other "
        "faults' alarms, merge a fault's pieces: `corrections` counts the calls); the data "
        f"dir then trains as `aiops train` does (weak labels `{document['weak']}`, fit "
        f"budget {document['fit_seconds']:g} s). The eval period, which neither the "
        "operators nor the fit saw, is replayed with the learned relations and the "
        "default weights, and with the fitted weights; cells are default → fitted. Pair "
        "F1/precision/recall and ARI over pairs of alert events; AC@1: share of eval faults "
        "whose root device ranks first in the incident holding most of their alerts.", "",
        summary_table(document), "",
        "Up / same / down: seeds on which the fitted weights raised, kept or lowered the "
        f"eval pair F1. Each fit took at most {max(fits):.0f} s. Other settings of the same "
        "benchmark: `--review 1` (operators review all of the history), `--weak none|all` "
        "(docs/architecture.md, \"Fitting the scoring weights\", compares them).", "",
    ]
    for topology, results in by_topology(document["results"]).items():
        lines += [f"**{topology}**", "", topology_table(results), ""]
    return "\n".join(lines)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--topologies", default=DEFAULT_TOPOLOGIES,
                        help=f"comma list of {', '.join(TOPOLOGIES)}")
    parser.add_argument("--seeds", default=DEFAULT_SEEDS, help="comma list, per topology")
    parser.add_argument("--review", type=float, default=0.3,
                        help="share of the history (its end) whose incidents operators "
                             "correct; 1 for all of it")
    parser.add_argument("--weak", choices=WEAK_MODES, default="near",
                        help="which uncorrected incidents count as labels (aiops train "
                             "--weak-labels)")
    parser.add_argument("--fit-seconds", type=float, default=300.0,
                        help="time budget of each weight fit (aiops train --fit-seconds)")
    parser.add_argument("--json", type=Path, default=OUT_JSON)
    parser.add_argument("--write-docs", action="store_true",
                        help="replace the feedback section of docs/benchmarks.md")
    args = parser.parse_args(argv)
    if not 0.0 < args.review <= 1.0:
        parser.error("--review must be in (0, 1]")
    for topology in args.topologies.split(","):
        if topology not in TOPOLOGIES:
            parser.error(f"unknown topology {topology!r}: choose from {', '.join(TOPOLOGIES)}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    configs = [ScenarioConfig(topology=t, seed=s) for t in args.topologies.split(",")
               for s in seeds]
    started = time.perf_counter()
    log(f"{len(configs)} scenarios; review {args.review:g}, weak labels {args.weak}, "
        f"fit budget {args.fit_seconds:g} s")
    with tempfile.TemporaryDirectory(prefix="aiops-feedback-") as tmp:
        results = [run_seed(c, args.review, args.weak, args.fit_seconds, Path(tmp))
                   for c in configs]
    document = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": ".venv/bin/python -m benchmarks.feedback"
                   + (" " + shlex.join(argv) if argv else ""),
        "machine": machine(), "elapsed_seconds": round(time.perf_counter() - started, 1),
        "review": args.review, "weak": args.weak, "fit_seconds": args.fit_seconds,
        "results": results,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(document, indent=1), encoding="utf-8")
    section = report(document)
    print(section)
    log(f"wrote {args.json}")
    if args.write_docs:
        write_section(section, START, END)
        log("wrote the feedback section of docs/benchmarks.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
