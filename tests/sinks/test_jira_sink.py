"""The Jira sink against a local server answering with Jira's documented REST payloads
(tests/sinks/jira_standin.py; Jira Cloud is SaaS and Jira Data Center cannot be
installed here): an issue created, commented on, moved to Done when the incident
clears and back out when it re-fires; a lost create answer found again by its label;
a site that refuses (a wrong priority name, a resolution its screen requires) is a
recorded failure with Jira's own words; bad settings are refused by name."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import sqlalchemy as sa

from aiops.config import SinkSettings
from aiops.runtime import Runtime
from aiops.sinks.tables import sink_deliveries
from tests.sinks.jira_standin import JiraSite, jira_handler
from tests.sinks.receiver import serving_on
from tests.sinks.runtimes import open_sink_runtime, secret_file
from tests.sinks.test_webhook_outbox import Clock, alert, loop_for


def jira_settings(path: Path, url: str, **settings: str) -> dict[str, str]:
    """The settings of the Jira sink at ``url`` (project OPS), its token file in
    ``path``, and ``settings`` (``AIOPS_SINK_JIRA_*`` in lower case without the prefix),
    for ``open_sink_runtime``."""
    return {"jira_url": url, "jira_project": "OPS",
            "jira_token_file": secret_file(path, "jira-token", "api-token-123"),
            **{f"jira_{name}": value for name, value in settings.items()}}



def the_row(rt: Runtime):
    with rt.db.connect() as conn:
        return conn.execute(sa.select(sink_deliveries)).one()


@pytest.mark.parametrize("api_version", ["3", "2"])
def test_create_comment_resolve_and_reopen(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           api_version: str) -> None:
    site = JiraSite()
    with serving_on(jira_handler(site)) as url:
        clock = Clock()
        rt = open_sink_runtime(tmp_path / "data", monkeypatch,
                               **jira_settings(tmp_path, url, user="ops@example.com",
                                               api_version=api_version))
        loop = loop_for(rt, clock)
        rt.engine.ingest([alert("a1")])
        loop.run_once()
        rt.engine.ingest([alert("a2", "r2", 5)])
        loop.run_once()
        rt.engine.ingest([alert("a1-end", ends=30), alert("a2-end", "r2", 5, ends=31)])
        loop.run_once()
        resolved = site.status_of("OPS-1")
        rt.engine.ingest([alert("a1-again", at=60)])  # the condition fires again
        loop.run_once()
    search = "/rest/api/3/search/jql" if api_version == "3" else "/rest/api/2/search"
    assert [(m, p.split("?")[0]) for m, p, _ in site.calls] == [
        ("GET", search), ("POST", "/rest/api/2/issue"),
        ("POST", "/rest/api/2/issue/OPS-1/comment"),
        ("POST", "/rest/api/2/issue/OPS-1/comment"), ("GET", "/rest/api/2/issue/OPS-1"),
        ("GET", "/rest/api/2/issue/OPS-1/transitions"),
        ("POST", "/rest/api/2/issue/OPS-1/transitions"),
        ("POST", "/rest/api/2/issue/OPS-1/comment"), ("GET", "/rest/api/2/issue/OPS-1"),
        ("GET", "/rest/api/2/issue/OPS-1/transitions"),
        ("POST", "/rest/api/2/issue/OPS-1/transitions")]
    assert "labels+%3D+%22aiops-inc-1%22" in site.calls[0][1]
    fields = site.calls[1][2]["fields"]
    assert fields["project"] == {"key": "OPS"} and fields["issuetype"] == {"name": "Task"}
    assert fields["summary"].startswith("[aiops] LINK_DOWN on r1")
    assert fields["labels"] == ["aiops", "aiops-inc-1"] and "priority" not in fields
    assert "Probable root causes:" in fields["description"]
    assert "/incidents/inc-1" in fields["description"]
    assert resolved == "Done" and site.status_of("OPS-1") == "To Do"
    assert "alerts_added" in site.comments["OPS-1"][0]
    assert site.auth == {"Basic " + base64.b64encode(b"ops@example.com:api-token-123").decode()}
    row = the_row(rt)
    assert (row.sink, row.external_id, row.status) == ("jira", "OPS-1", "delivered")
    rt.close()


def test_a_personal_access_token_is_sent_as_bearer_and_priorities_by_name(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = JiraSite(issue_types=("Incident",))
    with serving_on(jira_handler(site)) as url:
        rt = open_sink_runtime(tmp_path / "data", monkeypatch,
                               **jira_settings(tmp_path, url, api_version="2",
                                               issue_type="Incident",
                                               priorities="critical=Highest, major=High"))
        loop_for(rt, Clock()).run_once()
        rt.engine.ingest([alert("a1")])
        loop_for(rt, Clock()).run_once()
    assert site.auth == {"Bearer api-token-123"}
    assert site.issues["OPS-1"]["fields"]["priority"] == {"name": "High"}
    rt.close()


def test_a_lost_create_answer_makes_no_second_issue(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    site = JiraSite()
    with serving_on(jira_handler(site)) as url:
        clock = Clock()
        rt = open_sink_runtime(tmp_path / "data", monkeypatch, **jira_settings(tmp_path, url))
        loop = loop_for(rt, clock)
        rt.engine.ingest([alert("a1")])
        loop.run_once()
        with rt.db.begin() as conn:  # as if the POST's answer never arrived
            conn.execute(sink_deliveries.update().values(external_id=None))
        rt.engine.ingest([alert("a2", "r2", 5)])
        loop.run_once()
    # search, create; search (finds it by its label), comment, status (not done: left)
    assert [m for m, _, _ in site.calls] == ["GET", "POST", "GET", "POST", "GET"]
    assert len(site.issues) == 1 and site.calls[3][1].endswith("/OPS-1/comment")
    rt.close()


def test_refusals_are_recorded_with_jiras_words(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A priority name the site does not have fails the create; a resolving transition
    whose screen requires a resolution fails until one is configured, and with it the
    incident's next changes go through."""
    site = JiraSite(resolution_required=True)
    with serving_on(jira_handler(site)) as url:
        rt = open_sink_runtime(tmp_path / "a" / "data", monkeypatch,
                               **jira_settings(tmp_path / "a", url, priorities="major=Urgent"))
        rt.engine.ingest([alert("a1")])
        loop_for(rt, Clock()).run_once()
        row = the_row(rt)
        assert row.status == "failed" and "HTTP 400" in row.last_error
        assert "'Urgent' is not valid" in row.last_error and not site.issues
        rt.close()

        rt = open_sink_runtime(tmp_path / "b" / "data", monkeypatch,
                               **jira_settings(tmp_path / "b", url, priorities=""))
        loop = loop_for(rt, Clock())
        rt.engine.ingest([alert("a1")])
        loop.run_once()
        rt.engine.ingest([alert("a1-end", ends=30)])
        loop.run_once()
        row = the_row(rt)
        assert row.status == "failed" and "Resolution is required" in row.last_error
        assert row.external_id == "OPS-1" and site.status_of("OPS-1") == "To Do"
        rt.close()

        rt = open_sink_runtime(tmp_path / "b" / "data", monkeypatch,
                               **jira_settings(tmp_path / "b", url, resolution="Done"))
        loop = loop_for(rt, Clock())
        rt.engine.ingest([alert("a1-again", at=60)])  # fires again, and clears: the
        loop.run_once()  # next changes go through
        rt.engine.ingest([alert("a1-again-end", at=60, ends=90)])
        loop.run_once()
        assert site.status_of("OPS-1") == "Done"
        assert site.issues["OPS-1"]["fields"]["resolution"] == {"name": "Done"}
        rt.close()


def test_an_issue_an_operator_already_closed_is_left_as_it_is(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = JiraSite()
    with serving_on(jira_handler(site)) as url:
        clock = Clock()
        rt = open_sink_runtime(tmp_path / "data", monkeypatch, **jira_settings(tmp_path, url))
        loop = loop_for(rt, clock)
        rt.engine.ingest([alert("a1")])
        loop.run_once()
        site.issues["OPS-1"]["fields"]["status"] = {"name": "Done",
                                                    "statusCategory": {"key": "done"}}
        rt.engine.ingest([alert("a1-end", ends=30)])
        loop.run_once()
    assert not any(m == "POST" and p.endswith("/transitions") for m, p, _ in site.calls)
    assert the_row(rt).status == "delivered"
    rt.close()


def test_an_ended_incident_is_created_done_and_a_merged_one_not_at_all(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = JiraSite()
    with serving_on(jira_handler(site)) as url:
        rt = open_sink_runtime(tmp_path / "data", monkeypatch, **jira_settings(tmp_path, url))
        loop = loop_for(rt, Clock())
        rt.engine.ingest([alert("a1")])
        rt.engine.ingest([alert("a1-end", ends=30)])
        rt.engine.ingest([alert("b1", "r2", 4000)])
        rt.engine.ingest([alert("c1", "r1", 8000, port="c")])
        rt.engine.merge_incidents("inc-2", ["inc-3"])
        assert loop.run_once() == 3
    labels = {i["key"]: i["fields"]["labels"][1] for i in site.issues.values()}
    assert sorted(labels.values()) == ["aiops-inc-1", "aiops-inc-2"]  # none for inc-3
    done = next(k for k, label in labels.items() if label == "aiops-inc-1")
    assert site.status_of(done) == "Done"
    rt.close()


def test_an_incident_reopening_after_its_row_was_pruned_reopens_its_issue(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The new row has no key: the issue is found by its label, as after a lost create,
    and moved out of Done (it stayed Done while the incident was open again)."""
    site = JiraSite()
    with serving_on(jira_handler(site)) as url:
        clock = Clock()
        rt = open_sink_runtime(tmp_path / "data", monkeypatch, **jira_settings(tmp_path, url))
        loop = loop_for(rt, clock)
        rt.engine.ingest([alert("a1")])
        loop.run_once()
        rt.engine.ingest([alert("a1-end", ends=30)])
        loop.run_once()
        assert site.status_of("OPS-1") == "Done"
        clock.now += 8 * 86400.0
        assert loop.maybe_prune() == 1
        rt.engine.ingest([alert("a1-again", at=100)])
        loop.run_once()
    assert len(site.issues) == 1 and site.status_of("OPS-1") == "To Do"
    assert "opened" in site.comments["OPS-1"][-1]
    rt.close()


@pytest.mark.parametrize(("settings", "message"), [
    ({"jira_url": "https://x.atlassian.net"}, "AIOPS_SINK_JIRA_URL needs AIOPS_SINK_JIRA_PROJECT"),
    ({"jira_url": "x.atlassian.net", "jira_project": "OPS", "jira_token_file": "t"},
     "AIOPS_SINK_JIRA_URL takes http:// or https:// URLs, got 'x.atlassian.net'"),
    ({"jira_url": "https://x", "jira_project": "OPS", "jira_token_file": "t",
      "jira_api_version": "4"}, "AIOPS_SINK_JIRA_API_VERSION must be 3"),
    ({"jira_priorities": "major"}, "SEVERITY=NAME pairs .* got 'major'"),
    ({"jira_priorities": "urgent=High"}, "got 'urgent=High'"),
])
def test_bad_jira_settings_are_refused_by_name(settings: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SinkSettings(**settings)


def test_sinks_retry_sends_a_refused_delivery_again_once_its_cause_is_fixed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A resolution the workflow requires was missing: the end of the incident failed
    for good. The operator sets AIOPS_SINK_JIRA_RESOLUTION and runs `aiops sinks retry`:
    the row is pending again and the next round moves the issue to Done."""
    from click.testing import CliRunner

    from aiops.cli import main

    site = JiraSite(resolution_required=True)
    with serving_on(jira_handler(site)) as url:
        rt = open_sink_runtime(tmp_path / "data", monkeypatch, **jira_settings(tmp_path, url))
        loop = loop_for(rt, Clock())
        rt.engine.ingest([alert("a1")])
        loop.run_once()
        rt.engine.ingest([alert("a1-end", ends=30)])
        loop.run_once()
        assert the_row(rt).status == "failed"
        rt.close()
        rt = open_sink_runtime(tmp_path / "data", monkeypatch,
                               **jira_settings(tmp_path, url, resolution="Done"))
        cli = ["--data-dir", str(tmp_path / "data"), "sinks", "retry"]
        assert CliRunner().invoke(main, [*cli, "--sink", "webhook x"]).exit_code == 1
        done = CliRunner().invoke(main, [*cli, "--sink", "jira"])
        assert done.exit_code == 0 and "1 failed deliveries pending again" in done.output
        row = the_row(rt)
        assert (row.status, row.attempts) == ("pending", 0)
        loop_for(rt, Clock()).run_once()
        assert site.status_of("OPS-1") == "Done" and the_row(rt).status == "delivered"
        assert CliRunner().invoke(main, cli).exit_code == 1  # nothing failed any more
        rt.close()
