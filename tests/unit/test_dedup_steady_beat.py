"""A still-firing condition re-sent on a steady beat, each time stamped when sent, stays
one alert; a condition set off again at irregular times still starts anew."""

from __future__ import annotations

import itertools

import pytest

from aiops.config import EngineSettings
from aiops.engine.beat import gaps_agree, kept_starts, on_beat, with_start
from aiops.engine.dedup import DUPLICATE, NEW, Deduplicator
from aiops.engine.state import FIRING, RESOLVED, AlertRecord
from aiops.models import Alert

TWO_HOURS = 7200.0


def fan_fail(i: int, start: float, end: float | None = None) -> Alert:
    return Alert(id=f"f{i}", source="syslog", name="FAN_FAIL", entity="sw1",
                 severity="major", summary="fan 2 failed", starts_at=start, ends_at=end)


def make(**kw) -> Deduplicator:
    ids = itertools.count(1)
    return Deduplicator(EngineSettings(**kw), lambda: next(ids))


def alerts_of(d: Deduplicator, starts: list[float]) -> list[AlertRecord]:
    """The distinct alerts the events starting at ``starts`` (no clear) make."""
    made: list[AlertRecord] = []
    for i, start in enumerate(starts):
        record, disposition = d.apply(fan_fail(i, start))
        if disposition == NEW:
            made.append(record)
    return made


@pytest.mark.parametrize(("beat", "expected"), [(60.0, 1), (300.0, 1), (900.0, 2)])
def test_a_steady_beat_over_two_hours_is_one_alert_once_recognised(
        beat: float, expected: int) -> None:
    """A minute's and five minutes' beat fold from the start (the first starts are
    within max_incident_span of the onset and already fold, and give the beat); a
    quarter hour's second start is not told from a restart, its third is."""
    d = make()
    starts = [beat * i for i in range(int(TWO_HOURS // beat))]
    made = alerts_of(d, starts)
    assert len(made) == expected
    last = made[-1]
    assert last.status == FIRING and not last.flapping
    assert last.event_count == len(starts) - (expected - 1)
    assert d.beat_folds == len(starts) - 1 - sum(1 for s in starts[1:] if s <= 300.0) \
        - (expected - 1)


def test_a_jittered_beat_within_tolerance_folds() -> None:
    """A five-minute timer that drifts and waits on its own work: gaps of 290 to 325 s,
    each within 10 % and 5 s of the one before, are still one beat."""
    jitter = [0, 20, -5, 15, -10, 10, 25, 0, -5, 12, -10, 5]
    starts = list(itertools.accumulate((300.0 + j for j in jitter), initial=0.0))
    d = make()
    assert len(alerts_of(d, starts)) == 1


def test_irregular_restarts_still_split() -> None:
    """Set off again by other faults at 12, 33 and 47 minutes: no two gaps agree, so each
    start is a new alert, as the restart rule wants; 10 and 12 minutes apart (differing
    by 20 s more than the tolerance) do not agree either."""
    d = make()
    made = alerts_of(d, [0.0, 700.0, 2000.0, 2800.0])
    assert len(made) == 4 and d.beat_folds == 0
    d = make()
    made = alerts_of(d, [0.0, 600.0, 1295.0])  # gaps 600 and 695: 95 > 0.1 * 695 + 5
    assert len(made) == 3


def test_a_clear_ends_the_beat() -> None:
    """A condition that cleared and starts again on the old beat's time restarted: a new
    alert, whose beat counts from its own start."""
    d = make()
    [first] = alerts_of(d, [0.0, 300.0, 600.0, 900.0])
    cleared, _ = d.apply(fan_fail(9, 0.0, end=950.0))
    assert cleared is first and first.status == RESOLVED and not first.recent_starts
    again, disposition = d.apply(fan_fail(10, 1200.0))
    assert disposition == NEW and again is not first
    assert again.recent_starts == (1200.0,)


def test_a_new_alert_inherits_the_starts_of_the_one_it_ends() -> None:
    """The restart rule's new alert carries the condition's latest starts on (as its
    recent state changes), so the next start on their beat folds into it."""
    d = make()
    first, second = alerts_of(d, [0.0, 900.0])
    assert first.status == RESOLVED and not first.recent_starts
    assert second.recent_starts == (0.0, 900.0)
    same, disposition = d.apply(fan_fail(3, 1800.0))
    assert same is second and disposition == DUPLICATE
    assert second.recent_starts == (900.0, 1800.0)


def test_re_sends_with_the_same_start_do_not_count_as_starts() -> None:
    """Alertmanager re-sends keep ``startsAt``: no gap of zero that a restart could
    agree with, and no start kept twice."""
    d = make()
    for i in range(3):
        d.apply(fan_fail(i, 0.0))
    record, _ = d.apply(fan_fail(3, 100.0))
    assert record.recent_starts == (0.0, 100.0)


def test_beats_longer_than_the_bound_or_with_the_rule_off_split() -> None:
    """Gaps beyond ``steady_beat_max_gap`` are not a beat, nor is anything with it 0."""
    starts = [2 * 3600.0 * i for i in range(4)]
    assert len(alerts_of(make(), starts)) == 4
    assert len(alerts_of(make(steady_beat_max_gap=3 * 3600.0), starts)) == 2
    assert len(alerts_of(make(steady_beat_max_gap=0.0), [60.0 * i for i in range(20)])) == 3


def test_gaps_agree_within_ten_per_cent_and_five_seconds() -> None:
    assert gaps_agree(300.0, 338.0) and not gaps_agree(300.0, 339.0)
    assert gaps_agree(60.0, 72.0) and not gaps_agree(60.0, 73.0)
    assert gaps_agree(60.0, 49.0) and not gaps_agree(60.0, 48.0)
    assert on_beat(kept_starts([0.0, 60.0]), 120.0, 3600.0)
    assert not on_beat(kept_starts([60.0]), 120.0, 3600.0)  # one gap tells nothing
    assert not on_beat(kept_starts([0.0, 60.0]), 120.0, 0.0)  # off
    assert kept_starts([1.0, 2.0, 3.0]) == (2.0, 3.0)
    assert with_start((2.0, 3.0), 4.0) == (3.0, 4.0) and with_start((3.0,), 3.0) == (3.0,)
    assert with_start((), 5.0) == (5.0,) and with_start((2.0, 3.0), 2.5) == (2.0, 3.0)


def test_a_negative_bound_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="steady_beat_max_gap"):
        EngineSettings(steady_beat_max_gap=-1.0)
