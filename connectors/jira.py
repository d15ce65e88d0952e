"""Resolved issues from Jira Service Management through Jira's search REST API.

Cloud (``--api-version 3``, the default): ``GET /rest/api/3/search/jql``, the
enhanced search, paged by ``nextPageToken`` / ``isLast``. Atlassian removed the
older ``/rest/api/{2,3}/search`` from Jira Cloud in 2025 (CHANGE-2046: it answers
410 Gone), so that is no longer the default there. Data Center (``--api-version 2``):
``GET /rest/api/2/search``, paged by ``startAt`` / ``maxResults`` / ``total``, with
plain-text descriptions. Both shapes go through the same loop, and ``search_path``
picks another. Cloud's descriptions and comments are Atlassian Document Format,
flattened to text here. Where the resolution text lives differs per site (a custom
field, or the last comment), so the fields are parameters; docs/tickets.md shows
the mapping.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from aiops.models import Ticket
from connectors.ticket_fields import canonical_ticket, clip, split_ids, text_or_none
from connectors.ticket_http import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_TICKETS,
    DEFAULT_TIMEOUT,
    Credentials,
    PagingWords,
    TicketConnector,
    require,
)

DEFAULT_JQL = "resolution IS NOT EMPTY ORDER BY resolutiondate ASC"
BASE_FIELDS = ("summary", "description", "resolution", "resolutiondate", "created", "status",
               "priority", "labels", "components", "issuetype", "comment")
# ADF node types that end a line of text when flattened.
_BLOCKS = frozenset({"paragraph", "heading", "listItem", "codeBlock", "blockquote", "rule",
                     "tableRow", "panel", "mediaSingle", "decisionItem", "taskItem"})


def adf_text(node: Any) -> str:
    """Plain text of an Atlassian Document Format tree (strings pass through)."""
    if node is None:
        return ""
    if isinstance(node, str):
        return node
    pieces: list[str] = []
    _walk(node, pieces)
    lines = (line.strip() for line in "".join(pieces).splitlines())
    return "\n".join(line for line in lines if line)


def _walk(node: Any, out: list[str]) -> None:
    if isinstance(node, list):
        for child in node:
            _walk(child, out)
        return
    if not isinstance(node, dict):
        return
    kind = node.get("type")
    attrs = node.get("attrs") if isinstance(node.get("attrs"), dict) else {}
    if kind == "text":
        out.append(str(node.get("text", "")))
    elif kind == "hardBreak":
        out.append("\n")
    elif kind in ("mention", "emoji", "status", "date"):
        out.append(str(attrs.get("text") or attrs.get("shortName") or attrs.get("timestamp")
                       or ""))
    elif kind in ("inlineCard", "blockCard"):
        out.append(str(attrs.get("url", "")))
    _walk(node.get("content"), out)
    if kind in _BLOCKS:
        out.append("\n")
    elif kind == "tableCell" or kind == "tableHeader":
        out.append(" ")


def field_text(value: Any) -> str | None:
    """Text of a Jira field value: string, ADF document, option, user, or a list of them."""
    if value is None:
        return None
    if isinstance(value, list):
        parts = [field_text(v) for v in value]
        return text_or_none(", ".join(p for p in parts if p))
    if isinstance(value, dict):
        if value.get("type") == "doc" or "content" in value:
            return text_or_none(adf_text(value))
        for key in ("value", "name", "displayName", "key"):
            if value.get(key) is not None:
                return text_or_none(value[key])
        return None
    return text_or_none(value)


def _last_comment(fields: dict[str, Any]) -> str | None:
    comment = fields.get("comment")
    comments = comment.get("comments") if isinstance(comment, dict) else None
    if not isinstance(comments, list) or not comments:
        return None
    last = comments[-1]
    return field_text(last.get("body")) if isinstance(last, dict) else None


def parse_issue(issue: Any, where: str, entity_field: str | None = None,
                root_cause_field: str | None = None, resolution_field: str | None = None,
                alert_ids_field: str | None = None) -> Ticket:
    """One issue of a search result as a canonical ticket (CONTRACTS.md §5)."""
    require(isinstance(issue, dict), f"{where}: an issue must be a JSON object")
    key = text_or_none(issue.get("key"))
    where = f"{where} ({key})" if key else where
    fields = issue.get("fields")
    require(isinstance(fields, dict), f"{where}: the issue has no 'fields' object")
    resolution = field_text(fields.get(resolution_field)) if resolution_field else None
    labels: dict[str, Any] = {"system": "jira"}
    for name in ("status", "priority", "issuetype", "resolution"):
        shown = field_text(fields.get(name))
        if shown:
            labels[name] = shown
    if labels.get("resolution"):
        labels["resolution_code"] = labels["resolution"]
    if isinstance(fields.get("labels"), list):
        labels["labels"] = ",".join(str(x) for x in fields["labels"])
    components = field_text(fields.get("components"))
    if components:
        labels["components"] = components
    return canonical_ticket({
        "id": key,
        "opened_at": fields.get("created"),
        "resolved_at": fields.get("resolutiondate"),
        "title": clip(field_text(fields.get("summary"))),
        "description": clip(field_text(fields.get("description"))),
        "entity": clip(field_text(fields.get(entity_field)), 256) if entity_field else None,
        "root_cause": clip(field_text(fields.get(root_cause_field)))
        if root_cause_field else None,
        "resolution": clip(resolution or _last_comment(fields)),
        "alert_ids": split_ids(field_text(fields.get(alert_ids_field)))
        if alert_ids_field else [],
        "labels": labels,
    }, where)


# Per REST API version, where the search lives: Cloud's enhanced search for v3 (the
# only one Cloud still serves), Data Center's search for v2.
SEARCH_PATHS = {3: "rest/api/3/search/jql", 2: "rest/api/2/search"}

PAGING = PagingWords(position="startAt", records="issues", parameter="startAt",
                     matches="issues", query="the JQL")


class JiraConnector(TicketConnector):
    """Pulls resolved issues matching a JQL query, every page before returning."""

    name = "jira"
    system = "Jira"

    def __init__(self, base_url: str, *, user: str | None = None, password: str | None = None,
                 token: str | None = None, jql: str = DEFAULT_JQL, since: str | None = None,
                 api_version: int = 3, search_path: str | None = None, page_size: int = 100,
                 entity_field: str | None = None, root_cause_field: str | None = None,
                 resolution_field: str | None = None, alert_ids_field: str | None = None,
                 timeout: float = DEFAULT_TIMEOUT, max_bytes: int = DEFAULT_MAX_BYTES,
                 max_tickets: int = DEFAULT_MAX_TICKETS):
        # Cloud takes e-mail + API token as basic auth; Data Center a personal access token.
        super().__init__(base_url, Credentials(user=user, password=password or
                                               (token if user else None),
                                               token=None if user else token),
                         page_size=page_size, timeout=timeout, max_bytes=max_bytes,
                         max_tickets=max_tickets)
        if since:
            jql = _with_since(jql, since)
        self.jql = jql
        self.search_path = search_path or SEARCH_PATHS.get(api_version,
                                                           f"rest/api/{api_version}/search")
        self.custom = {"entity_field": entity_field, "root_cause_field": root_cause_field,
                       "resolution_field": resolution_field, "alert_ids_field": alert_ids_field}

    def fields(self) -> str:
        extra = [f for f in self.custom.values() if f]
        return ",".join(dict.fromkeys([*BASE_FIELDS, *extra]))

    def pages(self) -> Iterator[tuple[int, list[Any]]]:
        """Yield (index of the first issue, issues) for every page."""
        start, token = 0, None
        while True:
            params: dict[str, Any] = {"jql": self.jql, "maxResults": self.page_size,
                                      "fields": self.fields()}
            if token is not None:
                params["nextPageToken"] = token
            elif not self.search_path.rstrip("/").endswith("/jql"):
                params["startAt"] = start  # the enhanced search pages by token only
            doc = self.client.get(self.search_path, params, what=f"issue {start}")
            require(isinstance(doc, dict) and isinstance(doc.get("issues"), list),
                    f"Jira {self.client.url(self.search_path)} (issue {start}): expected an "
                    "object with an 'issues' array")
            issues = doc["issues"]
            yield start, issues
            start += len(issues)
            if not issues or doc.get("isLast") is True:
                return
            if doc.get("nextPageToken"):
                token = doc["nextPageToken"]
                continue
            # Token paging ends with the token left out (not null, JRACLOUD-92184); a page
            # with neither a token nor a total cannot be continued either.
            total = doc.get("total")
            if token is not None or not isinstance(total, int) or start >= total:
                return

    def fetch(self) -> list[Ticket]:
        """Every matching issue, validated."""
        return self.collect(self.pages(), lambda issue, i: parse_issue(
            issue, f"Jira issues[{i}]", **self.custom), PAGING)


def _with_since(jql: str, since: str) -> str:
    """Add a resolution-date bound in front of any ORDER BY clause."""
    upper = jql.upper()
    cut = upper.rfind(" ORDER BY ")
    where, order = (jql[:cut], jql[cut:]) if cut >= 0 else (jql, "")
    where = where.strip()
    bound = f'resolutiondate >= "{since}"'
    return (f"({where}) AND {bound}" if where else bound) + order
