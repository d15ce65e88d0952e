"""Playbook files: a good one loads whole; every kind of bad one is refused by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from aiops.errors import InputError
from aiops.playbooks.definition import load_playbooks, read_playbook

GOOD = """
name: bounce-bgp
description: Clear the BGP session on the device at fault
match:
  actions: [clear bgp]
  alert_types: [BGP_DOWN]
  entities: ["pe-*"]
steps:
  - name: open a change
    http:
      url: https://itsm.example/api/change/{incident.id}
      method: put
      headers: {Authorization: "Bearer ${ITSM_TOKEN}"}
      json: {device: "{root.entity}", why: ["{action}", 3]}
    timeout: 5
  - command: [/usr/local/bin/clear-bgp, "{root.entity}"]
    continue_on_error: true
"""


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_good_playbook_loads_with_its_defaults(tmp_path: Path) -> None:
    book = read_playbook(write(tmp_path, "bgp.yml", GOOD))
    assert book.name == "bounce-bgp" and book.match["entities"] == ("pe-*",)
    first, second = book.steps
    assert first.kind == "http" and first.timeout == 5.0 and first.http is not None
    assert first.http["method"] == "PUT" and first.http["json"]["why"] == ["{action}", 3]
    assert second.kind == "command" and second.name == "step 2" and second.timeout == 60.0
    assert second.continue_on_error is True
    assert book.summary()["steps"] == [{"name": "open a change", "kind": "http"},
                                       {"name": "step 2", "kind": "command"}]


@pytest.mark.parametrize(("text", "message"), [
    ("steps: [\n  {command: [a]\n", "bad.yml: line 3: not valid YAML"),
    ("- just a list", "bad.yml: expected a mapping with 'steps'"),
    ("steps: []", "bad.yml: 'steps' must be a non-empty list"),
    ("name: x\nsteps: [{command: [a]}]\nrun_as: root", "bad.yml: unknown key 'run_as'"),
    ("name: 'has space'\nsteps: [{command: [a]}]", "'name' must be 1-64 letters"),
    ("match: {severity: [x]}\nsteps: [{command: [a]}]", "match: unknown key 'severity'"),
    ("match: {actions: []}\nsteps: [{command: [a]}]",
     "match.actions must be a non-empty list of strings"),
    ("steps: [{command: [a], http: {url: 'http://x'}}]",
     "steps[0] needs exactly one of 'http' or 'command'"),
    ("steps: [{shell: 'rm -rf /'}]", "steps[0]: unknown key 'shell'"),
    ("steps: [{command: 'reboot now'}]", "'command' must be a non-empty list of strings"),
    ("steps: [{http: {url: 'ftp://x/y'}}]", "steps[0].http.url must be an http:// or https://"),
    ("steps: [{http: {url: 'http://x', method: FETCH}}]", "http.method must be one of"),
    ("steps: [{http: {url: 'http://x', headers: {A: 1}}}]", "headers must map names to strings"),
    ("steps: [{http: {url: 'http://x', timeout: 5}}]", "steps[0].http: unknown key 'timeout'"),
    ("steps: [{command: [a], timeout: 0}]", "'timeout' must be seconds in (0, 3600]"),
    ("steps: [{command: [a], timeout: true}]", "'timeout' must be seconds"),
    ("steps: [{command: [a], continue_on_error: 'yes'}]",
     "'continue_on_error' must be true or false"),
    ("match: []\nsteps: [{command: [a]}]", "'match' must be a mapping"),
    ("match: false\nsteps: [{command: [a]}]", "'match' must be a mapping"),
    ("steps: [{http: {url: 'http://x', json: {when: 2024-01-01}}}]",
     "http.json must be plain JSON values"),
    ("steps: [{http: {url: 'http://x', json: {v: .nan}}}]", "http.json must be plain JSON"),
    ("steps: [{command: [a, '{root.entitiy}']}]",
     "steps[0].command[1]: unknown placeholder '{root.entitiy}'"),
    ("steps: [{http: {url: 'http://x', json: {a: ['{incident.owner}']}}}]",
     "steps[0].http.json.a[0]: unknown placeholder '{incident.owner}'"),
])
def test_a_bad_playbook_is_refused_naming_file_and_key(tmp_path: Path, text: str,
                                                      message: str) -> None:
    with pytest.raises(InputError) as err:
        read_playbook(write(tmp_path, "bad.yml", text))
    assert message in str(err.value)


def test_non_utf8_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "latin.yml"
    path.write_bytes(b"description: caf\xe9\nsteps: [{command: [a]}]\n")
    with pytest.raises(InputError, match="latin.yml: not UTF-8 text"):
        read_playbook(path)


def test_bad_files_are_listed_without_hiding_the_good_ones(tmp_path: Path) -> None:
    folder = tmp_path / "playbooks"
    write(folder, "bgp.yml", GOOD)
    write(folder, "broken.yaml", "steps: [{command: []}]")
    write(folder, "one.yml", "name: same\nsteps: [{command: [a]}]")
    write(folder, "two.yml", "name: same\nsteps: [{command: [b]}]")
    write(folder, "notes.txt", "not a playbook")
    (folder / "folder.yml").mkdir()
    write(folder, "huge.yml", "steps: [{command: [a]}]\n" + "#" * 300_000)
    found, errors = load_playbooks(folder)
    assert list(found) == ["bounce-bgp"]
    assert any(e.startswith("broken.yaml: steps[0]: 'command' must be") for e in errors)
    assert any("playbook name 'same' is used by more than one file" in e for e in errors)
    assert "folder.yml: cannot be read (Is a directory)" in errors
    assert "huge.yml: larger than 262144 bytes" in errors
    assert len(errors) == 4


@pytest.mark.parametrize(("text", "message"), [
    ("steps: [{command: [a]}]\n1: x\nrun_as: root", "bad.yml: unknown key '1'"),
    ("steps: [{command: [a], 2: x, sudo: true}]", "bad.yml: steps[0]: unknown key '2'"),
    ("steps: [{http: {url: 'http://x', yes: 1, proxy: p}}]",
     "steps[0].http: unknown key 'True'"),
    ("match: {3: [x], severity: [y]}\nsteps: [{command: [a]}]", "match: unknown key '3'"),
])
def test_keys_that_are_not_text_are_refused_by_name_without_hiding_the_others(
        tmp_path: Path, text: str, message: str) -> None:
    """YAML keys may be numbers or booleans: one such key beside a misspelt one
    raised TypeError, so listing or checking the folder failed for every playbook."""
    folder = tmp_path / "playbooks"
    write(folder, "bgp.yml", GOOD)
    write(folder, "bad.yml", text)
    found, errors = load_playbooks(folder)
    assert list(found) == ["bounce-bgp"]
    assert len(errors) == 1 and message in errors[0]


def test_a_missing_folder_is_no_playbooks(tmp_path: Path) -> None:
    assert load_playbooks(tmp_path / "nowhere") == ({}, [])


def test_the_shipped_examples_load() -> None:
    folder = Path(__file__).resolve().parents[2] / "deploy" / "playbooks"
    found, errors = load_playbooks(folder)
    assert errors == [] and sorted(found) == ["bounce-port", "gather-facts",
                                              "servicenow-change"]
    assert found["gather-facts"].auto is not None and found["bounce-port"].auto is None

