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
