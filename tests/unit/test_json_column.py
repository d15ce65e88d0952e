"""JSON columns are written as ``json.dumps`` writes them, by a C encoder built once."""

from __future__ import annotations

import json
import math
import random
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from aiops.store.db import create_db_engine
from aiops.store.json_column import column_json

VALUES = [
    None, True, False, 0, -1, 10**40, 1.5, -0.0, 1e-300, math.inf, -math.inf, "", "plain",
    "Ünïcödé — 日本語 🚨 \"quoted\" \\ \n\t\x00\x1f", [], {}, [1, [2, [3, {"a": None}]]],
    {"labels": {"interface": "ge-0/0/1", "site": "site-3"}, "ends_at": None},
    {7: "int key", 2.5: "float key", True: "bool key", None: "null key"},
    ("a", "tuple"),
]


def _random_value(rng: random.Random, depth: int = 0) -> object:
    kind = rng.randrange(8 if depth < 4 else 5)
    if kind == 0:
        return rng.choice([None, True, False])
    if kind == 1:
        return rng.randint(-10**20, 10**20)
    if kind == 2:
        return rng.uniform(-1e6, 1e6)
    if kind in (3, 4):
        return "".join(chr(rng.choice([rng.randrange(32, 127), rng.randrange(0x80, 0x3000)]))
                       for _ in range(rng.randrange(12)))
    if kind == 5:
        return [_random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {str(_random_value(rng, 4)): _random_value(rng, depth + 1)
            for _ in range(rng.randrange(4))}


def test_the_text_is_json_dumps_text() -> None:
    rng = random.Random(3)
    for value in VALUES + [_random_value(rng) for _ in range(3000)]:
        assert column_json(value) == json.dumps(value)
    assert column_json(float("nan")) == "NaN"
    with pytest.raises(TypeError, match="not JSON serializable"):
        column_json({"a": object()})


def test_threads_writing_at_once_get_their_own_text() -> None:
    """No state is shared between calls: a value in one thread never reads as a
    circular reference or mixes with another thread's."""
    value = {"a": [{"b": list(range(200))} for _ in range(50)]}
    expected, failures = json.dumps(value), []

    def work() -> None:
        for _ in range(200):
            if column_json(value) != expected:
                failures.append(1)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures


def test_a_json_column_stores_the_same_text(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'j.db'}")
    table = sa.Table("t", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True),
                     sa.Column("doc", sa.JSON))
    table.metadata.create_all(engine)
    value = {"summary": "Ünï 🚨", "labels": {"port": "1/1/1"}, "n": [1, 2.5, None]}
    with engine.begin() as conn:
        conn.execute(table.insert(), [{"id": 1, "doc": value}])
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT doc FROM t").scalar() == json.dumps(value)
        assert conn.execute(sa.select(table.c.doc)).scalar() == value
    engine.dispose()
