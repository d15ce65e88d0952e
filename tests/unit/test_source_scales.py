"""Time scales per alert source: fitted per source, stored with the model, and the
correlator's rule (two alerts compared at the mean of their sources' scales)."""

from __future__ import annotations

from aiops.config import EngineSettings
from aiops.engine.index import IncidentIndex
from aiops.engine.scored_correlator import ScoredCorrelator
from aiops.engine.state import AlertRecord, IncidentRecord
from aiops.learning.timescale import CascadeTimescale, source_scales
from aiops.learning.training import CorrelationModel
from aiops.models import Alert
from tests.unit.test_timescale import simulated_history
from topology.graph import TopologyGraph
from topology.model import Node


def test_two_sources_with_their_own_delays_get_their_own_scales() -> None:
    alerts, topology = simulated_history(slow_share=0.5)
    network = CascadeTimescale().fit(alerts, topology)
    scales = source_scales(alerts, topology, estimator=network)
    assert set(scales) == {"trap", "poll"}
    # Traps report at the default timing (scale 1); polls six times as late: the network
    # reads one scale in between.
    assert scales["trap"] == 1.0
    assert scales["poll"] >= 1.8
    assert scales["trap"] < network.scale_ < scales["poll"]


def test_one_source_or_too_little_evidence_gives_no_source_scale() -> None:
    alerts, topology = simulated_history(slow_share=0.0)
    assert source_scales(alerts, topology) == {}  # one source: the network's scale is its
    few = [Alert(f"x{i}", "rare", "LINK_DOWN", "a", "major", "", 100.0 * i)
           for i in range(20)]
    scales = source_scales(alerts + few, topology)
    assert "rare" not in scales and "sim" in scales


def test_the_model_keeps_the_source_scales_and_old_models_load_without() -> None:
    model = CorrelationModel(time_scale=1.5, source_scales={"trap": 1.0, "poll": 2.4})
    again = CorrelationModel.from_dict(model.to_dict())
    assert again.source_scales == {"trap": 1.0, "poll": 2.4} and again.time_scale == 1.5
    old = model.to_dict()
    del old["source_scales"]  # a model saved before they were learned
    assert CorrelationModel.from_dict(old).source_scales == {}


def _record(seq: int, source: str, at: float) -> AlertRecord:
    return AlertRecord(id=seq, fingerprint=str(seq), node_id="a", starts_at=at,
                       event=Alert(f"e{seq}", source, "LINK_DOWN", "a", "major", "", at))


def _joins(first: str, second: str, gap: float,
           scales: dict[str, float] | None = None) -> bool:
    """Does a ``second``-source alert ``gap`` s after a ``first``-source one on the same
    node join its incident, on a network scale of 1?"""
    topo = TopologyGraph([Node("a", "device", "a")], [])
    correlator = ScoredCorrelator(topo, EngineSettings(), time_scale=1.0,
                                  source_scales=scales or {"trap": 1.0, "poll": 2.5})
    index = IncidentIndex()
    opening = _record(1, first, 0.0)
    assert correlator.place(opening, index) == []  # nothing live: the alert opens one
    incident = IncidentRecord(id="inc-1", seq=1, started_at=0.0, updated_at=0.0)
    incident.alerts[1] = opening
    index.add(incident, opening)
    return bool(correlator.place(_record(2, second, gap), index))


def test_two_alerts_are_compared_at_the_mean_of_their_sources_scales() -> None:
    # Without text similarity a same-node alert joins within about 49 s at scale 1
    # (the gap less the skew at most 0.286 of the window): 86 s at 1.75, 123 s at 2.5.
    assert _joins("trap", "trap", 40.0)
    assert not _joins("trap", "trap", 80.0)
    assert _joins("poll", "trap", 80.0)  # a polled member, a trapped newcomer: 1.75
    assert _joins("trap", "poll", 80.0)
    assert not _joins("poll", "trap", 100.0)
    assert _joins("poll", "poll", 100.0)
    assert not _joins("poll", "poll", 130.0)
    # A source the model has no scale for takes the network's.
    assert not _joins("syslog", "syslog", 80.0)


def test_the_slowest_source_sets_the_horizon_and_one_scale_keeps_the_old_path() -> None:
    settings = EngineSettings()
    correlator = ScoredCorrelator(TopologyGraph(), settings, time_scale=1.5,
                                  source_scales={"trap": 1.0, "poll": 2.5})
    assert correlator.horizon == 2.5 * (settings.correlation_window + settings.skew_tolerance)
    assert correlator.merge_onset_gap == 1.5 * settings.merge_onset_gap
    same = ScoredCorrelator(TopologyGraph(), settings, time_scale=1.5,
                            source_scales={"sim": 1.5})
    assert same.source_scales == {} and same.window == 1.5 * settings.correlation_window


def test_train_says_each_sources_scale() -> None:
    from aiops.cli_learning import _describe_time_scale

    line = _describe_time_scale({"scale": 1.58, "cascade_lag_seconds": 26.0,
                                 "excess_pairs": 16405, "sources": {"trap": 1.0, "poll": 2.3}})
    assert line.endswith("; per source: poll 2.3, trap 1")


def test_the_engines_correlators_take_the_models_source_scales_and_share_the_nodes() -> None:
    from dataclasses import replace

    from aiops.engine.pace import LivePace
    from aiops.runtime import correlator_factory

    settings = replace(EngineSettings(), text_similarity=False)
    model = CorrelationModel(version=3, time_scale=1.5,
                             source_scales={"trap": 1.0, "poll": 2.4})
    build = correlator_factory(model, settings, None)  # type: ignore[arg-type]
    first, rebuilt = build(TopologyGraph(), settings), build(TopologyGraph(), settings)
    assert first.source_scales == {"trap": 1.0, "poll": 2.4}
    assert first.node_scales is rebuilt.node_scales  # a rebuild keeps what nodes poll
    # An engine reading its pace live correlates at one scale for the network.
    live = correlator_factory(model, settings, None, LivePace())(  # type: ignore[arg-type]
        TopologyGraph(), settings)
    assert live.source_scales == {} and live.time_scale == 1.0
