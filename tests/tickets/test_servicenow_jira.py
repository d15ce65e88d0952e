"""ServiceNow and Jira connectors against their documented payloads over real HTTP."""

from __future__ import annotations

import base64

import pytest

from aiops.timeutil import parse_timestamp
from connectors.jira import JiraConnector, adf_text
from connectors.servicenow import ServiceNowConnector, parse_incident
from connectors.ticket_http import TicketSourceError
from tests.tickets.fake_itsm import Request, fake_server, reply
from tests.tickets.payloads import adf, jira_issue, sn_field, sn_incident

SN_PATH = "/api/now/table/incident"


def sn_pages(records: list[dict]) -> object:
    def handler(request: Request) -> dict:
        offset, limit = int(request.query["sysparm_offset"]), int(request.query["sysparm_limit"])
        return {"result": records[offset:offset + limit]}
    return handler


def test_servicenow_pages_and_maps_the_documented_fields() -> None:
    records = [sn_incident(i, alert_ids="a1, a2" if i == 1 else "") for i in range(1, 6)]
    with fake_server({SN_PATH: sn_pages(records)}) as server:
        tickets = ServiceNowConnector(server.url, user="admin", password="pw",
                                      page_size=2).pull()
        offsets = [r.query["sysparm_offset"] for r in server.requests]
        first = server.requests[0]
    assert offsets == ["0", "2", "4"]  # stops after the short page
    assert first.query["sysparm_display_value"] == "all"
    assert "resolved_atISNOTEMPTY" in first.query["sysparm_query"]
    assert first.headers["authorization"] == "Basic " + base64.b64encode(b"admin:pw").decode()
    assert [t.id for t in tickets] == [f"INC00100{i:02d}" for i in range(1, 6)]
    t = tickets[0]
    assert t.opened_at == parse_timestamp("2026-01-05T10:01:00Z", "x")  # value (UTC), not display
    assert t.entity == "ne-12"  # the CI's display value, not its sys_id
    assert t.title == "Power failure at ne-12" and t.resolution == "Replaced the failed PSU"
    assert t.root_cause == "PSU failed" and t.alert_ids == ["a1", "a2"]
    assert t.labels["resolution_code"] == "Solved (Permanently)"
    assert t.labels["priority"] == "2 - High" and t.labels["system"] == "servicenow"


def test_servicenow_plain_string_shape_and_since() -> None:
    record = {"number": "INC1", "opened_at": "2026-01-05 10:00:00", "short_description": "x",
              "resolved_at": "", "closed_at": "2026-01-05 11:00:00",
              "cmdb_ci": {"link": "https://x/api/now/table/cmdb_ci/abc", "value": "abc"}}
    ticket = parse_incident(record, "r")
    assert ticket.resolved_at == parse_timestamp("2026-01-05 11:00:00", "x")  # closed_at
    assert ticket.entity == "abc"
    with fake_server({SN_PATH: sn_pages([])}) as server:
        assert ServiceNowConnector(server.url, token="t0k", since="2026-01-01").pull() == []
        request = server.requests[0]
    assert request.query["sysparm_query"].endswith("^resolved_at>=2026-01-01")
    assert request.headers["authorization"] == "Bearer t0k"


def test_servicenow_record_without_opened_at_is_named() -> None:
    broken = sn_incident(3)
    del broken["opened_at"]
    with fake_server({SN_PATH: sn_pages([sn_incident(1), sn_incident(2), broken])}) as server, \
            pytest.raises(TicketSourceError,
                          match=r"result\[2\] \(INC0010003\): field 'opened_at' is required"):
        ServiceNowConnector(server.url, page_size=10).pull()


def test_servicenow_server_ignoring_offset_is_caught() -> None:
    records = [sn_incident(1), sn_incident(2)]
    with fake_server({SN_PATH: lambda r: {"result": records}}) as server, \
            pytest.raises(TicketSourceError, match="ignores sysparm_offset"):
        ServiceNowConnector(server.url, page_size=2).pull()


def sn_acl_pages(records: list[dict], hidden: set[str]) -> object:
    """The Table API as ServiceNow answers it: a ``Link`` header with ``rel="next"``
    while pages follow, and read ACLs applied after the limit, so the records of
    ``hidden`` leave their page short (ServiceNow KB3047115)."""
    def handler(request: Request) -> tuple:
        offset, limit = int(request.query["sysparm_offset"]), int(request.query["sysparm_limit"])
        page = [r for r in records[offset:offset + limit]
                if r["number"]["value"] not in hidden]

        def link(at: int, rel: str) -> str:
            return (f'<https://example.service-now.com{SN_PATH}?sysparm_limit={limit}'
                    f'&sysparm_offset={at}>;rel="{rel}"')

        last = (len(records) - 1) // limit * limit
        rels = [link(0, "first"), link(last, "last")]
        if offset + limit < len(records):
            rels.append(link(offset + limit, "next"))
        return reply(200, {"result": page}, headers={"Link": ",".join(rels),
                                                     "X-Total-Count": str(len(records))})
    return handler


def test_servicenow_follows_the_link_header_past_pages_shortened_by_acls() -> None:
    records = [sn_incident(i) for i in range(1, 8)]
    hidden = {"INC0010002", "INC0010003", "INC0010004"}  # a whole page is invisible too
    with fake_server({SN_PATH: sn_acl_pages(records, hidden)}) as server:
        tickets = ServiceNowConnector(server.url, page_size=2).pull()
        offsets = [r.query["sysparm_offset"] for r in server.requests]
    assert offsets == ["0", "2", "4", "6"]  # the limit, not the records shown, advances
    assert [t.id for t in tickets] == ["INC0010001", "INC0010005", "INC0010006",
                                       "INC0010007"]


def test_servicenow_link_header_that_does_not_advance_is_refused() -> None:
    def handler(request: Request) -> tuple:
        link = f'<https://x{SN_PATH}?sysparm_offset=0&sysparm_limit=2>;rel="next"'
        return reply(200, {"result": [sn_incident(1), sn_incident(2)]},
                     headers={"Link": link})

    with fake_server({SN_PATH: handler}) as server, pytest.raises(
            TicketSourceError, match=r"\(offset 0\): the Link header's next page \(offset 0\) "
                                     "does not advance"):
        ServiceNowConnector(server.url, page_size=2).pull()


def test_adf_is_flattened_to_text() -> None:
    doc = {"type": "doc", "version": 1, "content": [
        {"type": "heading", "content": [{"type": "text", "text": "Impact"}]},
        {"type": "paragraph", "content": [
            {"type": "text", "text": "Uplink of "}, {"type": "mention", "attrs": {"text": "@ops"}},
            {"type": "hardBreak"}, {"type": "text", "text": "second line"}]},
        {"type": "bulletList", "content": [{"type": "listItem", "content": [
            {"type": "paragraph", "content": [{"type": "text", "text": "item"}]}]}]}]}
    assert adf_text(doc) == "Impact\nUplink of @ops\nsecond line\nitem"
    assert adf_text("plain") == "plain" and adf_text(None) == ""


@pytest.mark.parametrize("v3", [True, False])
def test_jira_search_pages_by_start_at(v3: bool) -> None:
    """Data Center's search (v2), and v3's where a site still serves it (search_path)."""
    issues = [jira_issue(i, v3=v3) for i in range(1, 6)]
    path = f"/rest/api/{3 if v3 else 2}/search"

    def search(request: Request) -> dict:
        start, size = int(request.query["startAt"]), int(request.query["maxResults"])
        return {"startAt": start, "maxResults": size, "total": len(issues),
                "issues": issues[start:start + size]}

    with fake_server({path: search}) as server:
        tickets = JiraConnector(server.url, user="me@example.com", token="api-token",
                                api_version=3 if v3 else 2, page_size=2,
                                search_path=path.lstrip("/"),
                                entity_field="customfield_10050",
                                root_cause_field="customfield_10051").pull()
        starts = [r.query["startAt"] for r in server.requests]
        fields = server.requests[0].query["fields"]
        auth = server.requests[0].headers["authorization"]
    assert starts == ["0", "2", "4"]
    assert "customfield_10050" in fields and "resolutiondate" in fields
    assert auth == "Basic " + base64.b64encode(b"me@example.com:api-token").decode()
    t = tickets[0]
    assert t.id == "OPS-1" and t.entity == "ne-07" and t.root_cause == "Dirty fibre connector"
    assert t.description == ("Links flapping on the uplink\nCRC errors rising" if v3
                             else "Links flapping on the uplink")
    assert t.resolution == "Cleaned the fibre connectors"  # the last comment
    assert t.opened_at == parse_timestamp("2026-02-01T09:01:00Z", "x")
    assert t.labels["resolution_code"] == "Done"


def test_jira_next_page_token_and_resolution_field() -> None:
    pages = {None: ([jira_issue(1)], "tok-2"), "tok-2": ([jira_issue(2)], None)}

    def search(request: Request) -> dict:
        issues, token = pages[request.query.get("nextPageToken")]
        doc = {"issues": issues, "isLast": token is None}
        if token:
            doc["nextPageToken"] = token
        return doc

    with fake_server({"/rest/api/3/search/jql": search}) as server:
        issue = jira_issue(3)
        issue["fields"]["customfield_10060"] = adf("Swapped SFP")
        # v3 is Cloud, whose only search is the enhanced one: the default path.
        tickets = JiraConnector(server.url, token="pat", since="2026-01-01").pull()
        jql = server.requests[0].query["jql"]
        assert all("startAt" not in r.query for r in server.requests)
        auth = server.requests[0].headers["authorization"]
    assert [t.id for t in tickets] == ["OPS-1", "OPS-2"]
    assert jql == ('(resolution IS NOT EMPTY) AND resolutiondate >= "2026-01-01" '
                   "ORDER BY resolutiondate ASC")
    assert auth == "Bearer pat"
    from connectors.jira import parse_issue
    assert parse_issue(issue, "x", resolution_field="customfield_10060").resolution \
        == "Swapped SFP"


def test_jira_last_token_page_leaves_the_token_out() -> None:
    with fake_server({"/rest/api/3/search/jql": lambda r: {"issues": [jira_issue(1)]}}
                     ) as server:
        tickets = JiraConnector(server.url, search_path="rest/api/3/search/jql").pull()
        assert [t.id for t in tickets] == ["OPS-1"] and len(server.requests) == 1


def test_jira_cloud_removed_search_is_a_clear_error() -> None:
    """Cloud answers 410 Gone on the old search (CHANGE-2046); the error says so."""
    gone = {"errorMessages": ["The requested API has been removed. Please migrate to the "
                              "/rest/api/3/search/jql API."]}
    with fake_server({"/rest/api/2/search": lambda r: reply(410, gone)}) as server, \
            pytest.raises(TicketSourceError, match=r"410.*migrate to the /rest/api/3/search/jql"):
        JiraConnector(server.url, api_version=2).pull()


def test_jira_issue_without_fields_is_named() -> None:
    with fake_server({"/rest/api/3/search/jql": lambda r: {"issues": [{"key": "OPS-9"}]}}
                     ) as server, \
            pytest.raises(TicketSourceError, match=r"issues\[0\] \(OPS-9\): the issue has no"):
        JiraConnector(server.url).pull()


def test_servicenow_field_helper_shapes() -> None:
    assert sn_field("x") == {"display_value": "x", "value": "x"}
