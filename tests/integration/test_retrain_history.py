"""A manual retrain asked for more days than the store holds is refused by name, unless
``--allow-short-history``; the report says the span it trained on (aiops.stored_history).
On SQLite and PostgreSQL, and through the real command line.

The store: 21 days of resolved alerts (10 a day) and one from day 6.5 that ended on
day 7; a prune before day 6.9 deletes the alerts that ended before it and keeps that
one, so the oldest stored start (day 6.5) no longer says where the history became
whole: the prune's recorded cutoff does."""

from __future__ import annotations

from pathlib import Path

import pytest

from aiops import retention
from aiops.cli_models import _describe_retrain
from aiops.errors import InputError
from aiops.learning.retrain import retrain
from aiops.runtime import Runtime
from aiops.stored_history import note_prune, pruned_before, stored_history
from aiops.timeutil import to_rfc3339
from tests.integration.test_retention import DAY, T0, event, ingest, open_store
from tests.integration.test_retention_guard import aiops

PER_DAY = 10
LAST_DAY = 20
PRUNED = T0 + 6.9 * DAY  # the prune's cutoff
STRADDLING = T0 + 6.5 * DAY  # the start of the alert that ends after the cutoff
LATEST = T0 + LAST_DAY * DAY + (PER_DAY - 1) * 600  # the latest stored start
FAST = {"AIOPS_RETRAIN_FIT_SECONDS": "1"}


def fill(rt: Runtime) -> None:
    rt.import_topology([], [], "test")
    for day in range(LAST_DAY + 1):
        start = T0 + day * DAY
        ingest(rt, *(event(f"d{day}-{k}", f"r{k % 5}", start + k * 600, start + k * 600 + 60,
                           name=("LINK_DOWN", "BGP_DOWN")[k % 2]) for k in range(PER_DAY)))
        if day == 6:
            ingest(rt, event("straddling", "r0", STRADDLING))
        if day == 8:  # ended after the cutoff: no prune before it deletes it
            ingest(rt, event("straddling", "r0", STRADDLING, STRADDLING + 2 * DAY))


@pytest.fixture
def pruned(db_url: str, tmp_path: Path) -> Runtime:
    rt = open_store(tmp_path / "data", db_url)
    fill(rt)
    plan = retention.plan(rt.db, PRUNED, rt.data_dir.settings)
    assert not plan.clamped
    retention.prune(rt.db, plan)
    yield rt
    rt.close()


def test_a_prune_records_its_cutoff_and_keeps_the_latest(pruned: Runtime) -> None:
    with pruned.db.connect() as conn:
        stored = stored_history(conn)
    assert stored is not None
    assert (stored.oldest, stored.pruned_before, stored.latest) == (STRADDLING, PRUNED, LATEST)
    assert stored.whole_from == PRUNED
    with pruned.db.begin() as conn:  # an earlier cutoff brings nothing back
        note_prune(conn, PRUNED - 3 * DAY, 0.0)
    with pruned.db.connect() as conn:
        assert pruned_before(conn) == PRUNED


def test_days_before_the_prune_are_refused_by_name(pruned: Runtime) -> None:
    """13.4 days reach 0.24 days before the cutoff: refused, though the oldest stored
    alert (day 6.5) is older than their start (day 6.66)."""
    for days in (13.4, 60):
        with pytest.raises(InputError) as refused:
            retrain(pruned, days=days, fit_seconds=1, allow_short_history=False)
        said = str(refused.value)
        assert f"--days {days} asks for the alerts that started from " \
               f"{to_rfc3339(LATEST - days * DAY)}" in said
        assert f"the oldest stored alert started at {to_rfc3339(STRADDLING)}" in said
        assert f"a prune deleted what ended before {to_rfc3339(PRUNED)}" in said
        assert "--allow-short-history" in said
    assert pruned.registry.versions("correlation") == []


def test_days_inside_the_history_train_and_say_their_span(pruned: Runtime) -> None:
    report = retrain(pruned, days=13, promote="never", fit_seconds=1,
                     allow_short_history=False)
    span = report["meta"]["retrain"]["span"]
    assert span["short"] is False and span["days_asked"] == 13
    assert span["last_start"] == to_rfc3339(LATEST)
    assert "SHORT" not in _describe_retrain(report)


def test_the_override_trains_and_the_report_says_the_span_was_short(
        pruned: Runtime) -> None:
    report = retrain(pruned, days=60, promote="never", fit_seconds=1)
    span = report["meta"]["retrain"]["span"]
    # the straddling alert is in the 60 days; the whole history is from day 6.9
    assert span["short"] is True and span["first_start"] == to_rfc3339(STRADDLING)
    assert span["pruned_before"] == to_rfc3339(PRUNED)
    assert span["days_trained"] == round((LATEST - STRADDLING) / DAY, 4)
    assert f"history only from {to_rfc3339(PRUNED)}" in report["meta"]["trained_on"]
    text = _describe_retrain(report)
    assert f"(13.5625 of the 60 days asked); SHORT: the stored history starts at " \
           f"{to_rfc3339(STRADDLING)}, pruned before {to_rfc3339(PRUNED)}" in text


def test_the_command_line_refuses_with_exit_2_and_allows_with_the_flag(
        pruned: Runtime, db_url: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    for command in (("model", "retrain", "--days", "60"),
                    ("model", "schedule", "--every", "1d", "--once", "--days", "60")):
        done = aiops(data, db_url, *command, **FAST)
        assert done.returncode == 2, done.stderr
        assert done.stderr.startswith("aiops: error: --days 60 asks for the alerts that "
                                      f"started from {to_rfc3339(LATEST - 60 * DAY)}")
        assert f"a prune deleted what ended before {to_rfc3339(PRUNED)}" in done.stderr
    assert pruned.registry.versions("correlation") == []
    done = aiops(data, db_url, "model", "retrain", "--days", "60", "--promote", "never",
                 "--allow-short-history", **FAST)
    assert done.returncode == 0, done.stderr
    assert "of the 60 days asked); SHORT" in done.stdout
    done = aiops(data, db_url, "model", "schedule", "--every", "1d", "--once", "--days", "60",
                 "--promote", "never", "--allow-short-history", **FAST)
    assert done.returncode == 0, done.stderr
    assert "retrain-correlation: v2 not promoted" in done.stderr
