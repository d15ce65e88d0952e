"""The alert lifecycle: fold duplicates, resolve, re-fire, new occurrence, flapping."""

from __future__ import annotations

import itertools

from aiops.config import EngineSettings
from aiops.engine.dedup import DUPLICATE, NEW, REFIRE, RESOLVE, Deduplicator, fingerprint
from aiops.engine.state import FIRING, RESOLVED
from aiops.models import Alert


def event(i: int, start: float, end: float | None = None, **labels: str) -> Alert:
    return Alert(id=f"e{i}", source="nms", name="LINK_DOWN", entity="ne-01", severity="major",
                 summary="down", starts_at=start, ends_at=end, labels={"port": "1", **labels})


def make(**kw) -> Deduplicator:
    ids = itertools.count(1)
    return Deduplicator(EngineSettings(**kw), lambda: next(ids))


def test_fingerprint_ignores_event_id_and_volatile_labels() -> None:
    volatile = EngineSettings().volatile_labels
    a = event(1, 0.0, severity="major")
    b = event(2, 5.0, severity="critical")
    c = event(3, 5.0, port="2")
    assert fingerprint(a, volatile) == fingerprint(b, volatile)
    assert fingerprint(a, volatile) != fingerprint(c, volatile)


def test_duplicates_fold_and_resolve() -> None:
    d = make()
    first, disp = d.apply(event(1, 100.0))
    assert disp == NEW and first.status == FIRING
    again, disp = d.apply(event(2, 130.0))
    assert again is first and disp == DUPLICATE and first.event_count == 2
    done, disp = d.apply(event(3, 100.0, end=400.0))
    assert done is first and disp == RESOLVE and first.status == RESOLVED
    assert first.ends_at == 400.0
    # Alertmanager re-sends the resolved notification: still the same episode.
    _, disp = d.apply(event(4, 100.0, end=400.0))
    assert disp == DUPLICATE


def test_refire_soon_reopens_and_late_refire_is_new() -> None:
    d = make(refire_window=600.0)
    first, _ = d.apply(event(1, 0.0, end=60.0))
    reopened, disp = d.apply(event(2, 120.0))
    assert reopened is first and disp == REFIRE and first.status == FIRING
    d.apply(event(3, 120.0, end=200.0))
    later, disp = d.apply(event(4, 200.0 + 601.0))
    assert disp == NEW and later is not first


def test_start_after_the_incident_intake_is_a_new_occurrence() -> None:
    d = make(refire_window=600.0, max_incident_span=300.0)
    first, _ = d.apply(event(1, 0.0, end=900.0))
    # a re-send stamped later, still in the intake period: same alert
    again, disp = d.apply(event(2, 90.0, end=900.0))
    assert again is first and disp == DUPLICATE
    # the same condition set off again 20 minutes later: a new occurrence, although
    # the first episode's end (900 s) is later than this start
    later, disp = d.apply(event(3, 1200.0, end=1500.0))
    assert disp == NEW and later is not first and first.ends_at == 900.0


def test_still_firing_condition_that_starts_again_later_is_a_new_occurrence() -> None:
    d = make(max_incident_span=300.0)
    first, _ = d.apply(event(1, 0.0))  # never cleared
    again, disp = d.apply(event(2, 100.0))  # a re-send stamped later: same episode
    assert again is first and disp == DUPLICATE and d.take_superseded() == []
    later, disp = d.apply(event(3, 1200.0))  # started again: its clear never reached us
    assert disp == NEW and later is not first and later.status == FIRING
    assert first.status == RESOLVED and first.ends_at == 1200.0
    assert d.take_superseded() == [first] and d.take_superseded() == []
    # Alertmanager re-sends keep the episode's startsAt: they fold into the new one
    same, disp = d.apply(event(4, 1200.0))
    assert same is later and disp == DUPLICATE


def test_slow_flapping_is_detected_across_occurrences() -> None:
    d = make(max_incident_span=300.0, flap_window=3600.0, flap_threshold=4)
    records = []
    for i in range(6):  # on for 100 s every 400 s: each start is past the intake period
        record, _ = d.apply(event(i, 400.0 * i, end=400.0 * i + 100.0))
        records.append(record)
    assert records[-1].flapping
    # once flapping, the condition keeps folding into one alert
    assert records[-1] is records[-2]


def test_flapping_after_threshold_changes() -> None:
    d = make(flap_window=900.0, flap_threshold=4)
    record, _ = d.apply(event(1, 0.0, end=10.0))
    t = 10.0
    for i in range(2, 5):
        record, _ = d.apply(event(i, t + 10, end=t + 20))
        t += 20
    assert record.flapping
    assert record.transitions >= 4


def test_eviction_bounds_memory() -> None:
    d = make(refire_window=100.0)
    for i in range(50):
        d.apply(Alert(id=f"x{i}", source="s", name="N", entity=f"e{i}", severity="info",
                      summary="", starts_at=float(i), ends_at=float(i) + 1))
    d.apply(event(999, 5000.0))
    assert d.evict(5000.0) == 50
    assert len(d.active) == 1


def test_adopt_start_says_whether_the_condition_has_an_alert() -> None:
    """The engine keeps a start-unknown clear out of the alerts when it returns False."""
    d = make()
    clear = event(1, 500.0, end=500.0)
    assert d.adopt_start(clear) is False and clear.starts_at == 500.0  # own time kept
    d.apply(event(2, 100.0))
    clear = event(3, 500.0, end=500.0)
    assert d.adopt_start(clear) is True and clear.starts_at == 100.0  # the firing start
    late = event(4, 50.0, end=50.0)  # ended before the firing alert began
    assert d.adopt_start(late) is True and late.starts_at == 50.0
    d.apply(event(5, 100.0, end=500.0))
    again = event(6, 700.0, end=700.0)  # a second "up": a duplicate of the ended episode
    assert d.adopt_start(again) is True and again.starts_at == 100.0
    assert d.apply(again)[1] == DUPLICATE


def test_latency_histogram_percentiles() -> None:
    from aiops.engine.latency import LatencyHistogram

    h = LatencyHistogram()
    assert h.percentile(99) == 0.0
    for _ in range(990):
        h.record(0.0001)
    for _ in range(10):
        h.record(0.02)
    assert 0.0001 <= h.percentile(50) < 0.000107  # within one bucket (6 %) above
    assert 0.0001 <= h.percentile(99) < 0.000107
    assert 0.02 <= h.percentile(99.5) <= 0.02 * 1.06
    assert h.summary_ms()["count"] == 1000 and h.summary_ms()["max_ms"] == 20.0


def test_a_state_report_or_a_refire_gives_the_alert_its_severity_and_summary() -> None:
    d = make()
    record, _ = d.apply(event(1, 100.0))
    louder = event(2, 100.0)
    louder.severity, louder.summary = "critical", "down, 100% loss"
    d.apply(louder)  # a re-send with its start: the alert reads as before
    assert (record.severity, record.event.summary, d.take_changed()) == ("major", "down", [])
    d.apply(louder, reports_state=True)  # Nagios/Icinga: the state now, no start
    assert (record.severity, record.event.summary) == ("critical", "down, 100% loss")
    assert d.take_changed() == [record] and record.event.id == "e1"
    d.apply(event(3, 100.0, end=200.0))
    quieter = event(4, 300.0)  # re-fires within the window: the new episode's state
    quieter.severity, quieter.summary = "warning", "down again"
    again, disposition = d.apply(quieter)
    assert (again, disposition, again.severity, again.event.summary) == (
        record, REFIRE, "warning", "down again")


def test_a_state_report_with_its_start_changes_the_severity_of_the_firing_alert_only(
        ) -> None:
    """A Zabbix severity change says the problem's start: marked as a state report, the
    firing alert takes it; the same event unmarked (a re-send) does not; after the
    alert resolved it changes nothing and fires nothing."""
    d = make()
    record, _ = d.apply(event(1, 100.0))
    raised = event(2, 100.0)
    raised.severity = "critical"
    assert d.apply(raised) == (record, DUPLICATE) and record.severity == "major"
    assert d.take_changed() == []
    assert d.apply(raised, reports_state=True) == (record, DUPLICATE)
    assert (record.severity, record.status, record.starts_at, d.take_changed()) == (
        "critical", FIRING, 100.0, [record])
    d.apply(event(3, 100.0, end=200.0))
    lowered = event(4, 100.0)
    lowered.severity = "warning"
    assert d.apply(lowered, reports_state=True) == (record, DUPLICATE)
    assert (record.severity, record.status, d.take_changed()) == ("critical", RESOLVED, [])


def test_a_late_clear_of_an_earlier_episode_does_not_end_the_condition_fired_again() -> None:
    d = make()
    record, _ = d.apply(event(1, 100.0))
    d.apply(event(2, 100.0, end=200.0))
    d.apply(event(3, 300.0))  # fires again within the re-fire window: the same alert
    assert record.status == FIRING
    late, disposition = d.apply(event(4, 100.0, end=200.0))  # the first clear, re-sent
    assert (late, disposition, record.status) == (record, DUPLICATE, FIRING)
    ended, disposition = d.apply(event(5, 300.0, end=400.0))
    assert (disposition, record.status, record.ends_at) == (RESOLVE, RESOLVED, 400.0)


def test_a_late_clear_after_the_re_fired_episode_ended_is_still_a_duplicate() -> None:
    """Found by review: it used to read as a new onset and make an alert of its own."""
    d = make()
    record, _ = d.apply(event(1, 0.0))
    for i, (start, end) in enumerate([(0, 10), (20, None), (20, 30), (40, None), (40, 600),
                                      (1150, None), (1150, 1200)]):
        d.apply(event(10 + i, float(start), None if end is None else float(end)))
    assert (record.status, record.ends_at) == (RESOLVED, 1200.0)
    late, disposition = d.apply(event(30, 600.0, end=600.0))
    assert (late, disposition, len(d.active)) == (record, DUPLICATE, 1)
