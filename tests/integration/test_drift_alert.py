"""Drift raises an alert of its own: AIOPS_MODEL_DRIFT fires through the engine's own
ingestion when the promoted model starts drifting, resolves when it stops, survives a
restart without firing twice, and is not itself counted as drift."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from aiops.learning.drift import model_drift
from aiops.learning.drift_alert import DRIFT_ALERT, OWN_SOURCE, firing_since
from aiops.runtime import Runtime
from aiops.store.tables import alerts
from tests.integration.mlops_data import EVAL_HOURS, build_trained, copy_of, opened, other_mix

WINDOW = EVAL_HOURS * 3600


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_trained(tmp_path_factory.mktemp("mlops") / "trained")


def with_drift(runtime: Runtime, **changes: float) -> None:
    """The same data dir with other drift settings (the window the tests' data has)."""
    drift = dataclasses.replace(runtime.data_dir.drift, window=WINDOW, **changes)
    runtime.data_dir = dataclasses.replace(runtime.data_dir, drift=drift)


def stored_drift_alerts(runtime: Runtime) -> list[tuple]:
    with runtime.db.connect() as conn:
        return list(conn.execute(
            sa.select(alerts.c.status, alerts.c.incident_id, alerts.c.summary)
            .where(alerts.c.source == OWN_SOURCE, alerts.c.name == DRIFT_ALERT)))


@pytest.fixture
def data(trained: Path, tmp_path: Path) -> Path:
    return copy_of(trained, tmp_path / "d")


@pytest.fixture
def runtime(data: Path) -> Iterator[Runtime]:
    runtime = opened(data)
    with_drift(runtime)
    yield runtime
    runtime.close()


def test_no_alert_while_the_model_fits(runtime: Runtime) -> None:
    assert runtime.raise_drift_alert() is None
    assert stored_drift_alerts(runtime) == []


def test_drift_fires_once_resolves_and_survives_a_restart(runtime: Runtime,
                                                          data: Path) -> None:
    runtime.engine.ingest(other_mix())
    before = model_drift(runtime)
    fired = runtime.raise_drift_alert()
    assert fired is not None and fired.ends_at is None
    assert "is drifting" in fired.summary and "never saw" in fired.summary
    [(status, incident, summary)] = stored_drift_alerts(runtime)
    assert status == "firing" and incident is not None and "never saw" in summary
    # its own alert is not the network's: the drift measured is the same as before
    after = model_drift(runtime)
    assert after["measures"] == before["measures"] and after["window"] == before["window"]
    assert runtime.raise_drift_alert() is None  # still drifting: no second alert

    runtime.close()
    restarted = opened(data)
    try:
        with_drift(restarted)
        assert firing_since(restarted.engine) == fired.starts_at  # restored from the db
        assert restarted.raise_drift_alert() is None  # not fired twice
        # thresholds an operator raised: the model counts as fitting again
        with_drift(restarted, max_unseen_share=1.0, max_divergence=1.0,
                   max_unresolved_increase=1.0, max_unresolved_share=1.0,
                   max_noise_reduction_drop=1.0, max_corrected_share=1.0)
        resolved = restarted.raise_drift_alert()
        assert resolved is not None and resolved.ends_at is not None
        assert resolved.starts_at == fired.starts_at  # the same alert, resolved
        [(status, _, _)] = stored_drift_alerts(restarted)
        assert status == "resolved"
        assert firing_since(restarted.engine) is None
        assert restarted.raise_drift_alert() is None  # nothing left to resolve
    finally:
        restarted.close()


def test_checks_run_in_the_background_on_schedule(runtime: Runtime) -> None:
    runtime.engine.ingest(other_mix())
    assert runtime.watch_drift(every=0) is False  # 0: switched off
    assert runtime.watch_drift() is False  # the first check is an interval away
    runtime.drift_checked_at -= runtime.data_dir.drift.check_every
    assert runtime.watch_drift() is True
    runtime.drift_check.join(timeout=120)
    assert [row[0] for row in stored_drift_alerts(runtime)] == ["firing"]
    assert runtime.watch_drift() is False  # just checked
