"""Drift measures and the retraining policy on small hand-made numbers: each measure
flips the verdict on its own, chance is not called drift, the policy's branches."""

from __future__ import annotations

from collections import Counter

import pytest

from aiops.config import DataDir, DriftSettings, RetrainSettings
from aiops.errors import InputError
from aiops.learning.drift import (
    Baseline,
    WindowStats,
    assess,
    chance_divergence,
    jensen_shannon,
)
from aiops.learning.retrain import decide
from aiops.timeutil import parse_duration

TRAINED = {"LINK_DOWN": 400, "LOS": 300, "BER_HIGH": 200, "FAN_FAIL": 100}


def window(by_type: dict[str, int], unresolved: int = 0, incidents: int | None = None,
           corrected: int = 0) -> WindowStats:
    alerts = sum(by_type.values())
    return WindowStats(since=0.0, until=3600.0, alerts=alerts, events_by_type=Counter(by_type),
                       alerts_by_type=Counter(by_type), unresolved=unresolved,
                       incidents=alerts // 3 if incidents is None else incidents,
                       corrected=corrected)


def base(nr: float | None = 0.66, unresolved: float | None = 0.0) -> Baseline:
    return Baseline(version=1, type_counts=TRAINED, period=[0.0, 86400.0], noise_reduction=nr,
                    unresolved_share=unresolved)


def test_jensen_shannon_bounds() -> None:
    assert jensen_shannon(TRAINED, {k: 2 * v for k, v in TRAINED.items()}) == pytest.approx(0)
    assert jensen_shannon({"a": 5}, {"b": 7}) == pytest.approx(1.0)
    assert 0 < jensen_shannon({"a": 5, "b": 5}, {"a": 9, "b": 1}) < 1


def test_chance_shrinks_with_the_sample() -> None:
    small = chance_divergence(TRAINED, TRAINED, 1000, 10, 0.99)
    large = chance_divergence(TRAINED, TRAINED, 1000, 1000, 0.99)
    assert small > large > 0
    assert chance_divergence(TRAINED, TRAINED, 1000, 10, 0.99) == small  # seeded


def test_same_mix_is_ok_and_every_measure_is_reported() -> None:
    report = assess(base(), window({k: v // 4 for k, v in TRAINED.items()}), DriftSettings())
    assert report["verdict"] == "ok" and report["reasons"] == []
    assert set(report["measures"]) == {"unseen_type_share", "type_divergence",
                                       "unresolved_share", "noise_reduction", "corrected_share"}


def test_a_new_mix_of_known_types_is_drift_by_divergence_alone() -> None:
    moved = {"LINK_DOWN": 20, "LOS": 20, "BER_HIGH": 60, "FAN_FAIL": 200}
    report = assess(base(), window(moved), DriftSettings())
    assert report["verdict"] == "drifting"
    assert report["measures"]["unseen_type_share"]["value"] == 0
    assert report["measures"]["type_divergence"]["drifting"]
    assert report["measures"]["type_divergence"]["most_changed"][0]["type"] == "FAN_FAIL"
    assert len(report["reasons"]) == 1 and "FAN_FAIL 10.0% -> 66.7%" in report["reasons"][0]


def test_the_same_shift_in_a_handful_of_alerts_is_chance() -> None:
    few = {"LINK_DOWN": 1, "LOS": 1, "BER_HIGH": 1, "FAN_FAIL": 3}
    report = assess(base(), window(few, incidents=2), DriftSettings())
    divergence = report["measures"]["type_divergence"]
    assert divergence["value"] > 0.1 and divergence["value"] < divergence["chance"]
    assert report["verdict"] == "ok"


def test_unseen_types() -> None:
    mix = {k: v // 4 for k, v in TRAINED.items()} | {"NEW_THING": 20}
    report = assess(base(), window(mix), DriftSettings())
    assert report["measures"]["unseen_type_share"]["types"] == {"NEW_THING": 20}
    assert any("never saw" in r and "NEW_THING (20)" in r for r in report["reasons"])
    assert assess(base(), window(mix), DriftSettings(max_unseen_share=0.5))["measures"][
        "unseen_type_share"]["drifting"] is False


def test_unresolved_entities_against_the_training_period_or_the_absolute_limit() -> None:
    mix = {k: v // 4 for k, v in TRAINED.items()}
    assert assess(base(unresolved=0.0), window(mix, unresolved=50), DriftSettings())[
        "verdict"] == "drifting"  # 20% vs 0% in training
    assert assess(base(unresolved=0.15), window(mix, unresolved=50), DriftSettings())[
        "verdict"] == "ok"  # +5 points only
    unknown = assess(base(unresolved=None), window(mix, unresolved=50), DriftSettings())
    assert unknown["verdict"] == "ok" and unknown["measures"]["unresolved_share"][
        "threshold"] == 0.25
    worse = assess(base(unresolved=None), window(mix, unresolved=100), DriftSettings())
    assert "training period not stored" in worse["reasons"][0]


def test_noise_reduction_drop_and_corrections() -> None:
    mix = {k: v // 4 for k, v in TRAINED.items()}  # 250 alerts
    fell = assess(base(nr=0.66), window(mix, incidents=200), DriftSettings())
    assert fell["verdict"] == "drifting" and "noise reduction fell from 66%" in fell["reasons"][0]
    assert assess(base(nr=None), window(mix, incidents=200), DriftSettings())["verdict"] == "ok"
    corrected = assess(base(), window(mix, incidents=80, corrected=12), DriftSettings())
    assert corrected["verdict"] == "drifting"
    assert "operators corrected 12 of the 80 incidents" in corrected["reasons"][0]


@pytest.mark.parametrize(("text", "seconds"), [("24h", 86400), ("90m", 5400), ("7d", 604800),
                                               ("3600", 3600), (" 1.5h ", 5400)])
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "-1h", "0", "0h", "5w", "1e400"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(InputError, match="duration such as 24h") as err:
        parse_duration(text)
    assert err.value.field == "window"


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIOPS_DRIFT_MAX_DIVERGENCE", "0.2")
    monkeypatch.setenv("AIOPS_DRIFT_MIN_ALERTS", "10")
    monkeypatch.setenv("AIOPS_RETRAIN_SCHEDULE", "0 3 * * *")
    data = DataDir.from_env("somewhere")
    assert data.drift == DriftSettings(max_divergence=0.2, min_alerts=10)
    assert data.retrain == RetrainSettings(schedule="0 3 * * *")
    monkeypatch.setenv("AIOPS_DRIFT_MIN_ALERTS", "many")
    with pytest.raises(ValueError, match="AIOPS_DRIFT_MIN_ALERTS must be an integer"):
        DataDir.from_env("somewhere")


# --- the retraining policy ---------------------------------------------------------------

def trial(version: int | None, f1: float = 1.0, corrected_f1: float | None = None) -> dict:
    return {"version": version, "stored_incidents": 40, "regrouped_incidents": 40,
            "agreement": {"f1": f1}, "corrected": None if corrected_f1 is None else
            {"incidents": 3, "f1": corrected_f1}}


DRIFTING = {"verdict": "drifting", "reasons": ["30% of the alerts are of new types"]}
OK = {"verdict": "ok", "reasons": []}


def test_policy_never_and_always_ignore_the_evidence() -> None:
    assert decide("never", trial(1), trial(2, corrected_f1=1.0), DRIFTING, 0.5)[0] is False
    assert decide("always", trial(1, corrected_f1=1.0), trial(2, 0.1, 0.0), OK, 0.5)[0] is True


def test_auto_follows_the_corrections_drifting_or_not() -> None:
    worse = decide("auto", trial(1, corrected_f1=0.9), trial(2, corrected_f1=0.8), DRIFTING, 0.5)
    assert worse == (False, ["worse on the 3 incidents operators corrected in the shadow "
                             "window, pairwise F1 0.800 against 0.900 of v1"])
    same = decide("auto", trial(1, corrected_f1=0.9), trial(2, corrected_f1=0.9), OK, 0.5)
    assert same[0] is True and same[1][0].startswith("at least as good")


def test_auto_without_corrections_promotes_only_a_drifting_models_successor() -> None:
    promoted, reasons = decide("auto", trial(1), trial(2), DRIFTING, 0.5)
    assert promoted and "v1 is drifting: 30% of the alerts are of new types" in reasons[0]
    assert decide("auto", trial(1), trial(2), OK, 0.5)[0] is False
    unknown = decide("auto", trial(1), trial(2), {"verdict": None, "error": "only 3 alerts"}, 0.5)
    assert unknown[0] is False and "could not be judged for drift (only 3 alerts)" in unknown[1][0]
    assert decide("auto", trial(None), trial(2), None, 0.5)[0] is True  # nothing promoted yet


def test_auto_leaves_a_candidate_that_regroups_everything_to_an_operator() -> None:
    promoted, reasons = decide("auto", trial(1, corrected_f1=0.2), trial(2, 0.3, 0.9),
                               DRIFTING, 0.5)
    assert promoted is False and "an operator decides" in reasons[0]


def test_a_change_of_pace_is_drift_and_says_both_scales() -> None:
    timing = {"value": 2.1, "training": 1.0, "cascade_lag_seconds": 35.0,
              "training_cascade_lag_seconds": 11.0, "excess_pairs": 900,
              "threshold": 1.5, "drifting": True}
    report = assess(base(), window(TRAINED), DriftSettings(), timing)
    assert report["verdict"] == "drifting" and report["measures"]["time_scale"] == timing
    [reason] = report["reasons"]
    assert "time scale of 2.1 (cascade lag 35 s)" in reason and "by 1 " in reason
    same = assess(base(), window(TRAINED), DriftSettings(), {**timing, "drifting": False})
    assert same["verdict"] == "ok"
    assert "time_scale" not in assess(base(), window(TRAINED), DriftSettings())["measures"]


@pytest.mark.parametrize(("name", "value", "message"), [
    ("AIOPS_RETRAIN_SHADOW_WINDOW", "-1",
     "AIOPS_RETRAIN_SHADOW_WINDOW must be a number above 0, got -1.0"),
    ("AIOPS_RETRAIN_MIN_STORED_AGREEMENT", "3",
     "AIOPS_RETRAIN_MIN_STORED_AGREEMENT must be a number at least 0 and at most 1, got 3.0"),
    ("AIOPS_RETRAIN_DAYS", "0", "AIOPS_RETRAIN_DAYS must be a number above 0"),
    ("AIOPS_RETRAIN_MIN_ALERTS", "0", "AIOPS_RETRAIN_MIN_ALERTS must be a number at least 1"),
    ("AIOPS_RETRAIN_FIT_SECONDS", "nan", "AIOPS_RETRAIN_FIT_SECONDS must be a number at least 1"),
    ("AIOPS_DRIFT_CHANCE_QUANTILE", "2",
     "AIOPS_DRIFT_CHANCE_QUANTILE must be a number at least 0 and at most 1, got 2.0"),
    ("AIOPS_DRIFT_WINDOW", "-5", "AIOPS_DRIFT_WINDOW must be a number above 0"),
    ("AIOPS_DRIFT_MAX_TIME_SCALE_CHANGE", "0.5",
     "AIOPS_DRIFT_MAX_TIME_SCALE_CHANGE must be a number at least 1"),
    ("AIOPS_DRIFT_CHECK_EVERY", "inf", "AIOPS_DRIFT_CHECK_EVERY must be a number at least 0"),
])
def test_settings_that_contradict_the_policy_are_refused_by_name(
        monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str) -> None:
    """A retraining policy with a shadow window of no time tried the candidate on no
    alerts and reported F1 1.000; an agreement threshold over 1 kept every candidate
    out as 'very different' at F1 0.975; a chance quantile of 2 crashed drift with a
    numpy traceback. Each is now refused when the data dir is opened."""
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError) as err:
        DataDir.from_env("somewhere")
    assert message in str(err.value)
