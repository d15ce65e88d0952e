"""The learned time scale: estimated from history alone, stretching the correlator's times."""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

import numpy as np
import pytest

from aiops.config import EngineSettings
from aiops.engine.scored_correlator import ScoredCorrelator
from aiops.learning.registry import ModelRegistry
from aiops.learning.timescale import (
    REFERENCE_LAG,
    SLACK,
    CascadeTimescale,
    cascade_lag,
    source_scales,
)
from aiops.learning.training import CorrelationModel, train
from aiops.models import Alert
from benchmarks.correlation.scenario import ScenarioConfig, generate
from tests.unit.placement import later_alert, one_alert_incident
from topology.graph import TopologyGraph
from topology.model import Edge, Node


def _lags(median: float, cascade: int = 3000, unrelated: int = 20000, seed: int = 1
          ) -> np.ndarray:
    """Unrelated pairs spread evenly over 600 s, a cascade's pairs exponential with
    ``median``."""
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.uniform(0, 600, unrelated),
                           rng.exponential(median / np.log(2), cascade)])


@pytest.mark.parametrize("median", [10.0, 16.5, 45.0])
def test_cascade_lag_finds_the_median_under_even_noise(median: float) -> None:
    lag, excess = cascade_lag(_lags(median), 600.0)
    assert lag is not None and abs(lag - median) <= 0.2 * median + 1.0, lag
    assert 2500 <= excess <= 3500


def test_even_lags_alone_are_no_cascade() -> None:
    lag, excess = cascade_lag(np.random.default_rng(2).uniform(0, 600, 20000), 600.0)
    assert lag is None or excess < 200
    assert cascade_lag(np.zeros(0), 600.0) == (None, 0)


def simulated_history(**config: float) -> tuple[list[Alert], TopologyGraph]:
    """A day of simulated cascades (the benchmark's generator) on the 45-node topology,
    with ``config`` (``delay_scale``, ``slow_share``) as the scenario's options."""
    scenario = generate(ScenarioConfig(topology="huawei", seed=31, faults=8.0, hours=1.0,
                                       history_hours=24.0, noise=2.0, **config))
    topology = scenario.topology
    nodes = [Node(n, topology.kinds.get(n, "device"), n) for n in topology.graph.nodes]
    edges = [Edge(u, v) for u, v in topology.graph.edges]
    alerts = [Alert(a["id"], a["source"], a["name"], a["entity"], a["severity"],
                    a["summary"], a["starts_at"], a["ends_at"])
              for a in scenario.history.alerts]
    return alerts, TopologyGraph(nodes, edges)


def test_slower_cascades_give_a_larger_scale() -> None:
    # The generator's delays at their defaults (where the correlator's times were
    # chosen) and three times as long, as monitoring that polls reports them.
    usual = CascadeTimescale().fit(*simulated_history(delay_scale=1.0))
    slow = CascadeTimescale().fit(*simulated_history(delay_scale=3.0))
    assert usual.scale_ == 1.0 and 8.0 <= usual.lag_ <= 15.0, usual.lag_
    assert slow.scale_ >= 1.5, slow.lag_
    assert usual.excess_pairs_ >= 200 and slow.lag_ > usual.lag_


@pytest.mark.parametrize(("rate", "hours", "types"), [(4.0, 1.0, 1), (4.0, 1.0, 5),
                                                      (0.5, 2.0, 3), (0.1, 2.0, 50)])
def test_a_storm_on_one_node_does_not_stretch_the_network(rate: float, hours: float,
                                                          types: int) -> None:
    # Found by review: a trap storm of one condition on one busy node read as a cascade
    # lasting minutes and gave the whole network the largest scale (8).
    alerts, topology = simulated_history(delay_scale=1.0)
    node = max(topology.nodes, key=lambda n: len(topology.neighbourhood(n, 1)))
    rng = random.Random(1)
    t = alerts[0].starts_at + 6 * 3600
    storm = []
    while t < alerts[0].starts_at + (6 + hours) * 3600:
        t += rng.expovariate(rate)
        storm.append(Alert(f"s{len(storm)}", "syslog", f"CHATTY_{rng.randrange(types)}", node,
                           "minor", "", t))
    assert CascadeTimescale().fit(alerts + storm, topology).scale_ == 1.0


@pytest.mark.parametrize("seed", [2, 4, 7])
def test_unrelated_alarms_alone_read_no_scale(seed: int) -> None:
    # Found by a restart's measurement: random alarms every 2 s on 2,000 devices for
    # 11 hours read as a cascade lag of minutes (scale 8 for seed 2): pairs far apart
    # can start in less of the history than close ones, and that slope, with the
    # noise of 60,000 pairs, cleared the 200 pairs asked for.
    names = [f"d{i}" for i in range(2000)]
    topology = TopologyGraph([Node(n, "device", n) for n in names],
                             [Edge(names[i], names[(i - 1) // 3]) for i in range(1, 2000)])
    rng, t, alerts = random.Random(seed), 1_800_000_000.0, []
    for k in range(20000):
        t += rng.expovariate(1 / 2.0)
        alerts.append(Alert(f"e{k}", "s", f"T{rng.randrange(30)}",
                            names[rng.randrange(2000)], "major", "", t))
    fitted = CascadeTimescale().fit(alerts, topology)
    assert fitted.scale_ == 1.0 and fitted.lag_ is None, (fitted.lag_, fitted.excess_pairs_)


def test_too_little_history_keeps_the_scale_at_one() -> None:
    alerts, topology = simulated_history(delay_scale=3.0)
    few = CascadeTimescale().fit(alerts[:40], topology)
    assert few.scale_ == 1.0 and few.lag_ is None
    assert CascadeTimescale().fit([], topology).scale_ == 1.0


def test_a_lag_beyond_the_first_window_is_measured_in_the_next() -> None:
    # Two alarms 1-2 minutes apart on neighbours: past an eighth of the 600 s window,
    # so the 2,400 s window measures it again.
    rng = random.Random(5)
    names = [f"d{i}" for i in range(10)]
    topo = TopologyGraph([Node(n, "device", n) for n in names],
                         [Edge(names[i], names[(i + 1) % 10]) for i in range(10)])
    alerts, t = [], 0.0
    for _ in range(800):
        t += rng.expovariate(1 / 2000)  # faults independent of each other
        k = rng.randrange(10)
        alerts.append(Alert(f"a{len(alerts)}", "s", "CAUSE", names[k], "major", "", t))
        alerts.append(Alert(f"a{len(alerts)}", "s", "EFFECT", names[(k + 1) % 10], "major", "",
                            t + rng.uniform(60, 120)))
    fitted = CascadeTimescale().fit(alerts, topo)
    assert fitted.lag_ is not None and 80 <= fitted.lag_ <= 100, fitted.lag_
    assert fitted.scale_ == pytest.approx(fitted.lag_ / (REFERENCE_LAG * SLACK), abs=0.01)



def _hosts_behind_switches(switches: int = 10, hosts: int = 6) -> TopologyGraph:
    """Hosts hang off access switches: two hosts of one switch are two hops apart."""
    names = [f"sw{i}" for i in range(switches)]
    edges = [Edge(f"h{i}-{j}", names[i]) for i in range(switches) for j in range(hosts)]
    nodes = names + [f"h{i}-{j}" for i in range(switches) for j in range(hosts)]
    return TopologyGraph([Node(n, "device", n) for n in nodes], edges)


def _host_alarms(lag: tuple[float, float], cascade: bool, seed: int = 3) -> list[Alert]:
    """800 faults a day apart on average 2,000 s; each raises HOST_DOWN on one host and,
    ``lag`` seconds later, on another host of the same switch (``cascade``), or on a host
    of any switch at an independent time (not)."""
    rng, alerts, t = random.Random(seed), [], 0.0
    for _ in range(800):
        t += rng.expovariate(1 / 2000)
        i, j, k = rng.randrange(10), *rng.sample(range(6), 2)
        alerts.append(Alert(f"a{len(alerts)}", "nagios", "HOST_DOWN", f"h{i}-{j}", "major",
                            "", t))
        later = (t + rng.uniform(*lag) if cascade
                 else rng.uniform(0, 800 * 2000))
        other = f"h{i}-{k}" if cascade else f"h{rng.randrange(10)}-{k}"
        alerts.append(Alert(f"a{len(alerts)}", "nagios", "HOST_UNREACHABLE", other,
                            "major", "", later))
    return alerts


def test_a_cascade_two_hops_apart_gets_its_scale() -> None:
    # Nagios host checks: a switch's hosts alarm, the switch between them is silent,
    # so no two alarms are within one hop. Found on benchmarks/polled_hosts.py, where
    # the Nagios source got no scale of its own.
    topo, alerts = _hosts_behind_switches(), _host_alarms((20.0, 60.0), cascade=True)
    near_only = CascadeTimescale(far_hops=1).fit(alerts, topo)
    assert near_only.lag_ is None and near_only.scale_ == 1.0
    fitted = CascadeTimescale().fit(alerts, topo)
    assert fitted.lag_ is not None and 35 <= fitted.lag_ <= 45, fitted.lag_
    assert fitted.hops_used_ == 2
    assert fitted.scale_ == pytest.approx(fitted.lag_ / (REFERENCE_LAG * SLACK), abs=0.01)



def test_a_sources_own_scale_is_read_one_hop_apart_only() -> None:
    # Two hops apart, a source's own lag is the spread among its alarms, not how far
    # they trail another source's; on benchmarks/polled_hosts.py such scales lowered
    # trained pair F1 from 0.93 to 0.54 (aiops.learning.timescale.source_scales).
    topo, alerts = _hosts_behind_switches(), _host_alarms((20.0, 60.0), cascade=True)
    other = [dataclasses.replace(a, id=f"o{a.id}", source="syslog",
                                 starts_at=a.starts_at + 7.0) for a in alerts[::2]]
    mixed = alerts + other
    assert CascadeTimescale().fit(mixed, topo).lag_ is not None
    assert source_scales(mixed, topo) == {}

def test_unrelated_alarms_two_hops_apart_read_no_scale() -> None:
    fitted = CascadeTimescale().fit(_host_alarms((20.0, 60.0), cascade=False),
                                    _hosts_behind_switches())
    assert fitted.lag_ is None and fitted.scale_ == 1.0, (fitted.lag_, fitted.excess_pairs_)


def test_a_cascade_minutes_apart_is_measured_in_the_wider_window() -> None:
    # Prometheus rules with ``for:`` put a fault's alerts five to ten minutes apart
    # (benchmarks/k8s_node_failure.py): the 600 s window's halves hold them alike, so
    # it reads no excess at all, and the 2,400 s window measures them.
    topo, alerts = _hosts_behind_switches(), _host_alarms((300.0, 600.0), cascade=True)
    fitted = CascadeTimescale().fit(alerts, topo)
    assert fitted.lag_ is not None and 420 <= fitted.lag_ <= 480, fitted.lag_
    assert fitted.scale_ == 8.0
    assert CascadeTimescale(windows=(600.0,)).fit(alerts, topo).lag_ is None

def _joins_after(gap: float, time_scale: float) -> bool:
    """Does an alert ``gap`` seconds after a one-alert incident on the same node join it?"""
    topo = TopologyGraph([Node("a", "device", "a")], [])
    correlator = ScoredCorrelator(topo, EngineSettings(), time_scale=time_scale)
    return bool(correlator.place(later_alert("a", gap), one_alert_incident("a")))


def test_the_scale_stretches_the_correlators_times() -> None:
    # Without text similarity a same-node alert joins within about 50 s by default.
    assert _joins_after(40.0, 1.0)
    assert not _joins_after(90.0, 1.0)
    assert _joins_after(90.0, 2.5)
    assert not _joins_after(200.0, 2.5)
    correlator = ScoredCorrelator(TopologyGraph(), EngineSettings(), time_scale=2.0)
    settings = EngineSettings()
    assert correlator.horizon == 2.0 * (settings.correlation_window + settings.skew_tolerance)
    assert correlator.merge_onset_gap == 2.0 * settings.merge_onset_gap


def test_training_learns_stores_and_reports_the_scale(tmp_path: Path) -> None:
    alerts, topology = simulated_history(delay_scale=3.0)
    model, meta = train(ModelRegistry(tmp_path / "models"), alerts, topology, "history")
    assert model.time_scale >= 1.5
    assert meta["time_scale"]["scale"] == model.time_scale
    assert meta["time_scale"]["cascade_lag_seconds"] > REFERENCE_LAG
    assert CorrelationModel.from_dict(model.to_dict()).time_scale == model.time_scale
    old = CorrelationModel().to_dict()
    del old["time_scale"]  # a model saved before the scale was learned
    assert CorrelationModel.from_dict(old).time_scale == 1.0


def test_train_says_what_scale_it_learned_and_why() -> None:
    from aiops.cli_learning import _describe_time_scale

    line = _describe_time_scale({"scale": 2.36, "cascade_lag_seconds": 39.0,
                                 "excess_pairs": 5120})
    assert line.startswith("time scale: 2.36 (cascade lag 39 s from 5120 pairs")
