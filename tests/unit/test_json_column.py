"""JSON columns are written as ``json.dumps`` writes them, by a C encoder built once."""

from __future__ import annotations

import json
import math
import random
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from aiops.engine.engine import Engine
from aiops.models import Alert
from aiops.store.db import create_db_engine
from aiops.store.json_column import JsonText, alert_json, column_json, plain_json
from aiops.store.tables import alerts, incidents, metadata, raw_events
from topology.graph import TopologyGraph

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


def _random_text(rng: random.Random) -> str:
    return "".join(chr(rng.choice([rng.randrange(0, 127), rng.randrange(0x80, 0x3000),
                                   rng.randrange(0x1F300, 0x1F600)]))
                   for _ in range(rng.randrange(16)))


def _random_alert(rng: random.Random) -> Alert:
    start = rng.choice([0.0, 1e-6, 1790000000.0000005, rng.uniform(0, 4e9)])
    return Alert(
        id=_random_text(rng), source=_random_text(rng), name=_random_text(rng),
        entity=_random_text(rng), severity=rng.choice(["critical", "info", _random_text(rng)]),
        summary=_random_text(rng), starts_at=start,
        ends_at=rng.choice([None, start, start + rng.uniform(0, 1e5)]),
        labels={_random_text(rng): _random_text(rng) for _ in range(rng.randrange(4))},
        description=rng.choice([None, "", _random_text(rng)]))


def test_an_alerts_payload_text_is_json_dumps_of_its_canonical_form() -> None:
    """``alert_json`` writes the raw event's payload without the dict: the same text."""
    rng = random.Random(5)
    for alert in [_random_alert(rng) for _ in range(3000)]:
        assert alert_json(alert) == json.dumps(alert.to_dict())
    odd = [Alert(7, "s", "n", "e", "info", "x", 1.5),  # type: ignore[arg-type]
           Alert("i", "s", "n", "e", "info", "x", 1.5, labels={"n": 1}),  # type: ignore[dict-item]
           Alert("i", "s", "n", "e", "info", "x", 1.5, labels=[("a", "b")])]  # type: ignore[arg-type]
    for alert in odd:  # shapes validation never lets through: the general path, same text
        assert alert_json(alert) == json.dumps(alert.to_dict())


def test_encoded_text_is_stored_as_it_is_and_decoded_for_other_serializers() -> None:
    text = JsonText('{"a": [1, "\\u00fc"]}')
    assert column_json(text) == text and type(column_json(text)) is str
    assert plain_json(text) == {"a": [1, "\u00fc"]}
    assert plain_json("plain") == "plain" and column_json("plain") == '"plain"'


def test_an_engine_on_a_plain_sqlalchemy_database_stores_payloads_as_objects() -> None:
    """The training replays run the engine on an in-memory database that serializes JSON
    with ``json.dumps``: a payload must be stored as the alert's object there too, not as
    a JSON string holding its text."""
    db = sa.create_engine("sqlite://")
    metadata.create_all(db, tables=[incidents, alerts, raw_events])
    engine = Engine(db, TopologyGraph())
    event = Alert("e1", "nms", "LINK_DOWN", "r1", "major", "down", 1790000000.25,
                  labels={"port": "1/1"})
    engine.ingest([event])
    with db.connect() as conn:
        stored = conn.execute(sa.select(raw_events.c.payload)).scalar()
        text = conn.exec_driver_sql("SELECT payload FROM raw_events").scalar()
    db.dispose()
    assert stored == event.to_dict() and text == json.dumps(event.to_dict())
