"""A prune never deletes the history scheduled retraining or the drift check reads,
unless told to (``aiops.retention_guard``), on SQLite and PostgreSQL. Their windows are
event time, ending at the latest stored start: a store ahead of the wall clock and one
behind it are judged by their own times, not by the age asked for."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aiops import retention
from aiops.config import DataDir
from aiops.retention_guard import history_floor
from aiops.retention_loop import RetentionLoop, start_retention
from aiops.runtime import Runtime
from aiops.timeutil import to_rfc3339
from tests.integration.test_retention import CUTOFF, DAY, LATER, T0, fill, open_store, rows

SCHEDULED = {"AIOPS_RETRAIN_SCHEDULE": "1d", "AIOPS_RETRAIN_DAYS": "7"}
WINDOW_START = LATER + 5 - 7 * DAY  # the latest start (n2) less 7 days: T0 + 3 d + 5 s


def aiops(data_dir: Path, url: str, *args: str, **env: str
          ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "aiops", "--data-dir", str(data_dir),
                           "--database-url", url, *args],
                          env={**os.environ, "AIOPS_TEXT_SIMILARITY": "off", **env},
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def store(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Runtime:
    """The retention tests' store (old history from T0, new alerts at LATER, 2027: ahead
    of the wall clock) with retraining scheduled over 7 days."""
    for name, value in SCHEDULED.items():
        monkeypatch.setenv(name, value)
    rt = open_store(tmp_path / "data", db_url)
    fill(rt, T0, LATER)
    yield rt
    rt.close()


def test_the_floor_is_the_latest_start_less_the_longest_window(store: Runtime) -> None:
    with store.db.connect() as conn:
        found = history_floor(conn, store.data_dir)
    assert found is not None and found.need.setting == "AIOPS_RETRAIN_DAYS"
    assert (found.latest, found.floor) == (LATER + 5, WINDOW_START)


def test_a_cutoff_inside_retrainings_window_is_refused_by_name(store: Runtime, db_url: str,
                                                              tmp_path: Path) -> None:
    before = rows(store)
    for dry in ((), ("--dry-run",)):
        done = aiops(tmp_path / "data", db_url, "prune", "--older-than", to_rfc3339(CUTOFF),
                     *dry, **SCHEDULED)
        assert done.returncode == 2, done.stderr
        said = done.stderr
        assert f"cutoff {to_rfc3339(CUTOFF)} would delete history that scheduled " \
               "retraining (AIOPS_RETRAIN_SCHEDULE='1d') reads" in said
        assert "AIOPS_RETRAIN_DAYS=7 covers the alerts that started from " \
               f"{to_rfc3339(WINDOW_START)}" in said
        assert f"the newest cutoff allowed is {to_rfc3339(WINDOW_START)} (event time), " \
               "or use --allow-short-history to prune anyway" in said
        assert rows(store) == before


def test_a_cutoff_at_the_windows_start_prunes(store: Runtime, db_url: str,
                                              tmp_path: Path) -> None:
    done = aiops(tmp_path / "data", db_url, "prune", "--older-than",
                 to_rfc3339(WINDOW_START), **SCHEDULED)
    assert done.returncode == 0, done.stderr
    assert {"a1", "a2"} & rows(store)["alerts"] == set()


def test_allow_short_history_prunes_inside_the_window(store: Runtime, db_url: str,
                                                      tmp_path: Path) -> None:
    before = rows(store)
    done = aiops(tmp_path / "data", db_url, "prune", "--older-than", to_rfc3339(LATER),
                 "--allow-short-history", "--json", **SCHEDULED)
    assert done.returncode == 0, done.stderr
    assert {"b1", "c1", "n1", "n2"} <= rows(store)["alerts"]
    assert rows(store)["alerts"] == before["alerts"] - {"a1", "a2"}


def test_an_age_is_judged_by_the_stores_own_clock(store: Runtime, db_url: str,
                                                   tmp_path: Path) -> None:
    """Ahead of the wall clock (2027): 3 days ago by the wall clock is long before the
    window, so allowed though 3 days < AIOPS_RETRAIN_DAYS."""
    done = aiops(tmp_path / "data", db_url, "prune", "--older-than", "3d", "--dry-run",
                 **SCHEDULED)
    assert done.returncode == 0, done.stderr


def test_a_store_behind_the_wall_clock_refuses_an_age_longer_than_the_window(
        db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """History replayed from a month ago: 10 days ago by the wall clock (longer than the
    7 days retraining reads) is still after its window, which ends a month ago."""
    for name, value in SCHEDULED.items():
        monkeypatch.setenv(name, value)
    rt = open_store(tmp_path / "data", db_url)
    now = time.time()
    try:
        fill(rt, now - 60 * DAY, now - 30 * DAY)
        before = rows(rt)
        done = aiops(tmp_path / "data", db_url, "prune", "--older-than", "10d", **SCHEDULED)
        assert done.returncode == 2 and "AIOPS_RETRAIN_DAYS=7" in done.stderr
        assert rows(rt) == before
        done = aiops(tmp_path / "data", db_url, "prune", "--older-than", "38d", **SCHEDULED)
        assert done.returncode == 0, done.stderr
        assert rows(rt)["alerts"] == before["alerts"] - {"a1", "a2"}
    finally:
        rt.close()


def test_a_longer_drift_window_is_protected_without_a_schedule(
        db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIOPS_DRIFT_WINDOW", str(8 * DAY))
    rt = open_store(tmp_path / "data", db_url)
    try:
        fill(rt, T0, LATER)
        done = aiops(tmp_path / "data", db_url, "prune", "--older-than", to_rfc3339(CUTOFF),
                     AIOPS_DRIFT_WINDOW=str(8 * DAY))
        assert done.returncode == 2
        assert "the drift check (every 3600 s, AIOPS_DRIFT_CHECK_EVERY) reads: " \
               f"AIOPS_DRIFT_WINDOW={8 * DAY:g}" in done.stderr
        off = aiops(tmp_path / "data", db_url, "prune", "--older-than", to_rfc3339(CUTOFF),
                    AIOPS_DRIFT_WINDOW=str(8 * DAY), AIOPS_DRIFT_CHECK_EVERY="0")
        assert off.returncode == 0, off.stderr  # no drift check: nothing reads that window
    finally:
        rt.close()


def test_the_loop_stops_its_cutoff_before_the_window(
        db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A keep of 8 days passes the settings check (7 days read), yet the store's latest
    start is 30 days behind the wall clock: each round's cutoff stops at its window."""
    for name, value in {**SCHEDULED, "AIOPS_RETENTION_KEEP": str(8 * DAY)}.items():
        monkeypatch.setenv(name, value)
    rt = open_store(tmp_path / "data", db_url)
    now = time.time()
    try:
        fill(rt, now - 60 * DAY, now - 30 * DAY)
        report = RetentionLoop(rt.db, rt.data_dir, clock=lambda: now).prune_once()
        assert report.cutoff == now - 30 * DAY + 5 - 7 * DAY  # not now - 8 days
        assert {"b1", "c1", "n1", "n2"} <= rows(rt)["alerts"]
        monkeypatch.setenv("AIOPS_RETENTION_ALLOW_SHORT_HISTORY", "1")
        told = DataDir.from_env(tmp_path / "data", database_url=db_url)
        report = RetentionLoop(rt.db, told, clock=lambda: now).prune_once()
        assert report.cutoff == retention.plan(rt.db, now - 8 * DAY, rt.data_dir.settings,
                                               now).cutoff < now - 30 * DAY
    finally:
        rt.close()


@pytest.mark.parametrize("env, refused", [
    ({**SCHEDULED, "AIOPS_RETENTION_KEEP": str(3 * DAY)}, "AIOPS_RETRAIN_DAYS=7 (7 days)"),
    ({"AIOPS_DRIFT_WINDOW": str(4 * DAY), "AIOPS_RETENTION_KEEP": str(3 * DAY)},
     f"AIOPS_DRIFT_WINDOW={4 * DAY:g} (4 days)"),
])
def test_serve_refuses_a_keep_shorter_than_a_readers_window(tmp_path: Path, env: dict,
                                                           refused: str) -> None:
    done = subprocess.run([sys.executable, "-m", "aiops", "--data-dir", str(tmp_path / "d"),
                           "serve", "--port", "1"],
                          env={**os.environ, "AIOPS_TEXT_SIMILARITY": "off", **env},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "AIOPS_RETENTION_KEEP=259200 keeps 3 days of history, less than" in done.stderr
    assert refused in done.stderr
    assert "or set AIOPS_RETENTION_ALLOW_SHORT_HISTORY=1 to prune anyway" in done.stderr


def test_allow_short_history_lets_a_short_keep_serve(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {**SCHEDULED, "AIOPS_RETENTION_KEEP": str(3 * DAY)}.items():
        monkeypatch.setenv(name, value)
    rt = open_store(tmp_path / "data", None)
    try:
        with pytest.raises(ValueError, match="AIOPS_RETRAIN_DAYS=7"):
            start_retention(rt)
        assert rt.retention is None
    finally:
        rt.close()
    monkeypatch.setenv("AIOPS_RETENTION_ALLOW_SHORT_HISTORY", "1")
    rt = open_store(tmp_path / "data", None)
    try:
        assert start_retention(rt) is not None
    finally:
        rt.close()


@pytest.mark.parametrize("days, shadow, reach", [
    ("7", "86400", 7 * DAY),  # the shadow window well inside the days
    ("1", "86400", DAY + 900),  # as long: its 900 s lead-in reaches before them
    ("1", "3600", DAY),
])
def test_retrainings_window_reaches_its_shadow_tests_lead_in(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, days: str, shadow: str,
        reach: float) -> None:
    from aiops.retention_guard import longest_need

    for name, value in {"AIOPS_RETRAIN_SCHEDULE": "1d", "AIOPS_RETRAIN_DAYS": days,
                        "AIOPS_RETRAIN_SHADOW_WINDOW": shadow}.items():
        monkeypatch.setenv(name, value)
    need = longest_need(DataDir.from_env(tmp_path))
    assert need is not None and need.setting == "AIOPS_RETRAIN_DAYS"
    assert need.seconds == reach
