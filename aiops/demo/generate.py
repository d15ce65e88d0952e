"""Generates the demo topology and alert stream (deterministic for a given seed)."""

from __future__ import annotations

import json
import random
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from aiops.timeutil import to_rfc3339

DATA = Path(__file__).with_name("data")
_TYPE_WORDS = (
    "POWER_SUPPLY_FAIL", "BOARD_FAULT", "FIBER_CUT", "LINK_DOWN", "LOS", "BER_HIGH",
    "PORT_FLAP", "CPU_OVERLOAD", "TEMP_HIGH", "FAN_FAIL", "CLOCK_UNLOCKED", "BGP_DOWN",
    "OSPF_NEIGHBOR_LOST", "LSP_DOWN", "PACKET_LOSS", "LATENCY_HIGH", "CELL_OUTAGE",
    "S1_LINK_FAIL", "RADIO_UNIT_FAULT", "VSWR_ALARM",
)
SITES = 5
SPAN = 6 * 3600.0  # seconds of simulated operations


@dataclass(frozen=True)
class DemoData:
    topology: dict[str, Any]
    alerts: list[dict[str, Any]]
    faults: int


def alarm_type_names(count: int) -> list[str]:
    """Readable names for the anonymised types: a word, and a number once words repeat."""
    return [_TYPE_WORDS[i] if i < len(_TYPE_WORDS) else f"{_TYPE_WORDS[i % len(_TYPE_WORDS)]}_{i}"
            for i in range(count)]


def demo_topology() -> dict[str, Any]:
    adjacency = np.load(DATA / "topology.npy")
    n = adjacency.shape[0]
    nodes = [{"id": f"ne-{i:02d}", "kind": "device", "name": f"ne-{i:02d}",
              "attrs": {"site": f"site-{i % SITES}", "aliases": [f"ne-{i:02d}.demo.net"]}}
             for i in range(n)]
    edges = [{"source": f"ne-{i:02d}", "target": f"ne-{j:02d}", "kind": "connected_to",
              "attrs": {}}
             for i in range(n) for j in range(i + 1, n) if adjacency[i, j]]
    return {"nodes": nodes, "edges": edges}


def _alert(seq: int, name: str, entity: str, severity: str, start: float, end: float | None,
           fault: str) -> dict[str, Any]:
    return {"id": f"demo-{seq:06d}", "source": "nms", "name": name, "entity": entity,
            "severity": severity, "summary": f"{name} on {entity}",
            "starts_at": to_rfc3339(start), "ends_at": to_rfc3339(end),
            "labels": {"demo_fault": fault}}


def demo_alerts(start: float, faults: int = 30, noise: int = 40,
                seed: int = 7) -> DemoData:
    """``faults`` cascades and ``noise`` background alarms in the six hours after ``start``.

    Alarms that would clear after ``start`` + 6 h are left firing, so a demo started
    at now − 6 h shows open incidents next to resolved ones.
    """
    rng = random.Random(seed)
    topology = demo_topology()
    adjacency = np.load(DATA / "topology.npy")
    causal = np.load(DATA / "true_graph.npy")
    names = alarm_type_names(causal.shape[0])
    roots = [t for t in range(causal.shape[0]) if causal[t].sum() >= 3]
    n = adjacency.shape[0]
    out: list[dict[str, Any]] = []
    span = SPAN
    now = start + span

    def cleared(at: float) -> float | None:
        return at if at <= now else None  # faults not over yet are still firing

    for f in range(faults):
        t0 = start + span * f / faults + rng.uniform(0, 60)
        device = rng.randrange(n)
        root_type = rng.choice(roots)
        fault = f"fault-{f:02d}"
        end = cleared(t0 + rng.uniform(300, 1500))
        if rng.random() > 0.3:  # 30% of root devices fail silently
            out.append(_alert(len(out), names[root_type], f"ne-{device:02d}", "critical", t0, end,
                              fault))
        effects = [int(t) for t in np.flatnonzero(causal[root_type])]
        for nb in (int(j) for j in np.flatnonzero(adjacency[device])):
            for effect in rng.sample(effects, k=min(2, len(effects))):
                delay = rng.uniform(2, 45)
                entity = f"ne-{nb:02d}" if rng.random() > 0.2 else f"ne-{nb:02d}.demo.net"
                out.append(_alert(len(out), names[effect], entity, "major", t0 + delay,
                                  end, fault))
                if rng.random() < 0.3:  # the NMS re-sends the same condition
                    out.append(_alert(len(out), names[effect], entity, "major",
                                      t0 + delay + rng.uniform(10, 60), end, fault))
    for _ in range(noise):
        t = start + rng.uniform(0, span)
        out.append(_alert(len(out), names[rng.randrange(len(names))],
                          f"ne-{rng.randrange(n):02d}", "warning", t,
                          cleared(t + rng.uniform(30, 600)),
                          "background"))
    out.sort(key=lambda a: a["starts_at"])
    return DemoData(topology=topology, alerts=out, faults=faults)


def write_history(directory: Path, start: float, faults: int) -> Path:
    """A day of earlier alarms (other faults, same network) for ``aiops train``."""
    directory.mkdir(parents=True, exist_ok=True)
    days = 4  # four demo spans of six hours
    path = directory / "history.jsonl"
    with path.open("w", encoding="utf-8") as handle:
        for day in range(days):
            data = demo_alerts(start + day * SPAN, faults=faults, seed=100 + day)
            for alert in data.alerts:
                alert["id"] = f"hist{day}-{alert['id']}"
                handle.write(json.dumps(alert) + "\n")
    return path


def write_demo(directory: Path, start: float, **kwargs: Any) -> tuple[Path, Path, DemoData]:
    """Write ``topology.json`` and ``alerts.jsonl`` into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    data = demo_alerts(start, **kwargs)
    topo_path = directory / "topology.json"
    alerts_path = directory / "alerts.jsonl"
    topo_path.write_text(json.dumps(data.topology, indent=1), encoding="utf-8")
    with alerts_path.open("w", encoding="utf-8") as handle:
        for alert in data.alerts:
            handle.write(json.dumps(alert) + "\n")
    return topo_path, alerts_path, data


DEMO_PLAYBOOK = "demo-log"
_APPEND = "import sys; open(sys.argv[1], 'a').write(' '.join(sys.argv[2:]) + '\\n')"


def write_demo_playbook(folder: Path, log: Path) -> Path:
    """A harmless playbook offered for every demo incident: it appends the incident and
    its top root cause to ``log``, so the incident view's Run button can be tried
    without touching anything real. An operator's own file of that name is kept."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{DEMO_PLAYBOOK}.yml"
    if not path.exists():
        doc = {"description": "Demo: append the incident and its probable root cause to "
                              f"{log.name} in the demo folder",
               "steps": [{"name": "append to the demo log",
                          "command": [sys.executable, "-c", _APPEND, str(log.resolve()),
                                      "{incident.id}", "{root.entity}"],
                          "timeout": 10}]}
        path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path
