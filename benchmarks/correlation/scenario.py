"""Fault-cascade scenarios with ground truth, deterministic per seed.

Why simulate: real alarm logs (the Huawei samples included) carry no label saying
which alarms belong to one fault, so grouping and root cause cannot be scored on
them. The simulation keeps what is real — the topology, the causal graph between
alarm types, the types' frequencies and durations in the real log — and adds the
things that make correlation hard in practice, each with a knob:

* faults arrive as a Poisson process, so cascades overlap;
* a fault starts with a root alarm type (one that causes others) on a root device;
  the root alarm is missing with probability ``p_silent`` (a dead device reports
  nothing, so then no alarm of that fault comes from the root device at all);
* each causal edge type → child type fires with probability ``p_edge`` and lands on
  the same device or one 1 or 2 hops away (``hop_weights``), up to ``max_depth``
  steps from the root, so the alarms follow the causal graph and the topology;
* every alarm is reported late (lognormal delay) and stamped by its device's clock,
  which is off by up to ±``skew`` seconds;
* ~``p_duplicate`` of the events are re-sent (same condition, new event id);
* alarms clear some minutes after the fault ends; some never clear (still firing);
* unrelated background alarms arrive as a Poisson process on random devices with
  types drawn from the real log's frequencies; each is its own ground-truth group.

Output (into ``--out``): ``topology.json``, ``history.jsonl`` (training period),
``eval.jsonl`` (a later, disjoint period), ``truth.json`` (per period: alert id →
group id, group id → root entity, root alarm type, silent or not).

Usage: python -m benchmarks.correlation.scenario --topology huawei|tree|ba|rings|clos --seed N
           --out DIR
"""

from __future__ import annotations

import argparse
import bisect
import json
import math
import random
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx

from benchmarks.correlation.data import CausalModel, load_causal
from benchmarks.correlation.topologies import TOPOLOGIES, Topology, build_topology

START_EPOCH = 1_767_225_600.0  # 2026-01-01T00:00:00Z; any fixed instant would do
PERIOD_GAP = 3600.0  # seconds between history and eval: far more than a cascade lasts
SOURCE = "sim"
# With ``slow_share`` above 0 the devices report through one of two sources: traps
# (seconds) or a poller (a minute or more); their alerts carry these ``source`` fields.
FAST_SOURCE, SLOW_SOURCE = "trap", "poll"
# Severity is a property of the alarm type only: it must not tell a root from a symptom.
SEVERITY_CYCLE = ("major", "minor", "warning", "critical", "major", "minor", "warning")
DELAY_CAP = 90.0  # seconds; no single propagation or reporting delay is longer


@dataclass(frozen=True)
class ScenarioConfig:
    """Every knob of a scenario; the same config gives the same files."""

    topology: str = "huawei"
    seed: int = 1
    nodes: int | None = None  # size of a synthetic topology (default per topology)
    causal: str = "neurips"  # causal graph between alarm types: neurips or wireless
    faults: float = 48.0  # expected faults in the eval period
    hours: float = 8.0  # length of the eval period
    history_hours: float = 24.0  # length of the training period before it
    noise: float = 2.0  # background alarms per fault (so the rate scales with faults)
    p_silent: float = 0.25
    p_edge: float = 0.6
    max_depth: int = 3
    max_alarms: int = 40  # conditions per fault at most (dense causal graphs explode)
    hop_weights: tuple[float, float, float] = (0.5, 0.35, 0.15)  # same device, 1 hop, 2 hops
    fanout: float = 0.3  # chance a firing edge reaches a second device too
    propagation_median: float = 4.0  # seconds from cause to effect
    report_median: float = 8.0  # seconds from onset to the event's timestamp
    # Both delays above (and their cap) times this: monitoring that polls every minute
    # or so reports cascades more slowly and more spread out than traps and streams do.
    delay_scale: float = 1.0
    # A share of the devices (chosen by seed) reporting through a slow source instead:
    # their report delays (and its cap) times ``slow_factor``; propagation, a property
    # of the network, stays. Real networks mix traps and syslog (seconds) with polling
    # (Zabbix, Icinga checks: a minute or more), so one time scale cannot fit both.
    slow_share: float = 0.0
    slow_factor: float = 6.0
    skew: float = 20.0  # device clocks are off by up to ± this many seconds
    p_duplicate: float = 0.2
    fault_minutes: float = 10.0  # median time until a fault is repaired
    p_never_clears: float = 0.05  # alarms with no clear (still firing at the end)

    @property
    def rate_per_hour(self) -> float:
        return self.faults / self.hours


@dataclass
class Period:
    """One period's alerts (canonical dicts) and its ground truth."""

    name: str
    start: float
    end: float
    alerts: list[dict[str, Any]] = field(default_factory=list)
    alert_group: dict[str, str] = field(default_factory=dict)
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)

    def truth(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "alerts": self.alert_group,
                "groups": self.groups}


@dataclass
class _Event:
    """An alarm before it gets its id: ids are given in time order so they leak nothing."""

    type_index: int
    device: str
    starts_at: float
    ends_at: float | None
    group: str


def _lognormal(rng: random.Random, median: float, sigma: float, scale: float = 1.0) -> float:
    return min(rng.lognormvariate(math.log(median * scale), sigma), DELAY_CAP * scale)


class _Simulator:
    """Draws one scenario; all randomness comes from one seeded generator, in order."""

    def __init__(self, config: ScenarioConfig, topology: Topology, causal: CausalModel):
        self.config = config
        self.topology = topology
        self.causal = causal
        self.rng = random.Random(f"scenario-{config.topology}-{config.causal}-{config.seed}")
        self.devices = sorted(topology.graph.nodes)
        self.skew = {d: self.rng.uniform(-config.skew, config.skew) for d in self.devices}
        self._rings: dict[str, list[list[str]]] = {}
        # A generator of its own, so the scenario's other draws (and so its faults and
        # background) are those of the same seed with every device fast.
        slow_rng = random.Random(f"slow-{config.topology}-{config.causal}-{config.seed}")
        count = round(config.slow_share * len(self.devices))
        self.slow = frozenset(slow_rng.sample(self.devices, count)) if count else frozenset()
        self._type_cumulative = _cumulative(causal.type_weights)

    def ring(self, device: str, hops: int) -> list[str]:
        """Devices exactly ``hops`` away from ``device`` (cached, sorted for determinism)."""
        rings = self._rings.get(device)
        if rings is None:
            dist = nx.single_source_shortest_path_length(self.topology.graph, device, cutoff=2)
            rings = [sorted(d for d, h in dist.items() if h == k) for k in range(3)]
            self._rings[device] = rings
        return rings[hops]

    def place(self, device: str) -> str:
        """Where an effect of an alarm on ``device`` shows up: same device, 1 or 2 hops."""
        hops = self.rng.choices((0, 1, 2), weights=self.config.hop_weights)[0]
        while hops > 0 and not self.ring(device, hops):
            hops -= 1
        return self.rng.choice(self.ring(device, hops)) if hops else device

    def period(self, name: str, start: float, hours: float) -> Period:
        """Faults and background alarms in [start, start + hours)."""
        end = start + hours * 3600.0
        period = Period(name, start, end)
        events: list[_Event] = []
        rate = self.config.rate_per_hour / 3600.0
        t, index = start, 0
        while True:
            t += self.rng.expovariate(rate)
            if t >= end:
                break
            events.extend(self.fault(period, f"{name[0]}-fault-{index:04d}", t))
            index += 1
        noise_rate = rate * self.config.noise
        t, index = start, 0
        while noise_rate > 0:
            t += self.rng.expovariate(noise_rate)
            if t >= end:
                break
            events.extend(self.background(period, f"{name[0]}-noise-{index:05d}", t))
            index += 1
        self.emit(period, events)
        return period

    def fault(self, period: Period, group: str, t0: float) -> list[_Event]:
        """One cascade: conditions along causal edges, then the events they report."""
        cfg = self.config
        root_device = self.rng.choice(self.devices)
        root_type = self.rng.choice(self.causal.roots)
        silent = self.rng.random() < cfg.p_silent
        repaired = t0 + 60.0 * self.rng.lognormvariate(math.log(cfg.fault_minutes), 0.7)
        onset: dict[tuple[int, str], float] = {(root_type, root_device): t0}
        frontier = [(root_type, root_device, t0)]
        for _ in range(cfg.max_depth):
            following: list[tuple[int, str, float]] = []
            for cause, device, at in frontier:
                kids = self.causal.children[cause]
                # A fault is a cascade: its root sets off at least one effect.
                forced = self.rng.choice(kids) if at == t0 and kids else None
                for child in kids:
                    if child != forced and self.rng.random() >= cfg.p_edge:
                        continue
                    reach = 2 if self.rng.random() < cfg.fanout else 1
                    for _ in range(reach):
                        key = (child, self.place(device))
                        if key in onset or len(onset) >= cfg.max_alarms:
                            continue
                        onset[key] = at + _lognormal(
                            self.rng, cfg.propagation_median, 0.8, cfg.delay_scale)
                        following.append((key[0], key[1], onset[key]))
            frontier = following
        events = []
        for (type_index, device), at in onset.items():
            if silent and device == root_device:
                continue  # a dead device reports nothing
            events.append(self.alarm(type_index, device, at, repaired, period.end, group))
        if events:
            period.groups[group] = {"kind": "fault", "root_entity": root_device,
                                    "root_type": self.causal.type_name(root_type),
                                    "silent": silent, "onset": round(t0, 3)}
        return events

    def alarm(self, type_index: int, device: str, onset: float, repaired: float,
              period_end: float, group: str) -> _Event:
        """The event of one condition: late, skewed, cleared after the repair or never."""
        cfg = self.config
        scale = cfg.delay_scale * (cfg.slow_factor if device in self.slow else 1.0)
        starts = (onset + _lognormal(self.rng, cfg.report_median, 0.9, scale)
                  + self.skew[device])
        ends: float | None = repaired + self.rng.uniform(0.0, 60.0) + self.skew[device]
        if self.rng.random() < cfg.p_never_clears or ends > period_end:
            ends = None  # still firing when the period's file was cut
        else:
            ends = max(ends, starts + 1.0)
        return _Event(type_index, device, starts, ends, group)

    def background(self, period: Period, group: str, t: float) -> list[_Event]:
        """An unrelated alarm: real-log type frequency and duration, random device."""
        type_index = bisect.bisect_right(self._type_cumulative,
                                         self.rng.random() * self._type_cumulative[-1])
        type_index = min(type_index, self.causal.types - 1)
        device = self.rng.choice(self.devices)
        duration = self.rng.choice(self.causal.durations)
        starts = t + self.skew[device]
        ends = starts + duration
        event = _Event(type_index, device, starts, None if ends > period.end else ends, group)
        period.groups[group] = {"kind": "background", "root_entity": device,
                                "root_type": self.causal.type_name(type_index),
                                "silent": False, "onset": round(t, 3)}
        return [event]

    def emit(self, period: Period, events: list[_Event]) -> None:
        """Add re-sends, order by time, give ids and write the canonical alerts."""
        with_copies: list[_Event] = []
        for event in events:
            with_copies.append(event)
            if self.rng.random() < self.config.p_duplicate:
                latest = event.ends_at if event.ends_at is not None else event.starts_at + 300.0
                again = min(event.starts_at + self.rng.uniform(10.0, 120.0), latest)
                with_copies.append(_Event(event.type_index, event.device, again, event.ends_at,
                                          event.group))
        with_copies.sort(key=lambda e: (e.starts_at, e.device, e.type_index))
        for seq, event in enumerate(with_copies, start=1):
            alert_id = f"{period.name[0]}{self.config.seed:03d}-{seq:06d}"
            period.alerts.append(self.canonical(alert_id, event))
            period.alert_group[alert_id] = event.group

    def source(self, device: str) -> str:
        """The ``source`` of ``device``'s alerts: one source unless some devices poll."""
        if self.config.slow_share <= 0.0:
            return SOURCE
        return SLOW_SOURCE if device in self.slow else FAST_SOURCE

    def canonical(self, alert_id: str, event: _Event) -> dict[str, Any]:
        name = self.causal.type_name(event.type_index)
        return {
            "id": alert_id, "source": self.source(event.device), "name": name,
            "entity": event.device,
            "severity": SEVERITY_CYCLE[event.type_index % len(SEVERITY_CYCLE)],
            "summary": f"{name} on {event.device}",
            "starts_at": round(event.starts_at, 3),
            "ends_at": None if event.ends_at is None else round(event.ends_at, 3),
            "labels": {"alarm_type": str(event.type_index),
                       "device_kind": self.topology.kinds.get(event.device, "device")},
        }


def _cumulative(weights: Sequence[float]) -> list[float]:
    out, total = [], 0.0
    for w in weights:
        total += w
        out.append(total)
    return out


@dataclass
class Scenario:
    """A generated scenario in memory: what ``write_scenario`` puts on disk."""

    config: ScenarioConfig
    topology: Topology
    history: Period
    eval: Period


def generate(config: ScenarioConfig) -> Scenario:
    """Build the topology and draw the history and eval periods for ``config``."""
    topology = build_topology(config.topology, config.seed, config.nodes)
    causal = load_causal(config.causal)
    sim = _Simulator(config, topology, causal)
    history = sim.period("history", START_EPOCH, config.history_hours)
    eval_start = history.end + PERIOD_GAP
    evaluation = sim.period("eval", eval_start, config.hours)
    if history.alerts and evaluation.alerts:
        last = max(a["starts_at"] for a in history.alerts)
        first = min(a["starts_at"] for a in evaluation.alerts)
        if last >= first:  # cannot happen with PERIOD_GAP, but a wrong knob must not hide it
            raise ValueError("history and eval periods overlap; lengthen PERIOD_GAP")
    return Scenario(config, topology, history, evaluation)


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, separators=(",", ":")) + "\n")


def write_scenario(scenario: Scenario, out: Path) -> dict[str, Path]:
    """Write the four files into ``out``; return their paths by role."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {"topology": out / "topology.json", "history": out / "history.jsonl",
             "eval": out / "eval.jsonl", "truth": out / "truth.json"}
    paths["topology"].write_text(json.dumps(scenario.topology.document(), indent=1),
                                 encoding="utf-8")
    write_jsonl(paths["history"], scenario.history.alerts)
    write_jsonl(paths["eval"], scenario.eval.alerts)
    truth = {"scenario": asdict(scenario.config),
             "periods": {"history": scenario.history.truth(), "eval": scenario.eval.truth()}}
    paths["truth"].write_text(json.dumps(truth, indent=1), encoding="utf-8")
    return paths


def root_holds_most(period: Period) -> tuple[int, int]:
    """(faults whose root device holds the most, or tied most, of their alerts, faults
    whose root alarmed): how much "the entity with most alerts" rules are favoured."""
    per_group: dict[str, Counter[str]] = {}
    for alert in period.alerts:
        group = period.alert_group[alert["id"]]
        per_group.setdefault(group, Counter())[alert["entity"]] += 1
    held = total = 0
    for group, info in period.groups.items():
        if info["kind"] != "fault" or info["silent"]:
            continue
        counts = per_group.get(group, Counter())
        total += 1
        held += bool(counts) and counts[info["root_entity"]] == max(counts.values())
    return held, total


def summary(scenario: Scenario) -> str:
    """One line for stderr: how big the periods came out."""
    parts = []
    for period in (scenario.history, scenario.eval):
        faults = sum(1 for g in period.groups.values() if g["kind"] == "fault")
        parts.append(f"{period.name}: {len(period.alerts)} alerts, {faults} faults, "
                     f"{len(period.groups) - faults} background")
    g = scenario.topology.graph
    return (f"{scenario.config.topology} (seed {scenario.config.seed}, {g.number_of_nodes()} "
            f"nodes, {g.number_of_edges()} links): " + "; ".join(parts))


def parse_args(argv: Sequence[str] | None) -> tuple[ScenarioConfig, Path]:
    defaults = ScenarioConfig()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--topology", choices=TOPOLOGIES, default=defaults.topology)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--out", type=Path, required=True, help="directory for the four files")
    parser.add_argument("--nodes", type=int, default=None, help="size of a synthetic topology")
    parser.add_argument("--causal", choices=("neurips", "wireless"), default=defaults.causal)
    parser.add_argument("--faults", type=float, default=defaults.faults,
                        help="expected faults in the eval period")
    parser.add_argument("--hours", type=float, default=defaults.hours, help="eval period length")
    parser.add_argument("--history-hours", type=float, default=defaults.history_hours)
    parser.add_argument("--noise", type=float, default=defaults.noise,
                        help="background alarms per fault")
    parser.add_argument("--p-silent", type=float, default=defaults.p_silent)
    parser.add_argument("--skew", type=float, default=defaults.skew,
                        help="max clock skew per device, seconds")
    parser.add_argument("--p-duplicate", type=float, default=defaults.p_duplicate)
    parser.add_argument("--slow-share", type=float, default=defaults.slow_share,
                        help="share of the devices reporting through a slow (polling) source")
    parser.add_argument("--slow-factor", type=float, default=defaults.slow_factor,
                        help="their report delays times this")
    args = parser.parse_args(argv)
    # Finite too: nan faults looped forever drawing arrivals, inf hours divided by zero.
    for name in ("faults", "hours", "history_hours"):
        value = getattr(args, name)
        if not 0 < value < math.inf:
            parser.error(f"--{name.replace('_', '-')} must be a positive number, got {value}")
    for name in ("noise", "skew"):
        value = getattr(args, name)
        if not 0 <= value < math.inf:
            parser.error(f"--{name} must be a number not below 0, got {value}")
    if args.nodes is not None and args.nodes < 1:  # 0 silently built the default size
        parser.error(f"--nodes must be at least 1, got {args.nodes}")
    if not 1.0 <= args.slow_factor < math.inf:
        parser.error(f"--slow-factor must be a number not below 1, got {args.slow_factor}")
    for name in ("p_silent", "p_duplicate", "slow_share"):
        if not 0.0 <= getattr(args, name) <= 1.0:
            parser.error(f"--{name.replace('_', '-')} must be between 0 and 1")
    config = ScenarioConfig(topology=args.topology, seed=args.seed, nodes=args.nodes,
                            causal=args.causal, faults=args.faults, hours=args.hours,
                            history_hours=args.history_hours, noise=args.noise,
                            p_silent=args.p_silent, skew=args.skew,
                            p_duplicate=args.p_duplicate, slow_share=args.slow_share,
                            slow_factor=args.slow_factor)
    return config, args.out


def main(argv: Sequence[str] | None = None) -> int:
    config, out = parse_args(argv)
    print(f"generating {config.topology} seed {config.seed} ...", file=sys.stderr)
    scenario = generate(config)
    paths = write_scenario(scenario, out)
    print(summary(scenario), file=sys.stderr)
    print(f"wrote {', '.join(str(p) for p in paths.values())}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
