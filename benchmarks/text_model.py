"""Text model: start-up and encoding speed of the numpy MiniLM against sentence-transformers.

Why: every process that compares alert texts (``aiops replay``, ``aiops serve``, a
Celery worker, ``aiops train``) loads all-MiniLM-L6-v2 once, and then embeds each new
alert template (the hot path meets a new template rarely, but when it does the alert
waits for it). The engine runs the model's forward pass in numpy
(``aiops/learning/minilm.py``); the peer is the same model run by sentence-transformers
and torch (``AIOPS_TEXT_BACKEND=sentence-transformers``). Each backend is measured in
a fresh interpreter, so the load time includes every import it needs, on the same
texts: alert templates of the demo's alarm types and the ticket phrases of the
remediation simulator. The vectors of the two are compared as well.

Usage: .venv/bin/python -m benchmarks.text_model [--repeat 3] [--write-docs]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from aiops.demo.generate import alarm_type_names
from aiops.learning.templates import alert_text, template
from benchmarks.machine import cpu_model, load_average
from benchmarks.remediation import write_section
from benchmarks.remediation_sim import CATALOGUE, GENERIC, GENERIC_SYMPTOMS

START, END = "<!-- text-model:start -->", "<!-- text-model:end -->"
BACKENDS = ("numpy", "sentence-transformers")

# Run in a fresh interpreter per backend: argv = backend, texts.json, vectors.npy.
_PROBE = r"""
import json, sys, time
started = time.perf_counter()
from aiops.learning import embeddings
model = embeddings._load_model()
loaded = time.perf_counter() - started
texts = json.load(open(sys.argv[2], encoding="utf-8"))
model.encode(texts[:8], 64)  # first call: lazy set-up inside the libraries
started = time.perf_counter()
vectors = model.encode(texts, 64)
batch = time.perf_counter() - started
singles = []
for text in texts[:100]:
    started = time.perf_counter()
    model.encode([text], 64)
    singles.append(time.perf_counter() - started)
import numpy as np
np.save(sys.argv[3], vectors)
singles.sort()
print(json.dumps({"load_s": loaded, "batch_s": batch, "texts": len(texts),
                  "single_p50_ms": 1000 * singles[len(singles) // 2],
                  "single_p99_ms": 1000 * singles[int(0.99 * (len(singles) - 1))],
                  "torch_imported": "torch" in sys.modules}))
"""


def workload() -> list[str]:
    """Distinct templates: alert texts of the demo's types and the tickets' phrases."""
    texts: list[str] = []
    kinds = ("on {d}", "on {d} port 3/1/{n}", "cleared on {d}", "{d}: threshold {n}% exceeded",
             "peer {d} unreachable since {n} s")
    for name in alarm_type_names(59):
        for kind in kinds:
            texts.append(alert_text(name, f"{name} " + kind.format(d="ne-07", n=12)))
    for symptoms, causes, actions in CATALOGUE.values():
        texts += symptoms + causes
        for _, wordings in actions:
            texts += wordings
    texts += list(GENERIC[1]) + list(GENERIC_SYMPTOMS)
    return list(dict.fromkeys(template(t) for t in texts))


def measure(backend: str, texts_path: Path, out: Path) -> dict[str, float]:
    env = {**os.environ, "AIOPS_TEXT_BACKEND": backend, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", _PROBE, backend, str(texts_path), str(out)],
                          capture_output=True, text=True, env=env, timeout=600, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{backend}: probe failed: {done.stderr.strip()[-800:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def report(runs: dict[str, list[dict[str, float]]], agreement: tuple[float, float],
           texts: int, command: str) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    cpu = cpu_model()
    load = load_average()
    lines = [
        "## Text model: start-up and encoding", "",
        f"Measured {when} on {cpu}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}; 1-minute load average {load} at the end. "
        f"Each backend ran in {len(next(iter(runs.values())))} fresh interpreter(s), "
        "alternating; the table shows the run with the median load time.", "",
        f"Command: `{command}`", "",
        f"Texts: {texts} distinct templates (the demo's 59 alarm types in 5 alert wordings, "
        "and the ticket phrases of `benchmarks/remediation_sim.py`). *Load*: from the first "
        "import to a usable model, imports included (what a new `aiops replay` or worker "
        "pays once). *Batch*: all texts in one call, 64 per batch (what `aiops train` "
        "does). *One text*: one template alone, as the correlator meets a new one.", "",
        "| backend | load s | batch: texts/s | one text p50 ms | one text p99 ms | "
        "imports torch |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for backend, results in runs.items():
        mid = sorted(results, key=lambda r: r["load_s"])[len(results) // 2]
        lines.append(
            f"| `{backend}`{' (engine default)' if backend == 'numpy' else ''} | "
            f"{mid['load_s']:.2f} | {mid['texts'] / mid['batch_s']:,.0f} | "
            f"{mid['single_p50_ms']:.1f} | {mid['single_p99_ms']:.1f} | "
            f"{'yes' if mid['torch_imported'] else 'no'} |")
    lines += ["", f"Agreement on the same texts: smallest cosine between the two backends' "
              f"vectors {agreement[0]:.7f}, largest difference in any coordinate "
              f"{agreement[1]:.1e} (float32)."]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="fresh interpreters per backend")
    parser.add_argument("--write-docs", action="store_true",
                        help="replace the text-model section of docs/benchmarks.md")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error(f"--repeat must be at least 1, got {args.repeat}")
    texts = workload()
    runs: dict[str, list[dict[str, float]]] = {b: [] for b in BACKENDS}
    with tempfile.TemporaryDirectory(prefix="aiops-text-model-") as tmp:
        texts_path = Path(tmp) / "texts.json"
        texts_path.write_text(json.dumps(texts), encoding="utf-8")
        for i in range(args.repeat):
            for backend in BACKENDS:
                print(f"[{i + 1}/{args.repeat}] {backend} …", file=sys.stderr, flush=True)
                started = time.perf_counter()
                runs[backend].append(measure(backend, texts_path, Path(tmp) / f"{backend}.npy"))
                print(f"    {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
        ours, peer = (np.load(Path(tmp) / f"{b}.npy") for b in BACKENDS)
    agreement = (float((ours * peer).sum(axis=1).min()), float(np.abs(ours - peer).max()))
    command = ".venv/bin/python -m benchmarks.text_model" + (
        f" --repeat {args.repeat}" if args.repeat != 3 else "") + (
        " --write-docs" if args.write_docs else "")
    section = report(runs, agreement, len(texts), command)
    print(section)
    if args.write_docs:
        write_section(section, START, END)
        print("wrote the text-model section of docs/benchmarks.md", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
