"""One step at a time: what an alert's value cannot do, what a secret cannot leak into,
and what a step's odd outcome becomes."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from aiops.playbooks.definition import Playbook, Step
from aiops.playbooks.execute import OUTPUT_LIMIT, _run_step
from aiops.playbooks.match import context, expand_env, render
from aiops.playbooks.request import fill_steps
from tests.ports import free_port

INCIDENT = {"id": "INC-1", "title": "t", "severity": "major", "alerts": [],
            "root_causes": [{"entity": "r1${PB_SECRET}", "node_id": None, "alert_id": None}],
            "remediations": []}


def filled(step: Step, incident: dict = INCIDENT) -> dict:
    (out,) = fill_steps(Playbook("p", "p.yml", "", {}, (step,)), context(incident, ""))
    return out


def test_a_value_from_an_alert_cannot_read_the_environment(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PB_SECRET", "hunter2")
    out = tmp_path / "arg.txt"
    code = "import sys; open(sys.argv[1], 'w').write(sys.argv[2])"
    step = filled(Step("s", 10.0, command=(sys.executable, "-c", code, str(out),
                                           "dev={root.entity}")))
    assert step["request"]["argv"][-1] == "dev=r1$${PB_SECRET}"  # stored escaped
    ok, _ = _run_step(step, "s")
    assert ok and out.read_text() == "dev=r1${PB_SECRET}"  # the literal, not hunter2
    # The playbook's own text still reads it, and "$$" is how it writes a literal "$".
    assert expand_env("${PB_SECRET} costs $$5", "w") == "hunter2 costs $5"
    assert render("{root.entity}", context(INCIDENT, ""), "w") == "r1$${PB_SECRET}"


def test_a_secret_never_reaches_the_step_outcome(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PB_SECRET", "hunter2")
    step = filled(Step("s", 2.0, http={
        "url": f"http://127.0.0.1:{free_port()}/x?token=${{PB_SECRET}}", "method": "GET",
        "headers": {}}))
    ok, detail = _run_step(step, "s")
    assert not ok and "ConnectionError" in detail
    assert "hunter2" not in detail and "token=${PB_SECRET}" in detail
    echo = filled(Step("s", 10.0, command=(sys.executable, "-c",
                                           "import sys; print('got', sys.argv[1])",
                                           "${PB_SECRET}")))
    ok, detail = _run_step(echo, "s")
    assert ok and detail == "exit 0: got ${PB_SECRET}\n"


def test_odd_outcomes_are_the_step_failing_not_the_run_stopping() -> None:
    binary = filled(Step("s", 10.0, command=(sys.executable, "-c",
                                             "import sys; sys.stdout.buffer.write(b'ok \\xff')")))
    ok, detail = _run_step(binary, "s")
    assert ok and detail == "exit 0: ok \ufffd"
    long = filled(Step("s", 10.0, command=(sys.executable, "-c",
                                           "print('x' * 20000); raise SystemExit(4)")))
    ok, detail = _run_step(long, "s")
    assert not ok and detail.startswith("exit 4: …") and len(detail) < OUTPUT_LIMIT + 20
    header = filled(Step("s", 2.0, http={"url": f"http://127.0.0.1:{free_port()}/",
                                         "method": "GET", "headers": {"X-Note": "a → b"}}))
    ok, detail = _run_step(header, "s")
    assert not ok and detail.startswith("UnicodeEncodeError")
