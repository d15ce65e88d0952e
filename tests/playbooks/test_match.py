"""Matching playbooks to an incident and filling their placeholders."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from aiops.errors import InputError
from aiops.playbooks.definition import Playbook, Step
from aiops.playbooks.match import context, expand_env, match, matching, render
from aiops.playbooks.request import fill_steps

INCIDENT = {
    "id": "INC-7", "title": "BGP down on pe-3", "severity": "major",
    "alerts": [{"name": "BGP_DOWN"}, {"name": "LINK_DOWN"}],
    "root_causes": [{"entity": "pe-3", "node_id": "pe-3", "alert_id": "a1"},
                    {"entity": "p-1", "node_id": "p-1", "alert_id": None}],
    "remediations": [{"action": "replaced the optic"}, {"action": "Clear BGP session"}],
}


def book(name: str = "b", steps: tuple[Step, ...] = (), **criteria: tuple[str, ...]) -> Playbook:
    return Playbook(name, f"{name}.yml", "", dict(criteria),
                    steps or (Step("s", 5.0, command=("true",)),))


def test_every_criterion_must_hold_and_each_gives_its_reason() -> None:
    ok, reasons, action = match(book(actions=("clear bgp",), alert_types=("bgp_down",),
                                     entities=("PE-*",)), INCIDENT)
    assert ok and action == "Clear BGP session"
    assert reasons == ["recommended remediation 'Clear BGP session' mentions 'clear bgp'",
                       "the incident has BGP_DOWN alerts",
                       "its top root cause pe-3 matches 'PE-*'"]
    assert not match(book(actions=("clear bgp",), entities=("p-*",)), INCIDENT)[0]
    assert not match(book(alert_types=("POWER_FAIL",)), INCIDENT)[0]
    assert not match(book(actions=("reboot",)), INCIDENT)[0]


def test_a_playbook_without_criteria_is_offered_with_the_top_recommendation() -> None:
    ok, reasons, action = match(book(), INCIDENT)
    assert ok and action == "replaced the optic" and "no match criteria" in reasons[0]
    assert [m["name"] for m in matching({"z": book("z"), "a": book("a", entities=("x",))},
                                        INCIDENT)] == ["z"]


def test_placeholders_are_filled_and_what_cannot_be_filled_is_refused() -> None:
    values = context(INCIDENT, "Clear BGP session")
    assert render({"a": ["{incident.id} on {root.entity}", 3]}, values, "w") == {
        "a": ["INC-7 on pe-3", 3]}
    no_root = context({**INCIDENT, "root_causes": []}, "")
    with pytest.raises(InputError, match=r"w: \{root.entity\} has no value for this incident"):
        render("{root.entity}", no_root, "w")
    with pytest.raises(InputError, match=r"\{action\} has no value"):
        render("{action}", no_root, "w")


def test_a_command_argument_cannot_become_an_option_or_hold_a_newline() -> None:
    values = context({**INCIDENT, "root_causes": [{"entity": "--delete-all"}]}, "")
    with pytest.raises(InputError, match="starts with '-' and would be read as an option"):
        render(["clear", "{root.entity}"], values, "cmd", argument=True)
    assert render(["--device={root.entity}"], values, "cmd", argument=True) == [
        "--device=--delete-all"]  # inside an option's value it is only a value
    values = context({**INCIDENT, "root_causes": [{"entity": "pe-3\nreboot"}]}, "")
    with pytest.raises(InputError, match="holds a control character"):
        render("{root.entity}", values, "cmd")


def test_url_values_are_percent_encoded() -> None:
    step = Step("call", 5.0, http={"url": "http://h/api/{root.entity}?q={incident.title}",
                                   "method": "GET", "headers": {}})
    values = context({**INCIDENT, "root_causes": [{"entity": "site/a b#1"}]}, "")
    (filled,) = fill_steps(book(steps=(step,)), values)
    assert filled["request"]["url"] == "http://h/api/site%2Fa%20b%231?q=BGP%20down%20on%20pe-3"
    assert filled["status"] == "pending" and filled["timeout"] == 5.0


@pytest.mark.parametrize("entity", ["..", "."])
def test_a_url_value_cannot_be_a_dot_segment(entity: str) -> None:
    """Dots are not percent-encoded, and the HTTP client resolves '..' before sending:
    an alert's entity '..' would send the request to another endpoint."""
    step = Step("reset", 5.0, http={"url": "http://h/api/devices/{root.entity}/reset",
                                    "method": "POST", "headers": {}})
    values = context({**INCIDENT, "root_causes": [{"entity": entity}]}, "")
    with pytest.raises(InputError, match=rf"steps\[0\] \(reset\).url: the URL's path segment "
                       rf"'\{{root.entity\}}' would be '{re.escape(entity)}'"):
        fill_steps(book(steps=(step,)), values)
    dotted = context({**INCIDENT, "root_causes": [{"entity": "..pe.3"}]}, "")
    (filled,) = fill_steps(book(steps=(step,)), dotted)  # dots inside a name are fine
    assert filled["request"]["url"] == "http://h/api/devices/..pe.3/reset"
    literal = Step("up", 5.0, http={"url": "http://h/a/../b/{root.entity}", "method": "GET",
                                    "headers": {}})  # the author's own '..' is theirs
    assert fill_steps(book(steps=(literal,)), dotted)[0]["request"]["url"] == (
        "http://h/a/../b/..pe.3")


def test_environment_values_are_read_when_the_step_runs(monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path: Path) -> None:
    monkeypatch.setenv("ITSM_TOKEN", "s3cret")
    assert expand_env({"h": ["Bearer ${ITSM_TOKEN}"]}, "w") == {"h": ["Bearer s3cret"]}
    monkeypatch.delenv("ITSM_TOKEN")
    with pytest.raises(InputError, match=r"w.h\[0\]: environment variable ITSM_TOKEN is not set"):
        expand_env({"h": ["Bearer ${ITSM_TOKEN}"]}, "w")
