"""The pace of an untrained engine, read from the alerts it sees (``LivePace``)."""

from __future__ import annotations

import pytest

from aiops.engine.pace import MIN_PRECEDENCE, LivePace
from aiops.learning.relations import TypeRelations
from aiops.models import OWN_SOURCE, Alert
from tests.unit.test_timescale import simulated_history
from topology.graph import TopologyGraph


def _follow(pace: LivePace, alerts: list[Alert], topology: TopologyGraph,
            batch: int = 500) -> list[float]:
    """Feed ``alerts`` in batches as the engine does; the scales in use after each fit."""
    scales = []
    for start in range(0, len(alerts), batch):
        pace.observe(alerts[start:start + batch])
        if pace.due:
            pace.refit(topology)
            scales.append(pace.scale)
    return scales


@pytest.fixture(scope="module")
def usual() -> tuple[list[Alert], TopologyGraph]:
    return simulated_history(delay_scale=1.0)


@pytest.fixture(scope="module")
def slow() -> tuple[list[Alert], TopologyGraph]:
    return simulated_history(delay_scale=3.0)


def test_slow_cascades_stretch_the_pace_and_usual_ones_do_not(usual, slow) -> None:
    fast_pace, slow_pace = LivePace(), LivePace()
    assert set(_follow(fast_pace, *usual)) == {1.0}
    scales = _follow(slow_pace, *slow)
    assert slow_pace.scale >= 1.5, slow_pace.describe()
    assert slow_pace.lag is not None and slow_pace.lag > 20.0
    assert slow_pace.fits == len(scales) >= 4  # at most one per batch, on the grid


def test_memory_stays_bounded_by_span_and_count(slow) -> None:
    alerts, topology = slow
    latest = max(a.starts_at for a in alerts)
    by_count = LivePace(span=3600.0, every=600.0, max_every=600.0, max_alerts=50)
    _follow(by_count, alerts, topology)
    assert len(by_count._alerts) == 50
    by_span = LivePace(span=3600.0, every=600.0, max_every=600.0, max_alerts=10_000)
    _follow(by_span, alerts, topology)
    kept = list(by_span._alerts)
    assert 0 < len(kept) < 1000 and all(a.starts_at >= latest - 3600.0 for a in kept)


def _alert(i: int, at: float, source: str = "zabbix") -> Alert:
    return Alert(f"a{i}", source, "LINK_DOWN", f"n{i % 7}", "major", "", at)


def test_fits_fall_on_the_event_time_grid() -> None:
    pace = LivePace(span=7200.0, every=1800.0, max_every=3600.0)
    pace.observe([_alert(i, 100.0 + 10 * i) for i in range(170)])  # up to 1790 s
    assert not pace.due
    pace.observe([_alert(999, 1800.0)])
    assert pace.due
    pace.refit(TopologyGraph([], []))
    assert not pace.due
    pace.observe([_alert(1000, 3599.0)])
    assert not pace.due
    pace.observe([_alert(1001, 3600.0)])
    assert pace.due


def test_a_steady_pace_is_fitted_ever_more_rarely(usual) -> None:
    alerts, topology = usual
    pace = LivePace()
    fitted_at, read_at = [], None
    for alert in alerts:
        if pace.note(alert):
            pace.refit(topology)
            fitted_at.append(alert.starts_at)
            if read_at is None and pace.lag is not None:
                read_at = len(fitted_at) - 1
    assert read_at is not None and pace.scale == 1.0
    gaps = [round((b - a) / 1800.0) for a, b in zip(fitted_at, fitted_at[1:], strict=False)]
    before, after = gaps[:read_at], gaps[read_at:]
    # Every half hour until the first reading, then 1 h, 2 h, 4 h and every 6 h.
    assert set(before) <= {1}, before
    assert after[:3] == [2, 4, 8] and set(after[3:]) == {12}, after


def test_the_engines_own_alerts_are_not_its_network(slow) -> None:
    pace = LivePace()
    pace.observe([_alert(1, 10.0, source=OWN_SOURCE)])
    assert not pace._alerts and not pace.due


def test_a_small_change_of_the_estimate_is_not_applied(slow) -> None:
    alerts, topology = slow
    pace = LivePace()
    pace.observe(alerts)
    pace.scale = 1.0
    assert pace.refit(topology) and pace.scale >= 1.5
    measured = pace.scale
    pace.scale = round(measured * 1.12, 2)  # as if a slightly different earlier estimate
    assert not pace.refit(topology)
    assert pace.scale == round(measured * 1.12, 2)


def test_too_little_evidence_leaves_the_scale_as_it_was(slow) -> None:
    alerts, topology = slow
    pace = LivePace()
    pace.scale = 1.9
    pace.observe(alerts[:50])  # a few minutes of alarms: no lag can be read
    assert not pace.refit(topology)
    assert pace.scale == 1.9 and pace.lag is None


@pytest.mark.parametrize(("span", "every", "max_every"),
                         [(3600.0, 0.0, 600.0), (600.0, 1800.0, 1800.0),
                          (3600.0, 1800.0, 600.0), (float("inf"), 60.0, 60.0)])
def test_a_grid_that_cannot_work_is_refused_by_name(span: float, every: float,
                                                     max_every: float) -> None:
    with pytest.raises(ValueError, match="live pace"):
        LivePace(span=span, every=every, max_every=max_every)


def test_the_precedence_count_equals_trainings_on_the_same_alerts(usual) -> None:
    alerts, topology = usual
    fitted = TypeRelations(report_jitter=0.0).fit(alerts, topology)
    counted = TypeRelations().fit_precedence(alerts, topology)
    assert counted.precedence_ == fitted.precedence_ and counted.precedence_
    assert counted.type_counts_ == fitted.type_counts_ and not counted.edges_


def test_precedence_is_used_once_enough_pairs_were_counted_and_rolled_back(usual) -> None:
    alerts, topology = usual
    few = LivePace(min_precedence=10**9)
    _follow(few, alerts, topology)
    assert few.relations is None and few.precedence_pairs > 0
    pace = LivePace()
    pace.begin()
    for alert in alerts:
        pace.note(alert)
    assert pace.relations is None
    pace.refit(topology)
    assert pace.relations is not None and pace.describe()["precedence_in_use"]
    assert sum(pace.relations.precedence_.values()) == pace.precedence_pairs >= MIN_PRECEDENCE
    pace.rollback()  # the batch was not stored: memory goes back with it
    assert pace.relations is None and pace.precedence_pairs == 0


def test_a_ranking_learned_from_tickets_keeps_the_relations_it_was_fitted_with() -> None:
    """Live precedence reaches the hand ranking of an untrained engine, but not a
    ranking learned from tickets under that model: its weights were fitted on features
    read without live counts (``aiops.runtime.ranker_factory``)."""
    from aiops.learning.learned_rank import LearnedRanker
    from aiops.learning.training import CorrelationModel
    from aiops.runtime import ranker_factory

    pace = LivePace()
    pace.relations = TypeRelations()
    pace.relations.precedence_ = {("LINK_DOWN", "BGP_DOWN"): 40}
    topology = TopologyGraph([], [])
    untrained = CorrelationModel()
    assert ranker_factory(untrained, pace=pace)(topology).relations is pace.relations
    with_tickets = ranker_factory(untrained, learned=LearnedRanker(), pace=pace)(topology)
    assert with_tickets.relations is None
    assert ranker_factory(untrained)(topology).relations is None  # no pace: as before
