"""Warnings about senders: said again after a while, never a flood, never silenced for
good (a capped set of reasons said once went quiet for every new reason once full)."""

from __future__ import annotations

from aiops.warn_limit import WarnLimit


def test_a_reason_is_said_once_an_hour() -> None:
    limit = WarnLimit(repeat=3600)
    assert limit.check("r1: wrong digest", now=0) == "r1: wrong digest"
    assert limit.check("r1: wrong digest", now=10) is None
    assert limit.check("r1: wrong digest", now=3601) == "r1: wrong digest"


def test_a_flood_of_made_up_reasons_is_held_and_counted_and_a_real_one_is_said_later(
        ) -> None:
    limit = WarnLimit(per_minute=30, remember=1000)
    said = [limit.check(f"unknown user u{i}", now=100.0) for i in range(5000)]
    assert sum(s is not None for s in said) == 30  # at most 30 in the minute
    # the next minute a real device's reason is said, with the count held back
    real = limit.check("r9: wrong passphrase", now=160.0)
    assert real is not None and real.startswith("r9: wrong passphrase (4970 more")
    # thousands of reasons later, still said: nothing fills up for good
    for minute in range(3, 200):
        for i in range(40):
            limit.check(f"unknown user m{minute}-{i}", now=minute * 60.0)
    assert limit.check("r10: decryption error", now=200 * 60.0) is not None
    assert len(limit._said) <= 1000
