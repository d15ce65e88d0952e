"""``aiops incidents merge|split`` as a user runs them: a real subprocess, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

from aiops.demo.generate import demo_topology
from tests.integration.test_cli import aiops, alert, write_lines


def replayed(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A data dir with two incidents: a1,a2 on one device, b1 on a distant one."""
    data = tmp_path / "d"
    topology = tmp_path / "topology.json"
    topology.write_text(json.dumps(demo_topology()))
    assert aiops(data, "topology", "import", str(topology)).returncode == 0
    alerts = write_lines(tmp_path / "a.jsonl", [alert("a1", "ne-01", 0),
                                                alert("a2", "ne-01", 4, name="LOS"),
                                                alert("b1", "ne-30", 2000)])
    done = aiops(data, "replay", str(alerts))
    assert done.returncode == 0, done.stderr
    where = {a: i["id"] for i in json.loads(done.stdout)["incidents"] for a in i["alert_ids"]}
    assert where["a1"] == where["a2"] != where["b1"]
    return data, where


def test_merge_and_split_from_the_command_line(tmp_path: Path) -> None:
    data, where = replayed(tmp_path)
    a, b = where["a1"], where["b1"]
    merged = aiops(data, "incidents", "merge", a, b, "--author", "ann", "--comment", "same")
    assert merged.returncode == 0, merged.stderr
    assert f"{b:<10} merged into {a}" in merged.stdout and "feedback #1 stored" in merged.stdout
    split = aiops(data, "incidents", "split", a, "a2", "--json")
    assert split.returncode == 0, split.stderr
    answer = json.loads(split.stdout)
    new = answer["feedback"]["incidents"][1]
    assert answer["feedback"]["alerts_after"] == {a: ["a1", "b1"], new: ["a2"]}
    assert answer["feedback"]["author"]  # the login name when --author is not given
    shown = json.loads(aiops(data, "incidents", "show", new, "--json").stdout)
    assert [x["id"] for x in shown["alerts"]] == ["a2"]


def test_bad_feedback_exits_2_naming_the_problem(tmp_path: Path) -> None:
    data, where = replayed(tmp_path)
    a, b = where["a1"], where["b1"]
    for args, words in (
            (("merge", a, "inc-999"), "no incident with id 'inc-999'"),
            (("merge", a, a), "with itself"),
            (("split", a, "b1"), f"not alerts of incident '{a}': 'b1'"),
            (("split", a, "a1", "a2"), "leaves it empty"),
    ):
        done = aiops(data, "incidents", *args)
        assert done.returncode == 2 and words in done.stderr, (args, done.stderr)
    assert aiops(data, "incidents", "merge", a, b).returncode == 0
    done = aiops(data, "incidents", "split", b, "b1")
    assert done.returncode == 2 and f"'{b}' was merged into '{a}'" in done.stderr
