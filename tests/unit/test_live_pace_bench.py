"""The live pace's refit benchmark (benchmarks/live_pace.py) measures what it says."""

import pytest

from benchmarks.live_pace import busy_day, main, measure


def test_bad_sizes_or_repeats_are_refused_before_any_work(capsys: pytest.CaptureFixture
                                                          ) -> None:
    for argv in (["--sizes", "5k"], ["--sizes", "50"], ["--repeat", "0"]):
        with pytest.raises(SystemExit) as stopped:
            main(argv)
        assert stopped.value.code == 2
        assert "--sizes" in capsys.readouterr().err


def test_the_latest_alerts_of_a_busy_day_are_refitted_and_counted() -> None:
    alerts, topology = busy_day(3000)
    assert len(alerts) >= 3000 and len(topology) == 500
    assert all(a.starts_at <= b.starts_at for a, b in zip(alerts, alerts[1:], strict=False))
    row = measure(alerts, topology, 3000, repeat=1)
    assert row["alerts"] == 3000 and 0 < row["hours"] <= 24
    # Cascades along a causal graph on neighbours: the precedence count finds pairs.
    assert row["precedence_pairs"] >= 200
    assert row["refit_s"] > 0 and row["train_relations_s"] > 0
