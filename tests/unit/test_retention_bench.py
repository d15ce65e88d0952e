"""The retention benchmark (benchmarks/retention.py) measures what it says."""

from pathlib import Path

import pytest

from benchmarks.retention import main, measure


def test_bad_options_are_refused_before_any_work(capsys: pytest.CaptureFixture) -> None:
    for argv in (["--alerts", "10"], ["--batch", "0"]):
        with pytest.raises(SystemExit) as stopped:
            main(argv)
        assert stopped.value.code == 2
        assert "--alerts" in capsys.readouterr().err


def test_the_old_half_is_pruned_while_a_writer_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "aiops.db"
    row = measure(f"sqlite:///{path}", 2000, 100, path)
    # Two raw events per alert, but one for the alerts of the 4 incidents still open.
    assert row["stored"] == {"incidents": 400, "alerts": 2000, "raw_events": 3980}
    # The old half: 200 incidents, 1,000 alerts, 2,000 raw events; the open ones stay.
    assert row["deleted"]["alerts"] == 1000 and row["alerts_left"] == 1000
    assert row["total"] == 3200 and row["writes"] > 0
    assert 0 < row["longest_batch_s"] <= row["prune_s"]
    assert row["size_after"] < row["size_before"]  # vacuumed
