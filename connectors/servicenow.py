"""Resolved incidents from ServiceNow's Table API (``GET /api/now/table/incident``).

We ask for ``sysparm_display_value=all``, so every field arrives as
``{"value": ..., "display_value": ...}``: timestamps are taken from ``value`` (UTC,
``YYYY-MM-DD HH:MM:SS``; the display value is in the API user's time zone and
format), reference and choice fields from ``display_value`` (the CI's name, which
topology entity resolution understands, rather than its sys_id). The parser also
accepts the other two shapes the API produces (plain strings, and
``{"link", "value"}`` references) so a proxy or an export of either kind works.
Field shapes: docs/tickets.md cites the documentation they follow.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aiops.models import Ticket
from connectors.ticket_fields import canonical_ticket, clip, split_ids, text_or_none
from connectors.ticket_http import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_TICKETS,
    DEFAULT_TIMEOUT,
    Credentials,
    PagingWords,
    TicketConnector,
    TicketSourceError,
    require,
)

DEFAULT_QUERY = "resolved_atISNOTEMPTY^ORDERBYsys_created_on"
# Fields copied into the canonical ticket's labels when present.
LABEL_FIELDS = ("sys_id", "category", "subcategory", "priority", "impact", "urgency",
                "state", "close_code", "assignment_group", "business_service",
                "correlation_id", "problem_id", "reopen_count")


def _raw(value: Any) -> Any:
    """The machine value of a field in any of the API's three shapes."""
    if isinstance(value, dict):
        return value.get("value")
    return value


def _shown(value: Any) -> Any:
    """The display value where the API sent one (names instead of sys_ids)."""
    if isinstance(value, dict):
        shown = value.get("display_value")
        return shown if shown not in (None, "") else value.get("value")
    return value


def parse_incident(record: Any, where: str, entity_field: str = "cmdb_ci",
                   root_cause_field: str = "u_root_cause",
                   alert_ids_field: str = "u_alert_ids") -> Ticket:
    """One record of the incident table as a canonical ticket (CONTRACTS.md §5)."""
    require(isinstance(record, dict), f"{where}: a record must be a JSON object")
    number = text_or_none(_shown(record.get("number")))
    where = f"{where} ({number})" if number else where
    resolved = text_or_none(_raw(record.get("resolved_at"))) \
        or text_or_none(_raw(record.get("closed_at")))
    labels = {name: str(_shown(record[name])) for name in LABEL_FIELDS
              if text_or_none(_shown(record.get(name))) is not None}
    labels["system"] = "servicenow"
    if text_or_none(_shown(record.get("close_code"))):
        labels["resolution_code"] = str(_shown(record["close_code"]))
    return canonical_ticket({
        "id": number,
        "opened_at": text_or_none(_raw(record.get("opened_at"))),
        "resolved_at": resolved,
        "title": clip(text_or_none(_shown(record.get("short_description")))),
        "description": clip(text_or_none(_shown(record.get("description")))),
        "entity": clip(text_or_none(_shown(record.get(entity_field))), 256),
        "root_cause": clip(text_or_none(_shown(record.get(root_cause_field)))),
        "resolution": clip(text_or_none(_shown(record.get("close_notes")))),
        "alert_ids": split_ids(_shown(record.get(alert_ids_field))),
        "labels": labels,
    }, where)


def next_offset(links: dict[str, str], offset: int, count: int, limit: int,
                where: str) -> int | None:
    """The offset of the page after the one at ``offset`` (``count`` records of at most
    ``limit``), or None after the last.

    ServiceNow applies read ACLs to a page after the query's limit, so a page may hold
    fewer records than ``sysparm_limit`` (or none) while more follow; its ``Link``
    header (``rel="next"`` while there are more pages) is what tells, and its next
    offset is the previous one plus the limit, not plus the records shown. Without a
    Link header (a proxy, an older instance) a short page is taken as the last."""
    if not links:
        return offset + count if count >= limit else None
    if "next" not in links:
        return None
    values = parse_qs(urlsplit(links["next"]).query).get("sysparm_offset", [])
    following = int(values[-1]) if values and values[-1].isdigit() else offset + limit
    if following <= offset:
        raise TicketSourceError(f"{where}: the Link header's next page (offset {following}) "
                                "does not advance; the server ignores sysparm_offset")
    return following


PAGING = PagingWords(position="offset", records="records", parameter="sysparm_offset",
                     matches="tickets", query="the query")


class ServiceNowConnector(TicketConnector):
    """Pulls resolved incidents page by page (``sysparm_limit``/``sysparm_offset``)."""

    name = "servicenow"
    system = "ServiceNow"

    def __init__(self, base_url: str, *, user: str | None = None, password: str | None = None,
                 token: str | None = None, query: str = DEFAULT_QUERY, since: str | None = None,
                 table: str = "incident", page_size: int = 500, entity_field: str = "cmdb_ci",
                 root_cause_field: str = "u_root_cause", alert_ids_field: str = "u_alert_ids",
                 timeout: float = DEFAULT_TIMEOUT, max_bytes: int = DEFAULT_MAX_BYTES,
                 max_tickets: int = DEFAULT_MAX_TICKETS):
        super().__init__(base_url, Credentials(user=user, password=password, token=token),
                         page_size=page_size, timeout=timeout, max_bytes=max_bytes,
                         max_tickets=max_tickets)
        # "since" filters on resolution time; ServiceNow compares in UTC for the API.
        self.query = f"{query}^resolved_at>={since}" if since else query
        self.table = table
        self.fields = {"entity_field": entity_field, "root_cause_field": root_cause_field,
                       "alert_ids_field": alert_ids_field}

    def pages(self) -> Iterator[tuple[int, list[Any]]]:
        """Yield (offset, result list) for every page: while the ``Link`` header has a
        ``rel="next"``, or without a Link header until a short or empty page."""
        offset: int | None = 0
        while offset is not None:
            params = {"sysparm_query": self.query, "sysparm_limit": self.page_size,
                      "sysparm_offset": offset, "sysparm_display_value": "all",
                      "sysparm_exclude_reference_link": "true"}
            doc, links = self.client.get_with_links(f"api/now/table/{self.table}", params,
                                                    what=f"offset {offset}")
            where = f"ServiceNow {self.client.url('api/now/table/' + self.table)} (offset " \
                    f"{offset})"
            require(isinstance(doc, dict) and isinstance(doc.get("result"), list),
                    f"{where}: expected an object with a 'result' array")
            result = doc["result"]
            yield offset, result
            offset = next_offset(links, offset, len(result), self.page_size, where)

    def fetch(self) -> list[Ticket]:
        """Every matching incident, validated."""
        return self.collect(self.pages(), lambda record, i: parse_incident(
            record, f"ServiceNow result[{i}]", **self.fields), PAGING)
