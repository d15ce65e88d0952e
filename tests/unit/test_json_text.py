"""``json_text`` writes exactly what ``json.dumps(..., indent=1)`` writes, faster.

Replay output and the other documents ``write_json_atomically`` writes must not
change by a byte, including values the fast encoder leaves to ``json.dumps``.
"""

from __future__ import annotations

import enum
import json
import math
import random
from pathlib import Path
from typing import Any

import pytest

from aiops.replay import json_text, write_json_atomically


class Colour(enum.StrEnum):
    RED = "red"


class Count(int):
    pass


DOCUMENTS: list[Any] = [
    {}, [], "", 0, -1, 2**70, 1.5, -0.0, 1e300, 1e-300, math.nan, math.inf, -math.inf,
    True, False, None, "ü 温度 🔥 \x00 \u2028 \"q\" \\ \n\t", (1, "a", ()),
    {"incidents": [{"id": "inc-1", "alert_ids": ["a", "b"], "root_causes": [
        {"entity": "ne-1", "score": 0.6516, "alert_id": None, "evidence": []}],
        "remediations": [{}]}]},
    {"a": {"b": {"c": [[], {}, [[]], [{}], [1, [2, [3]]]]}}},
    {"k": Colour.RED}, {"k": Count(3)}, [Colour.RED], {1: "int key"}, {None: 1, True: 2},
    {1.5: "float key"}, {"nested": {2: "x"}}, ["a", Colour.RED],
]


@pytest.mark.parametrize("document", DOCUMENTS, ids=repr)
def test_same_text_as_json_dumps(document: Any) -> None:
    assert json_text(document) == json.dumps(document, indent=1)


def random_value(rng: random.Random, depth: int) -> Any:
    kind = rng.randrange(9 if depth < 4 else 6)
    if kind == 0:
        return rng.choice([None, True, False])
    if kind == 1:
        return rng.randint(-10**20, 10**20)
    if kind == 2:
        return rng.choice([rng.uniform(-1e6, 1e6), math.nan, math.inf, 0.1, 1e-7])
    if kind in (3, 4, 5):
        return "".join(chr(rng.choice([rng.randrange(32, 127), rng.randrange(0, 0x3000)]))
                       for _ in range(rng.randrange(6)))
    if kind in (6, 7):
        return [random_value(rng, depth + 1) for _ in range(rng.randrange(5))]
    return {random_value(rng, 9) if rng.random() < 0.1 else f"k{i}": random_value(rng, depth + 1)
            for i in range(rng.randrange(5))}


def test_same_text_on_random_documents() -> None:
    rng = random.Random(5)
    for _ in range(500):
        document = random_value(rng, 0)
        assert json_text(document) == json.dumps(document, indent=1)


def test_refusals_are_json_dumps_refusals() -> None:
    with pytest.raises(TypeError, match="not JSON serializable"):
        json_text({"when": object()})
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(ValueError, match="Circular reference"):
        json_text({"a": loop})


def test_written_file_is_the_indented_document(tmp_path: Path) -> None:
    document = {"incidents": [{"id": "inc-1", "alert_ids": ["a1"], "root_causes": [],
                               "remediations": []}]}
    path = tmp_path / "out" / "doc.json"
    write_json_atomically(path, document)
    assert path.read_text(encoding="utf-8") == json.dumps(document, indent=1)
    assert [p.name for p in path.parent.iterdir()] == ["doc.json"]
