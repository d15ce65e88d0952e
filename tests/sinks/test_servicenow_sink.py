"""The ServiceNow sink against a local server answering with the Table API's
documented payloads (ServiceNow is SaaS and cannot run here): create, update with
work notes, resolve; a create whose answer was lost is found by correlation_id."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from aiops.cli import main
from aiops.config import DataDir
from aiops.sinks.setup import build_targets
from aiops.sinks.tables import sink_deliveries
from tests.sinks.receiver import ServiceNowTable, servicenow_handler, serving_on
from tests.sinks.runtimes import open_sink_runtime, secret_file
from tests.sinks.test_webhook_outbox import Clock, alert, loop_for


def servicenow_settings(path: Path, url: str) -> dict[str, str]:
    """The settings of the ServiceNow sink at ``url``, its password file in ``path``
    (for ``open_sink_runtime``)."""
    return {"servicenow_url": url, "servicenow_user": "aiops.integration",
            "servicenow_password_file": secret_file(path, "sn-password", "pa55word")}


def test_create_update_resolve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    table = ServiceNowTable()
    with serving_on(servicenow_handler(table)) as url:
        clock = Clock()
        rt = open_sink_runtime(tmp_path / "data", monkeypatch, **servicenow_settings(tmp_path, url))
        loop = loop_for(rt, clock)
        rt.engine.ingest([alert("a1")])
        loop.run_once()
        rt.engine.ingest([alert("a2", "r2", 5)])
        loop.run_once()
        rt.engine.ingest([alert("a1-end", ends=30), alert("a2-end", "r2", 5, ends=31)])
        loop.run_once()
    methods = [(m, p.split("?")[0]) for m, p, _ in table.calls]
    (record,) = table.records.values()
    sys_id = record["sys_id"]
    assert methods == [("GET", "/api/now/table/incident"),
                       ("POST", "/api/now/table/incident"),
                       ("PATCH", f"/api/now/table/incident/{sys_id}"),
                       ("PATCH", f"/api/now/table/incident/{sys_id}")]
    assert "correlation_id%3Dinc-1" in table.calls[0][1] or \
        "correlation_id=inc-1" in table.calls[0][1]
    create = table.calls[1][2]
    assert create["correlation_id"] == "inc-1" and create["correlation_display"] == "aiops"
    assert (create["urgency"], create["impact"]) == ("1", "2")  # major
    assert create["short_description"].startswith("[aiops] LINK_DOWN on r1")
    assert "Probable root causes:" in create["description"]
    assert "/incidents/inc-1" in create["description"]
    update = table.calls[2][2]
    assert "alerts_added" in update["work_notes"] and "state" not in update
    resolve = table.calls[3][2]
    assert (resolve["state"], resolve["close_code"]) == ("6", "Solution provided")
    assert "cleared" in resolve["close_notes"]
    assert record["state"] == "6"
    expected = "Basic " + base64.b64encode(b"aiops.integration:pa55word").decode()
    assert set(table.auth) == {expected}
    with rt.db.connect() as conn:
        row = conn.execute(sa.select(sink_deliveries)).one()
    assert (row.sink, row.external_id, row.status) == ("servicenow", sys_id, "delivered")
    rt.close()


def test_a_lost_create_answer_makes_no_second_record(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    table = ServiceNowTable()
    with serving_on(servicenow_handler(table)) as url:
        clock = Clock()
        rt = open_sink_runtime(tmp_path / "data", monkeypatch, **servicenow_settings(tmp_path, url))
        loop = loop_for(rt, clock)
        rt.engine.ingest([alert("a1")])
        loop.run_once()
        with rt.db.begin() as conn:  # as if the POST's answer never arrived
            conn.execute(sink_deliveries.update().values(external_id=None))
        rt.engine.ingest([alert("a2", "r2", 5)])
        loop.run_once()
    assert [m for m, _, _ in table.calls] == ["GET", "POST", "GET", "PATCH"]
    assert len(table.records) == 1
    rt.close()


def test_a_resolved_incident_deleted_in_servicenow_is_a_recorded_failure(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    table = ServiceNowTable()
    with serving_on(servicenow_handler(table)) as url:
        clock = Clock()
        rt = open_sink_runtime(tmp_path / "data", monkeypatch, **servicenow_settings(tmp_path, url))
        loop = loop_for(rt, clock)
        rt.engine.ingest([alert("a1")])
        loop.run_once()
        table.records.clear()  # someone deleted the record
        rt.engine.ingest([alert("a1-end", ends=30)])
        loop.run_once()
    with rt.db.connect() as conn:
        row = conn.execute(sa.select(sink_deliveries)).one()
    assert row.status == "failed" and "HTTP 404" in row.last_error
    assert "No Record found" in row.last_error
    rt.close()


def test_an_incident_merged_by_an_operator_is_resolved_as_a_duplicate(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    table = ServiceNowTable()
    with serving_on(servicenow_handler(table)) as url:
        clock = Clock()
        rt = open_sink_runtime(tmp_path / "data", monkeypatch, **servicenow_settings(tmp_path, url))
        loop = loop_for(rt, clock)
        rt.engine.ingest([alert("a1")])
        rt.engine.ingest([alert("b1", "r2", 4000)])  # another incident, much later
        loop.run_once()
        assert len(table.records) == 2
        rt.engine.merge_incidents("inc-1", ["inc-2"])
        loop.run_once()
    by_id = {r["correlation_id"]: r for r in table.records.values()}
    merged, kept = by_id["inc-2"], by_id["inc-1"]
    assert (merged["state"], merged["close_code"]) == ("6", "Duplicate")
    assert "into inc-1" in merged["close_notes"]
    assert kept["state"] != "6" and "alerts_added" in kept["work_notes"]
    rt.close()


def test_fields_an_instance_requires_come_from_the_fields_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An instance whose data policy requires a caller and an assignment group refused
    every create (400, recorded as failed); AIOPS_SINK_SERVICENOW_FIELDS_FILE adds them
    to the create, and to nothing else."""
    table = ServiceNowTable()
    table.required = ("caller_id", "assignment_group")
    with serving_on(servicenow_handler(table)) as url:
        clock = Clock()
        rt = open_sink_runtime(tmp_path / "without" / "data", monkeypatch,
                               **servicenow_settings(tmp_path / "without", url))
        loop = loop_for(rt, clock)
        rt.engine.ingest([alert("a1")])
        loop.run_once()
        with rt.db.connect() as conn:
            row = conn.execute(sa.select(sink_deliveries)).one()
        assert row.status == "failed" and "mandatory: caller_id, assignment_group" in \
            row.last_error
        rt.close()
        fields = {"caller_id": "6816f79cc0a8016401c5a33be04be441",
                  "assignment_group": "Network Operations", "category": "network",
                  "cmdb_ci": "ne-0197"}
        path = tmp_path / "fields.json"
        path.write_text(json.dumps(fields))
        monkeypatch.setenv("AIOPS_SINK_SERVICENOW_FIELDS_FILE", str(path))
        rt = open_sink_runtime(tmp_path / "with" / "data", monkeypatch,
                               **servicenow_settings(tmp_path / "with", url))
        loop = loop_for(rt, clock)
        rt.engine.ingest([alert("a1")])
        loop.run_once()
        rt.engine.ingest([alert("a1-end", ends=30)])
        loop.run_once()
    (record,) = table.records.values()
    assert {k: record[k] for k in fields} == fields and record["state"] == "6"
    create, resolve = [c[2] for c in table.calls if c[0] in ("POST", "PATCH")][-2:]
    assert create["correlation_id"] == "inc-1" and "caller_id" in create
    assert not set(fields) & set(resolve)  # for the create only
    rt.close()


@pytest.mark.parametrize(("content", "says"), [
    ("[1, 2]", "must hold a JSON object of field names to strings, got list"),
    ('{"caller_id": ', "is not JSON"),
    ('{"caller_id": 42}', "field 'caller_id' must be a string"),
    ('{"cmdb_ci": {"value": "x"}}', "field 'cmdb_ci' must be a string"),
    ('{"correlation_id": "x"}', "field 'correlation_id' is set by aiops itself"),
    ('{"": "x"}', "a field name is empty"),
    (None, "cannot be read"),
])
def test_a_bad_fields_file_is_refused_naming_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str | None,
        says: str) -> None:
    path = tmp_path / "fields.json"
    if content is not None:
        path.write_text(content)
    secret = tmp_path / "sn-password"
    secret.write_text("pa55word\n")
    monkeypatch.setenv("AIOPS_TEXT_SIMILARITY", "off")
    monkeypatch.setenv("AIOPS_SINK_SERVICENOW_URL", "https://x.service-now.com")
    monkeypatch.setenv("AIOPS_SINK_SERVICENOW_USER", "aiops")
    monkeypatch.setenv("AIOPS_SINK_SERVICENOW_PASSWORD_FILE", str(secret))
    monkeypatch.setenv("AIOPS_SINK_SERVICENOW_FIELDS_FILE", str(path))
    with pytest.raises(ValueError) as raised:
        build_targets(DataDir.from_env(tmp_path / "d").sinks)
    assert f"AIOPS_SINK_SERVICENOW_FIELDS_FILE {path}" in str(raised.value)
    assert says in str(raised.value), raised.value
    # and ``aiops serve`` stops before binding, saying the same (exit 2)
    result = CliRunner().invoke(main, ["--data-dir", str(tmp_path / "d"), "serve",
                                       "--port", "1"])
    assert result.exit_code == 2 and says in result.output, result.output
