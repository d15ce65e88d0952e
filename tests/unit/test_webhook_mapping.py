"""Webhook mappings: the built-in Zabbix and Nagios ones on the payloads their senders
make, every feature of a mapping, and every way a mapping or a payload is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from aiops.errors import InputError, NotFound
from aiops.timeutil import parse_timestamp
from connectors.webhook_mapping import find_mapping, load_mappings, parse_mapping

NOW = 1_800_000_000.0
ZABBIX_PROBLEM = {  # what deploy/zabbix/aiops_media_type.yaml sends for a problem
    "event_id": "8812", "event_value": "1", "event_name": "Interface Gi0/1: link down",
    "event_date": "2026.11.22", "event_time": "16:20:05", "recovery_date": "",
    "recovery_time": "", "severity": "4", "timezone": "+00:00", "opdata": "ifOperStatus: down (2)",
    "tags": '[{"tag":"scope","value":"availability"},{"tag":"interface","value":"Gi0/1"}]',
    "trigger_id": "23001", "trigger_name": "Interface Gi0/1: link down", "host": "core-1",
    "host_ip": "10.0.0.1", "event_update_status": "0"}


def builtin(name: str):
    return find_mapping(Path("/nonexistent"), name)


def mapping(doc: dict, name: str = "tool"):
    return parse_mapping(doc, name, f"/tmp/{name}.yml")


def test_zabbix_problem_and_recovery_become_one_alert_episode() -> None:
    zabbix = builtin("zabbix")
    (problem,) = zabbix.apply(ZABBIX_PROBLEM, NOW).alerts
    assert problem.to_dict() == {
        "id": "zabbix-8812-1", "source": "zabbix", "name": "Interface Gi0/1: link down",
        "entity": "core-1", "severity": "major", "summary": "Interface Gi0/1: link down",
        "starts_at": "2026-11-22T16:20:05Z", "ends_at": None,
        "description": "ifOperStatus: down (2)",
        "labels": {"scope": "availability", "interface": "Gi0/1", "trigger_id": "23001"}}
    recovery = {**ZABBIX_PROBLEM, "event_value": "0", "recovery_date": "2026.11.22",
                "recovery_time": "16:31:00"}
    mapped = zabbix.apply(recovery, NOW)
    (ended,) = mapped.alerts
    assert (ended.starts_at, ended.ends_at) == (problem.starts_at,
                                                parse_timestamp("2026-11-22T16:31:00Z", "t"))
    assert ended.labels == problem.labels and mapped.start_unknown == []
    assert mapped.state_report == [] and zabbix.apply(ZABBIX_PROBLEM, NOW).state_report == []


def test_an_item_the_mapping_marks_as_a_state_report_is_listed_as_one() -> None:
    """Zabbix's update operation ({EVENT.UPDATE.STATUS} 1: a severity changed) says its
    start, and is listed so the engine gives its alert the new severity; an item that
    says no start is listed as both (a Nagios acknowledgement: it changes a firing
    alert only)."""
    zabbix = builtin("zabbix")
    update = {**ZABBIX_PROBLEM, "event_update_status": "1", "severity": "5"}
    mapped = zabbix.apply([ZABBIX_PROBLEM, update], NOW)
    assert (mapped.state_report, mapped.start_unknown) == ([1], [])
    assert [a.severity for a in mapped.alerts] == ["major", "critical"]
    assert mapped.alerts[0].id == mapped.alerts[1].id  # the same problem event
    tool = mapping({"name": "{n}", "entity": "{e}", "starts_at": "{t}",
                    "state_report": {"value": "{kind}", "equals": ["update", 2]}})
    items = [{"n": "a", "e": "r1", "t": "1800000000", "kind": "update"},
             {"n": "a", "e": "r1", "t": "1800000000", "kind": "2"},
             {"n": "a", "e": "r1", "t": "1800000000", "kind": "problem"},
             {"n": "a", "e": "r1", "t": "1800000000"},
             {"n": "a", "e": "r1", "kind": "update"}]  # no start: start-unknown
    mapped = tool.apply(items, NOW)
    assert (mapped.state_report, mapped.start_unknown) == ([0, 1, 4], [4])


def test_nagios_problem_says_its_start_and_its_recovery_is_marked_to_take_the_live_one() -> None:
    nagios = builtin("nagios")
    problem = {"type": "PROBLEM", "host": "r1", "address": "192.0.2.1", "check": "BGP peer",
               "state": "CRITICAL", "output": "peer 192.0.2.9 Idle", "since": "1799999900"}
    (firing,) = nagios.apply(problem, NOW).alerts
    assert (firing.name, firing.entity, firing.severity, firing.starts_at, firing.ends_at) == (
        "BGP peer", "r1", "critical", 1_799_999_900.0, None)
    recovery = {**problem, "type": "RECOVERY", "state": "OK", "output": "peer Established"}
    del recovery["since"]
    recovery["ended"] = "1799999990"
    mapped = nagios.apply(recovery, NOW)
    assert mapped.start_unknown == [0]
    assert mapped.alerts[0].ends_at == 1_799_999_990.0
    host = nagios.apply({"type": "PROBLEM", "host": "r2", "check": "host", "state": "DOWN",
                         "output": "PING CRITICAL", "since": "1799999950"}, NOW).alerts[0]
    assert (host.name, host.severity, host.labels) == ("host", "critical", {})


def test_a_mapping_reads_arrays_paths_indexes_literal_braces_and_time_zones() -> None:
    tool = mapping({
        "alerts": "data.items", "name": "{kind}", "entity": "{where.0.name}",
        "summary": "{{{kind}}} at {where.0.name} ({missing.path})",
        "severity": {"value": "{level}", "map": {"P1": "critical"}, "default": "minor"},
        "starts_at": {"value": "{at}", "format": "%d/%m/%Y %H:%M", "timezone": "Europe/Paris"},
        "ends_at": {"value": "{end}", "timezone": "-05:00"},
        "labels": {"team": "{owner}", "count": "{n}"}, "labels_from": "extra"})
    payload = {"data": {"items": [
        {"kind": "disk_full", "where": [{"name": "db-1"}], "level": "P1", "owner": "dba",
         "at": "22/11/2026 17:20", "n": 3, "extra": {"rack": "R4", "empty": None}},
        {"kind": "cpu_hot", "where": [{"name": "db-2"}], "level": "P9", "at": "22/11/2026 17:21",
         "end": "2026-11-22T11:30:00", "n": 2.5, "extra": {}}]}}
    first, second = tool.apply(payload, NOW).alerts
    assert first.summary == "{disk_full} at db-1 ()" and first.severity == "critical"
    assert first.starts_at == parse_timestamp("2026-11-22T16:20:00Z", "t")  # Paris is UTC+1
    assert first.labels == {"rack": "R4", "team": "dba", "count": "3"}
    assert second.severity == "minor" and second.labels == {"count": "2.5"}
    assert second.ends_at == parse_timestamp("2026-11-22T16:30:00Z", "t")
    assert first.source == "tool" and first.id != second.id


def test_without_an_id_a_resent_notification_repeats_its_id_and_without_a_time_it_is_now() -> None:
    tool = mapping({"name": "{n}", "entity": "{e}", "starts_at": "{t}"})
    one = tool.apply({"n": "x", "e": "h", "t": 1_799_999_000}, NOW).alerts[0]
    again = tool.apply({"n": "x", "e": "h", "t": 1_799_999_000}, NOW + 60).alerts[0]
    assert one.id == again.id and one.id.startswith("tool-")
    untimed = mapping({"name": "{n}", "entity": "{e}"}).apply({"n": "x", "e": "h"}, NOW)
    # No time at all: now, marked so that the engine gives a re-send its firing alert's start
    assert untimed.alerts[0].starts_at == NOW and untimed.start_unknown == [0]


@pytest.mark.parametrize(("payload", "message"), [
    ({"n": "x"}, "alerts[0]: field 'entity' is empty: '{host.name}' gave no text "
                 "(nothing at host.name)"),
    ({"n": "x", "host": {"name": {"a": 1}}}, "'host.name' is an object, not a text"),
    ({"n": "x", "host": {"name": "h"}, "t": "yesterday"},
     "is not an RFC 3339 timestamp: 'yesterday' (epoch seconds, RFC 3339, or set 'format'"),
    ({"n": "x", "host": {"name": "h"}, "t": -5}, "-5 is not a time (epoch seconds up to"),
    ({"n": "x", "host": {"name": "h"}, "t": 1e300}, "is not a time (epoch seconds up to"),
    ([], "expected a JSON object or a non-empty array of them"),
    ([{"n": "x", "host": {"name": "h"}}, "text"], "alerts[1]: an alert must be a JSON object"),
    ({"n": "x" * 300, "host": {"name": "h"}}, "field 'name' is 300 characters long"),
])
def test_a_payload_the_mapping_cannot_read_is_refused_naming_item_and_field(
        payload: object, message: str) -> None:
    tool = mapping({"name": "{n}", "entity": "{host.name}", "starts_at": "{t}"})
    with pytest.raises(InputError) as err:
        tool.apply(payload, NOW)
    assert message in str(err.value)


def test_labels_sent_as_text_that_is_not_json_and_alerts_missing_at_their_path_are_named() -> None:
    zabbix = builtin("zabbix")
    with pytest.raises(InputError, match="labels_from 'tags' is text that is not JSON"):
        zabbix.apply({**ZABBIX_PROBLEM, "tags": "[scope=availability"}, NOW)
    with pytest.raises(InputError, match="no alerts at 'data.items' in the payload"):
        mapping({"alerts": "data.items", "name": "{n}", "entity": "{e}"}).apply({"data": {}})
    with pytest.raises(InputError, match="bad format"):
        mapping({"name": "{n}", "entity": "{e}",
                 "starts_at": {"value": "{t}", "format": "%Y.%m.%d"}}).apply(
            {"n": "x", "e": "h", "t": "bad format"})


@pytest.mark.parametrize(("doc", "message"), [
    ({"name": "{n}"}, "tool.yml: 'entity' is required"),
    ({"name": "{n}", "entity": "{e}", "sevrity": "x"}, "tool.yml: unknown key 'sevrity'"),
    ({"name": "{n", "entity": "{e}"}, "tool.yml: name: unmatched '{' in '{n' (write {{"),
    ({"name": "{n}", "entity": "{a..b}"}, "tool.yml: entity: empty path in '{a..b}'"),
    ({"name": ["x"], "entity": "{e}"}, "tool.yml: name must be a text template, got list"),
    ({"name": "{n}", "entity": "{e}", "starts_at": {"value": "{t}", "timezone": "Mars/Base"}},
     "starts_at.timezone: unknown time zone 'Mars/Base'"),
    ({"name": "{n}", "entity": "{e}", "starts_at": {"value": "{t}", "format": "YYYY"}},
     "starts_at.format must be a strptime format"),
    ({"name": "{n}", "entity": "{e}", "starts_at": {"format": "%Y"}},
     "starts_at: 'value' is required"),
    ({"name": "{n}", "entity": "{e}", "severity": {"value": "{s}", "map": {"P1": "urgent"}}},
     "severity.map must map texts to one of critical, major"),
    ({"name": "{n}", "entity": "{e}", "resolved": {"value": "{s}"}},
     "resolved.equals must list the values that mean resolved"),
    ({"name": "{n}", "entity": "{e}", "state_report": "{u}"},
     "state_report.equals must list the values that mean a state report"),
    ({"name": "{n}", "entity": "{e}", "state_report": {"value": "{u}", "map": {}}},
     "state_report: unknown key 'map'; expected value, equals"),
    ({"name": "{n}", "entity": "{e}", "labels_from": {"name": "k"}},
     "labels_from takes path (required), name and value"),
    ({"name": "{n}", "entity": "{e}", "alerts": "a..b"}, "alerts must be a dotted path"),
    (["name"], "tool.yml: expected a mapping with at least 'name' and 'entity'"),
])
def test_a_bad_mapping_is_refused_by_file_and_key(doc: object, message: str) -> None:
    with pytest.raises(InputError) as err:
        mapping(doc)  # type: ignore[arg-type]
    assert message in str(err.value)


def test_files_override_built_ins_and_bad_files_are_listed_without_hiding_the_others(
        tmp_path: Path) -> None:
    (tmp_path / "grafana.yml").write_text("name: '{title}'\nentity: '{labels.instance}'\n")
    (tmp_path / "zabbix.yml").write_text("name: '{trigger_name}'\nentity: '{host}'\n"
                                         "starts_at: {value: '{event_date} {event_time}',"
                                         " format: '%Y.%m.%d %H:%M:%S', timezone: '+02:00'}\n")
    (tmp_path / "nagios.yml").write_text("name: '{check}'\nentity: [\n")
    (tmp_path / "Bad Name.yml").write_text("name: x\nentity: y\n")
    (tmp_path / "twice.yml").write_text("name: x\nentity: y\n")
    (tmp_path / "twice.yaml").write_text("name: x\nentity: y\n")
    found, errors = load_mappings(tmp_path)
    assert sorted(found) == ["grafana", "icinga", "snmptrap", "syslog", "zabbix"]  # not nagios
    assert found["zabbix"].origin == str(tmp_path / "zabbix.yml")
    (zabbix,) = found["zabbix"].apply(ZABBIX_PROBLEM, NOW).alerts
    assert zabbix.starts_at == parse_timestamp("2026-11-22T14:20:05Z", "t")
    assert len(errors) == 3
    assert any(e.startswith("Bad Name.yml: a mapping's file name is its URL") for e in errors)
    assert any(e.startswith("nagios.yml: line") and "not valid YAML" in e for e in errors)
    assert any(e.startswith("twice.yml: mapping 'twice' is also in twice.yaml") for e in errors)
    with pytest.raises(InputError, match="webhook mapping 'nagios' cannot be used: nagios.yml"):
        find_mapping(tmp_path, "nagios")
    with pytest.raises(NotFound,
                       match=r"known: alertmanager, grafana, icinga, snmptrap, syslog, zabbix\)"):
        find_mapping(tmp_path, "datadog")


def test_the_built_in_mappings_and_the_example_media_type_agree_on_field_names() -> None:
    """Every field the Zabbix preset reads is a parameter of the media type, and every
    field the Nagios preset reads is one aiops-notify sends."""
    import yaml

    root = Path(__file__).resolve().parents[2]
    media = yaml.safe_load((root / "deploy/zabbix/aiops_media_type.yaml").read_text())
    params = {p["name"] for p in media["zabbix_export"]["media_types"][0]["parameters"]}
    preset = builtin("zabbix")
    read = {p.split(".")[0] for t in (preset.id, preset.name_of, preset.entity, preset.summary,
                                      preset.description, preset.severity, preset.resolved,
                                      preset.state_report,
                                      preset.starts_at.value, preset.ends_at.value,
                                      *preset.labels.values()) for p in t.paths()}
    # suppressed: sent by ``aiops zabbix follow`` only (the media type has no macro for
    # a maintenance; its items leave the label as it is); acknowledged and
    # acknowledged_by: made by the script of {EVENT.ACK.STATUS} (its parameter
    # ack_status) and, in an acknowledgement's update, of {USER.FULLNAME} and
    # {EVENT.UPDATE.MESSAGE} (update_user, update_message).
    script = media["zabbix_export"]["media_types"][0]["script"]
    assert {"ack_status", "update_action", "update_user", "update_message"} <= params
    assert "body.acknowledged =" in script and "body.acknowledged_by =" in script
    assert read - {"suppressed", "suppressed_by"} | {"tags"} <= params | {
        "acknowledged", "acknowledged_by"}
    sent = {"type", "host", "address", "check", "state", "output", "since", "ended",
            "acknowledged", "acknowledged_by", "suppressed", "flapping", "note"}
    nagios = builtin("nagios")
    read = {p for t in (nagios.name_of, nagios.entity, nagios.summary, nagios.severity,
                        nagios.description, nagios.resolved, nagios.state_report,
                        nagios.starts_at.value, nagios.ends_at.value,
                        *nagios.labels.values()) for p in t.paths()}
    # suppressed_by: sent by ``aiops nagios follow`` only (no macro names a downtime).
    assert read - {"suppressed_by"} <= sent


def test_a_file_that_breaks_in_any_way_is_listed_and_the_others_still_load(
        tmp_path: Path) -> None:
    (tmp_path / "offset.yml").write_text("name: '{n}'\nentity: '{e}'\n"
                                         "starts_at: {value: '{t}', timezone: '+25:00'}\n")
    (tmp_path / "folder.yml").write_text("name: '{n}'\nentity: '{e}'\n"
                                         "starts_at: {value: '{t}', timezone: Europe}\n")
    (tmp_path / "keys.yml").write_text("name: '{n}'\nentity: '{e}'\n1: x\n")
    (tmp_path / "label.yml").write_text("name: '{n}'\nentity: '{e}'\n"
                                        "labels_from: {path: tags, name: [x]}\n")
    (tmp_path / "fine.yml").write_text("name: '{n}'\nentity: '{e}'\n")
    found, errors = load_mappings(tmp_path)
    assert "fine" in found and "zabbix" in found
    assert sorted(e.split(":")[0] for e in errors) == ["folder.yml", "keys.yml", "label.yml",
                                                       "offset.yml"]
    assert any("offset '+25:00' is out of range" in e for e in errors)
    assert any("unknown time zone 'Europe'" in e for e in errors)
    assert any("unknown key '1'" in e for e in errors)


def test_values_compare_as_the_payload_renders_them_and_epochs_may_be_milliseconds() -> None:
    tool = mapping({"name": "{n}", "entity": "{e}", "starts_at": "{t}",
                    "resolved": {"value": "{ok}", "equals": [True, 0]},
                    "severity": {"value": "{p}", "map": {2.0: "critical", True: "major"}},
                    "labels_from": {"path": "tags", "name": "k"}})
    base = {"n": "x", "e": "h", "t": 1_800_000_000_000, "p": 2.0,
            "tags": [{"k": "a", "value": None}, {"k": "b", "value": 7}]}
    (alert,) = tool.apply(base, NOW).alerts
    assert alert.starts_at == 1_800_000_000.0  # milliseconds
    assert (alert.severity, alert.ends_at, alert.labels) == ("critical", None,
                                                            {"a": "", "b": "7"})
    for ok in (True, "true", 0, "0"):
        assert tool.apply({**base, "ok": ok}, NOW).alerts[0].ends_at == NOW
    assert tool.apply({**base, "p": True}, NOW).alerts[0].severity == "major"


def test_a_notification_of_too_many_alerts_is_refused_before_any_is_mapped() -> None:
    from connectors.webhook_mapping import TooManyAlerts

    with pytest.raises(TooManyAlerts, match="batch of 3 alerts is over the limit of 2"):
        mapping({"name": "{n}", "entity": "{e}"}).apply([{}, {}, {}], NOW, max_items=2)
