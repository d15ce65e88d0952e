"""AIOPS_SINK_* settings: a wrong value is refused by name before any work."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from aiops.cli import main
from aiops.config import SinkSettings, settings_from_env
from aiops.sinks.setup import build_targets, sink_names


@pytest.mark.parametrize(("name", "value", "says"), [
    ("AIOPS_SINK_MIN_INTERVAL", "-1", "AIOPS_SINK_MIN_INTERVAL must be a number at least 0"),
    ("AIOPS_SINK_BACKOFF_MAX", "soon", "AIOPS_SINK_BACKOFF_MAX must be a number"),
    ("AIOPS_SINK_RETENTION", "-1", "AIOPS_SINK_RETENTION must be a number at least 0"),
    ("AIOPS_SINK_RETENTION", "nan", "AIOPS_SINK_RETENTION must be a number at least 0"),
    ("AIOPS_SINK_WEBHOOK_URLS", "ftp://x/hook", "http:// or https:// URLs, got 'ftp://x/hook'"),
    ("AIOPS_SINK_SERVICENOW_URL", "https://x.service-now.com",
     "needs AIOPS_SINK_SERVICENOW_USER"),
    ("AIOPS_SINK_RT_URL", "https://rt.example", "AIOPS_SINK_RT_URL needs AIOPS_SINK_RT_TOKEN_FILE"),
    ("AIOPS_SINK_RT_URL", "rt.example", "AIOPS_SINK_RT_URL takes http:// or https:// URLs"),
    ("AIOPS_SINK_JIRA_URL", "https://x.atlassian.net", "AIOPS_SINK_JIRA_URL needs "
                                                       "AIOPS_SINK_JIRA_PROJECT"),
    ("AIOPS_SINK_JIRA_PRIORITIES", "major:High", "AIOPS_SINK_JIRA_PRIORITIES takes"),
])
def test_bad_settings_exit_2_naming_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         name: str, value: str, says: str) -> None:
    monkeypatch.setenv(name, value)
    result = CliRunner().invoke(main, ["--data-dir", str(tmp_path), "sinks", "status"])
    assert result.exit_code == 2 and says in result.output, result.output


def test_secret_files_are_read_and_named_when_they_cannot_be(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    monkeypatch.setenv("AIOPS_SINK_WEBHOOK_URLS", "https://a.example/h?key=1, http://b:81/x")
    monkeypatch.setenv("AIOPS_SINK_WEBHOOK_TOKEN_FILE", str(tmp_path / "missing"))
    settings = settings_from_env(SinkSettings(), "AIOPS_SINK_")
    assert sink_names(settings) == ["webhook https://a.example/h", "webhook http://b:81/x"]
    with pytest.raises(ValueError, match="AIOPS_SINK_WEBHOOK_TOKEN_FILE .*missing cannot be"):
        build_targets(settings)
    (tmp_path / "token").write_text("t0ken\n")
    monkeypatch.setenv("AIOPS_SINK_WEBHOOK_TOKEN_FILE", str(tmp_path / "token"))
    targets = build_targets(settings_from_env(SinkSettings(), "AIOPS_SINK_"))
    assert targets[0].session.headers["Authorization"] == "Bearer t0ken"


def test_no_sink_configured_queues_nothing(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["--data-dir", str(tmp_path), "sinks", "status"])
    assert result.exit_code == 0 and "no sinks configured" in result.output


def test_serve_refuses_an_unreadable_secret_before_binding(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIOPS_TEXT_SIMILARITY", "off")
    monkeypatch.setenv("AIOPS_SINK_SERVICENOW_URL", "https://x.service-now.com")
    monkeypatch.setenv("AIOPS_SINK_SERVICENOW_USER", "aiops")
    monkeypatch.setenv("AIOPS_SINK_SERVICENOW_PASSWORD_FILE", str(tmp_path / "nothing"))
    result = CliRunner().invoke(main, ["--data-dir", str(tmp_path / "d"), "serve",
                                       "--port", "1"])
    assert result.exit_code == 2, result.output
    assert "AIOPS_SINK_SERVICENOW_PASSWORD_FILE" in result.output
    assert "cannot be read" in result.output
