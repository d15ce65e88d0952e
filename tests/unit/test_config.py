"""Settings read from the environment: on/off switches are parsed, not truth-tested."""

from __future__ import annotations

import pytest

from aiops.config import DataDir


@pytest.mark.parametrize(("text", "expected"), [
    ("off", False), ("OFF", False), ("0", False), ("false", False), ("no", False),
    ("on", True), ("1", True), ("True", True), (" yes ", True), ("", True),
])
def test_text_similarity_switch(monkeypatch: pytest.MonkeyPatch, text: str,
                                expected: bool) -> None:
    monkeypatch.setenv("AIOPS_TEXT_SIMILARITY", text)
    assert DataDir.from_env("somewhere").settings.text_similarity is expected


def test_a_switch_that_is_neither_on_nor_off_is_refused_by_name(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIOPS_TEXT_SIMILARITY", "disabled")
    with pytest.raises(ValueError, match="AIOPS_TEXT_SIMILARITY must be on or off, got 'disabled'"):
        DataDir.from_env("somewhere")


def test_playbook_limits_are_read_in_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIOPS_PLAYBOOK_START_WITHIN", "120")
    monkeypatch.setenv("AIOPS_PLAYBOOK_GRACE", "2.5")
    playbook = DataDir.from_env("somewhere").playbook
    assert (playbook.start_within, playbook.grace) == (120.0, 2.5)


@pytest.mark.parametrize(("name", "text", "message"), [
    ("AIOPS_PLAYBOOK_START_WITHIN", "10m", "must be a number, got '10m'"),
    ("AIOPS_PLAYBOOK_START_WITHIN", "0", "must be seconds above 0 and at most 604800"),
    ("AIOPS_PLAYBOOK_START_WITHIN", "inf",
     "must be seconds above 0 and at most 604800 \\(a week\\), got inf"),
    ("AIOPS_PLAYBOOK_GRACE", "-5", "must be seconds above 0 and at most 604800"),
    ("AIOPS_PLAYBOOK_GRACE", "nan",
     "must be seconds above 0 and at most 604800 \\(a week\\), got nan"),
])
def test_a_playbook_limit_that_is_not_positive_seconds_is_refused_by_name(
        monkeypatch: pytest.MonkeyPatch, name: str, text: str, message: str) -> None:
    monkeypatch.setenv(name, text)
    with pytest.raises(ValueError, match=f"{name} {message}"):
        DataDir.from_env("somewhere")


@pytest.mark.parametrize(("text", "expected"), [
    (None, 30.0), ("45", 45.0), ("0", 0.0), ("2.5", 2.5), ("off", None), (" OFF ", None),
])
def test_the_clock_ahead_bound_is_seconds_or_off(monkeypatch: pytest.MonkeyPatch,
                                                 text: str | None,
                                                 expected: float | None) -> None:
    if text is None:
        monkeypatch.delenv("AIOPS_MAX_CLOCK_AHEAD", raising=False)
    else:
        monkeypatch.setenv("AIOPS_MAX_CLOCK_AHEAD", text)
    assert DataDir.from_env("somewhere").settings.max_clock_ahead == expected


@pytest.mark.parametrize("text", ["5m", "-1", "nan", "inf", "never"])
def test_a_clock_ahead_bound_that_is_not_seconds_is_refused_by_name(
        monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setenv("AIOPS_MAX_CLOCK_AHEAD", text)
    with pytest.raises(ValueError, match="AIOPS_MAX_CLOCK_AHEAD must be seconds "
                                         r"\(0 or more\) or off, got"):
        DataDir.from_env("somewhere")


def test_engine_settings_refuse_a_negative_clock_ahead_bound() -> None:
    from aiops.config import EngineSettings

    with pytest.raises(ValueError, match="AIOPS_MAX_CLOCK_AHEAD must be seconds"):
        EngineSettings(max_clock_ahead=-1.0)
    assert EngineSettings(max_clock_ahead=None).max_clock_ahead is None


@pytest.mark.parametrize(("text", "expected"), [(None, 3600.0), ("0", 0.0), ("900", 900.0)])
def test_the_steady_beat_bound_is_read_from_the_environment(
        monkeypatch: pytest.MonkeyPatch, text: str | None, expected: float) -> None:
    if text is None:
        monkeypatch.delenv("AIOPS_STEADY_BEAT_MAX_GAP", raising=False)
    else:
        monkeypatch.setenv("AIOPS_STEADY_BEAT_MAX_GAP", text)
    assert DataDir.from_env("somewhere").settings.steady_beat_max_gap == expected


@pytest.mark.parametrize("text", ["1h", "-1", "nan", "inf", "off"])
def test_a_steady_beat_bound_that_is_not_seconds_is_refused_by_name(
        monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setenv("AIOPS_STEADY_BEAT_MAX_GAP", text)
    with pytest.raises(ValueError, match=r"AIOPS_STEADY_BEAT_MAX_GAP must be seconds "
                                         r"\(0: off\), got"):
        DataDir.from_env("somewhere")
