"""The clear-time study's split (benchmarks.realism.py) cuts where the docs say it does."""

import numpy as np

from benchmarks.realism import clear_clusters, end_gaps, excess_by_hop, split_by_clears


def test_clears_minutes_apart_cut_an_incident_and_uncleared_alarms_join_the_largest_part():
    ends = {"a": 100.0, "b": 130.0, "c": 150.0, "d": 600.0, "e": 640.0, "f": 650.0,
            "g": 700.0, "open": None}
    parts = split_by_clears(list(ends), ends, gap=90.0, min_part=3)
    assert sorted(map(sorted, parts)) == [["a", "b", "c"], ["d", "e", "f", "g", "open"]]


def test_one_clear_cluster_or_small_stragglers_leave_the_incident_whole():
    ends = {"a": 100.0, "b": 130.0, "c": 150.0, "late": 900.0}
    assert split_by_clears(list(ends), ends, gap=90.0, min_part=3) == [list(ends)]
    assert clear_clusters([5.0, 1.0, 300.0], gap=90.0) == [[1.0, 5.0], [300.0]]


def test_end_gaps_sorts_nearby_pairs_by_whether_the_true_graph_links_their_types():
    log = (np.array([0, 1, 2]), np.array([0, 1, 5]), np.array([0.0, 10.0, 20.0]),
           np.array([100.0, 130.0, 400.0]))
    causal = np.zeros((3, 3), dtype=bool)
    causal[0, 1] = True
    adjacency = np.zeros((6, 6), dtype=bool)
    adjacency[0, 1] = adjacency[1, 0] = adjacency[1, 5] = adjacency[5, 1] = True
    linked, unlinked = end_gaps(log, causal, adjacency)
    assert linked == [30.0]  # types 0 -> 1 on neighbours
    assert unlinked == [270.0]  # types 1 and 2 on neighbours 1 and 5; 0 and 5 are not


def test_linked_pairs_beyond_chance_are_counted_by_hop_and_lag():
    # Ten cascades: LINK (type 0) on `a`, then its effect (type 1) on neighbour `b` 5 s
    # later; an unrelated type 2 on `a` 200 s later (chance level: no linked pair there).
    types, devices, starts = [], [], []
    for k in range(10):
        t = 1000.0 * k
        types += [0, 1, 2]
        devices += ["a", "b", "a"]
        starts += [t, t + 5.0, t + 200.0]
    causal = np.zeros((3, 3), dtype=bool)
    causal[0, 1] = True
    hops = {"a": {"a": 0, "b": 1}, "b": {"b": 0, "a": 1}}
    excess = excess_by_hop(np.array(types), devices, np.array(starts), causal, hops)
    assert excess.shape == (3, 5)
    assert excess[1, 0] == 10 and excess.sum() == 10


def test_bad_arguments_are_refused_before_any_work(capsys):
    import pytest

    from benchmarks.realism import main

    for args, words in ((["--placement", "0.5,0.5"], "--placement: '0.5,0.5'"),
                        (["--seeds", "x"], "--seeds: 'x'"),
                        (["--engine-out", "/no/such/dir"], "is not a directory")):
        with pytest.raises(SystemExit) as stopped:
            main(args)
        assert stopped.value.code == 2 and words in capsys.readouterr().err
