"""A parsed RFC 3339 text is written back as that text without formatting it again, and
the memo never changes what ``to_rfc3339`` writes."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from aiops import timeutil
from aiops.timeutil import parse_timestamp, to_rfc3339


def _reference(ts: float) -> str:
    """``to_rfc3339`` as it was before the memo."""
    return datetime.fromtimestamp(ts, tz=UTC).isoformat().replace("+00:00", "Z")


@pytest.fixture(autouse=True)
def _empty_memo() -> None:
    timeutil._formatted.clear()


def test_a_parsed_canonical_text_is_remembered_for_its_instant() -> None:
    ts = parse_timestamp("2026-09-16T19:25:49.049937Z", "starts_at")
    assert timeutil._formatted[ts] == "2026-09-16T19:25:49.049937Z"
    assert to_rfc3339(ts) == "2026-09-16T19:25:49.049937Z" == _reference(ts)


@pytest.mark.parametrize("text", [
    "2026-09-16T19:25:49.000000Z",  # isoformat writes no fraction of zero
    "2026-09-16T19:25:49.5Z",  # nor fewer than six digits
    "2026-09-16T21:25:49.049937+02:00",  # nor an offset
    "2026-09-16 19:25:49Z",  # nor a space
    "2026-09-16T19:25:49",  # nor a time without its zone
    "1969-12-31T23:59:59.250000Z",  # before the epoch: not proven exact, not kept
    "2200-01-01T00:00:00.000001Z",  # past 2106: floats too coarse to be sure
    " 2026-09-16T19:25:49Z ",  # kept under its stripped text only
])
def test_only_texts_to_rfc3339_would_write_are_remembered(text: str) -> None:
    ts = parse_timestamp(text, "starts_at")
    remembered = timeutil._formatted.get(ts)
    assert remembered is None or remembered == text.strip()
    assert to_rfc3339(ts) == _reference(ts)


def test_the_memo_writes_what_formatting_writes() -> None:
    """Random instants 1970-2106, microseconds at their edges: the remembered text is the
    formatted one."""
    rng = random.Random(11)
    for _ in range(20_000):
        second = datetime.fromtimestamp(rng.randrange(0, 2 ** 32), UTC)
        micro = rng.choice([0, 1, 499_999, 500_000, 999_999, rng.randrange(1_000_000)])
        text = second.strftime("%Y-%m-%dT%H:%M:%S") + (f".{micro:06d}" if micro else "") + "Z"
        ts = parse_timestamp(text, "starts_at")
        assert timeutil._formatted.get(ts) == text
        assert to_rfc3339(ts) == _reference(ts) == text


def test_the_memo_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(timeutil, "_MEMO_SIZE", 10)
    for second in range(25):
        parse_timestamp(f"2026-01-01T00:00:{second:02d}Z", "t")
    assert 0 < len(timeutil._formatted) <= 10
