"""Response bodies in the shapes the systems' documentation shows (docs/tickets.md)."""

from __future__ import annotations

from typing import Any


def sn_field(value: str, display: str | None = None, link: bool = False) -> dict[str, Any]:
    """A ServiceNow field under ``sysparm_display_value=all``."""
    out: dict[str, Any] = {"display_value": display if display is not None else value,
                           "value": value}
    if link:
        out["link"] = f"https://example.service-now.com/api/now/table/cmdb_ci/{value}"
    return out


def sn_incident(n: int, *, entity: str = "ne-12", alert_ids: str = "",
                close_code: str = "Solved (Permanently)",
                close_notes: str = "Replaced the failed PSU") -> dict[str, Any]:
    return {
        "sys_id": sn_field(f"9d385017c611228701d22104cc95c37{n}"),
        "number": sn_field(f"INC00100{n:02d}"),
        # value is UTC in the system format; display_value is in the user's zone
        "opened_at": sn_field(f"2026-01-05 10:{n:02d}:00", f"05/01/2026 11:{n:02d}:00"),
        "resolved_at": sn_field(f"2026-01-05 12:{n:02d}:00", f"05/01/2026 13:{n:02d}:00"),
        "closed_at": sn_field(""),
        "short_description": sn_field(f"Power failure at {entity}"),
        "description": sn_field("Several links down around the device"),
        "cmdb_ci": sn_field("a9c0c8d2c6112276018f7705562f9cb0", entity, link=True),
        "category": sn_field("network", "Network"),
        "priority": sn_field("2", "2 - High"),
        "state": sn_field("6", "Resolved"),
        "assignment_group": sn_field("8a4dde73c6112278017a6a4baf547aa7", "Network", link=True),
        "close_code": sn_field(close_code),
        "close_notes": sn_field(close_notes),
        "u_root_cause": sn_field("PSU failed"),
        "u_alert_ids": sn_field(alert_ids),
    }


def adf(*paragraphs: str) -> dict[str, Any]:
    """An Atlassian Document Format document with one paragraph per argument."""
    return {"type": "doc", "version": 1, "content": [
        {"type": "paragraph", "content": [{"type": "text", "text": p}]} for p in paragraphs]}


def jira_issue(n: int, *, v3: bool = True, entity: str = "ne-07",
               resolution: str = "Done", comment: str = "Cleaned the fibre connectors"
               ) -> dict[str, Any]:
    text = "Links flapping on the uplink"
    body = adf(comment) if v3 else comment
    return {
        "id": str(10000 + n), "key": f"OPS-{n}",
        "self": f"https://example.atlassian.net/rest/api/3/issue/{10000 + n}",
        "fields": {
            "summary": f"Interface flapping on {entity}",
            "description": adf(text, "CRC errors rising") if v3 else text,
            "created": f"2026-02-01T09:{n:02d}:00.000+0000",
            "resolutiondate": f"2026-02-01T11:{n:02d}:00.000+0000",
            "resolution": {"self": "https://example.atlassian.net/rest/api/3/resolution/10000",
                           "id": "10000", "name": resolution},
            "status": {"name": "Resolved", "id": "5"},
            "priority": {"name": "High", "id": "2"},
            "issuetype": {"name": "Incident", "id": "10004"},
            "labels": ["network"],
            "components": [],
            "customfield_10050": {"value": entity, "id": "10123"},
            "customfield_10051": adf("Dirty fibre connector") if v3 else "Dirty fibre connector",
            "comment": {"comments": [{"id": "1", "body": body}], "maxResults": 1, "total": 1,
                        "startAt": 0},
        },
    }
