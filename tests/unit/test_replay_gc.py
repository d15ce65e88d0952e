"""A replay raises the collector's young-generation threshold only while it runs."""

from __future__ import annotations

import gc

import pytest

from aiops.replay import BULK_GC_THRESHOLD, _bulk_allocation


def test_threshold_raised_inside_and_restored_after_a_failure() -> None:
    before = gc.get_threshold()
    with pytest.raises(RuntimeError), _bulk_allocation():
        assert gc.get_threshold() == (max(before[0], BULK_GC_THRESHOLD), *before[1:])
        assert gc.isenabled()
        raise RuntimeError("ingest failed")
    assert gc.get_threshold() == before


def test_a_higher_threshold_set_by_the_caller_is_kept() -> None:
    before = gc.get_threshold()
    gc.set_threshold(BULK_GC_THRESHOLD * 2, *before[1:])
    try:
        with _bulk_allocation():
            assert gc.get_threshold()[0] == BULK_GC_THRESHOLD * 2
    finally:
        gc.set_threshold(*before)
