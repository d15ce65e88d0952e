"""Resolved tickets from Request Tracker 5 through its REST2 API.

A TicketSQL search (``GET /REST/2.0/tickets?query=...``, paged by ``page`` /
``per_page`` with ``pages`` or ``next_page``) gives the ids; per ticket,
``GET /ticket/{id}`` gives subject, times and custom fields, ``/ticket/{id}/history``
the transactions, and ``/ticket/{id}/attachments`` their text. What was seen is
the text of the ticket's Create transaction; what was done is the last
correspondence or comment, which is where RT users write the resolution. Entity,
root cause and alert ids come from custom fields whose names are parameters.
Tested against a real RT 5 (Debian ``request-tracker5``, SQLite, ``rt-server``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from aiops.models import Ticket
from connectors.ticket_fields import canonical_ticket, clip, split_ids, text_or_none
from connectors.ticket_http import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_TICKETS,
    DEFAULT_TIMEOUT,
    Credentials,
    TicketConnector,
    TicketSourceError,
    require,
)

DEFAULT_QUERY = "Status = 'resolved'"
UNSET = "1970-01-01T00:00:00Z"  # how RT writes a date that was never set
_TAG = re.compile(r"<[^>]+>")
_RESOLUTION_TYPES = ("Correspond", "Comment")


def custom_fields(ticket: dict[str, Any]) -> dict[str, list[str]]:
    """Custom field name → values, from either shape RT 5 returns."""
    raw = ticket.get("CustomFields")
    out: dict[str, list[str]] = {}
    if isinstance(raw, list):
        for item in raw:
            if isinstance(item, dict) and item.get("name"):
                values = item.get("values")
                out[str(item["name"])] = [str(v) for v in values] if isinstance(values, list) \
                    else []
    elif isinstance(raw, dict):
        for name, values in raw.items():
            out[str(name)] = [str(v) for v in values] if isinstance(values, list) \
                else [str(values)]
    return out


def _date(value: Any) -> str | None:
    text = text_or_none(value)
    return None if text is None or text == UNSET else text


def _ref_id(value: Any) -> str | None:
    """``{"id": "General", "type": "queue", ...}`` → its id."""
    return text_or_none(value.get("id")) if isinstance(value, dict) else text_or_none(value)


def transaction_texts(history: list[dict[str, Any]], attachments: list[dict[str, Any]]
                      ) -> tuple[str | None, str | None]:
    """(text of the Create transaction, text of the last correspondence or comment)."""
    kinds = {str(t.get("id")): t.get("Type") for t in history if isinstance(t, dict)}
    order = [str(t.get("id")) for t in history if isinstance(t, dict)]
    texts: dict[str, str] = {}
    for att in attachments:
        if not isinstance(att, dict):
            continue
        txn = str(att.get("TransactionId", ""))
        if txn in texts:
            continue
        content = att.get("Content")
        kind = str(att.get("ContentType", "")).lower()
        if not isinstance(content, str) or not content.strip():
            continue
        if kind.startswith("text/plain"):
            texts[txn] = content.strip()
        elif kind.startswith("text/html"):
            texts[txn] = _TAG.sub(" ", content).strip()
    created = next((texts[t] for t in order if kinds.get(t) == "Create" and t in texts), None)
    resolution = None
    for txn in order:
        if kinds.get(txn) in _RESOLUTION_TYPES and txn in texts:
            resolution = texts[txn]
    return created, resolution


def parse_rt_ticket(ticket: Any, history: list[dict[str, Any]],
                    attachments: list[dict[str, Any]], where: str, *, id_prefix: str = "rt-",
                    entity_field: str = "Entity", root_cause_field: str = "Root Cause",
                    alert_ids_field: str = "Alert IDs") -> Ticket:
    """An RT ticket, its history and attachments as a canonical ticket (CONTRACTS.md §5)."""
    require(isinstance(ticket, dict), f"{where}: a ticket must be a JSON object")
    number = text_or_none(ticket.get("id"))
    where = f"{where} (ticket {number})" if number else where
    fields = custom_fields(ticket)
    created_text, resolution = transaction_texts(history, attachments)

    def first(name: str) -> str | None:
        values = fields.get(name) or []
        return text_or_none(values[0]) if values else None

    labels: dict[str, Any] = {"system": "rt"}
    for key in ("Status", "Queue", "Owner"):
        shown = _ref_id(ticket.get(key))
        if shown:
            labels[key.lower()] = shown
    return canonical_ticket({
        "id": f"{id_prefix}{number}" if number else None,
        "opened_at": _date(ticket.get("Created")),
        "resolved_at": _date(ticket.get("Resolved")),
        "title": clip(text_or_none(ticket.get("Subject"))),
        "description": clip(created_text),
        "entity": clip(first(entity_field), 256),
        "root_cause": clip(first(root_cause_field)),
        "resolution": clip(resolution),
        "alert_ids": split_ids(fields.get(alert_ids_field)),
        "labels": labels,
    }, where)


class RTConnector(TicketConnector):
    """Pulls resolved tickets matching a TicketSQL query from RT 5's REST2."""

    name = "rt"
    system = "RT"

    def __init__(self, base_url: str, *, user: str | None = None, password: str | None = None,
                 token: str | None = None, query: str = DEFAULT_QUERY, since: str | None = None,
                 page_size: int = 100, id_prefix: str = "rt-", entity_field: str = "Entity",
                 root_cause_field: str = "Root Cause", alert_ids_field: str = "Alert IDs",
                 timeout: float = DEFAULT_TIMEOUT, max_bytes: int = DEFAULT_MAX_BYTES,
                 max_tickets: int = DEFAULT_MAX_TICKETS):
        # RT's auth tokens use the scheme word "token", not "Bearer".
        super().__init__(base_url.rstrip("/") + "/REST/2.0",
                         Credentials(user=user, password=password, token=token,
                                     token_scheme="token"),
                         page_size=page_size, timeout=timeout, max_bytes=max_bytes,
                         max_tickets=max_tickets)
        self.query = f"({query}) AND Resolved >= '{since}'" if since else query
        self.options = {"id_prefix": id_prefix, "entity_field": entity_field,
                        "root_cause_field": root_cause_field, "alert_ids_field": alert_ids_field}

    def collection(self, path: str, params: dict[str, Any], what: str) -> Iterator[Any]:
        """Every item of a paged REST2 collection.

        RT sends ``total`` and ``pages`` as null, and no ``next_page``, to a user who may
        not see every record (its usual service accounts: ShowTicket on some queues,
        and anyone but a superuser for history and attachments); RT also drops the
        records such a user may not see after paging, so a page can be short before the
        end. Without a page count, pages are therefore read until an empty one. A page
        of nothing but items already read means the server ignores ``page``: refused
        rather than looped on."""
        page = 1
        seen: set[str] = set()
        while True:
            doc = self.client.get(path, {**params, "page": page, "per_page": self.page_size},
                                  what=f"{what}, page {page}")
            where = f"RT {self.client.url(path)} ({what}, page {page})"
            require(isinstance(doc, dict) and isinstance(doc.get("items"), list),
                    f"{where}: expected an object with an 'items' array")
            items = doc["items"]
            if not items:
                return
            _check_advances(items, seen, where)
            yield from items
            if not _more_pages(doc, page):
                return
            page += 1

    def ticket_ids(self) -> list[str]:
        ids: list[str] = []
        for item in self.collection("tickets", {"query": self.query, "orderby": "id"},
                                    "search"):
            require(isinstance(item, dict) and item.get("id") is not None,
                    "RT search: an item has no 'id'")
            ids.append(str(item["id"]))
            if len(ids) > self.max_tickets:
                raise TicketSourceError(f"RT: more than {self.max_tickets:,} tickets match; "
                                        "narrow the query or use --since")
        return list(dict.fromkeys(ids))

    def fetch_one(self, ticket_id: str) -> Ticket:
        """One ticket with its history and attachment texts."""
        ticket = self.client.get(f"ticket/{ticket_id}", what=f"ticket {ticket_id}")
        history = list(self.collection(f"ticket/{ticket_id}/history",
                                       {"fields": "Type,Created"}, f"ticket {ticket_id} history"))
        attachments = list(self.collection(
            f"ticket/{ticket_id}/attachments",
            {"fields": "TransactionId,ContentType,Content,Created"},
            f"ticket {ticket_id} attachments"))
        return parse_rt_ticket(ticket, history, attachments, f"RT ticket/{ticket_id}",
                               **self.options)

    def fetch(self) -> list[Ticket]:
        """Every matching ticket with its texts, validated."""
        return [self.fetch_one(ticket_id) for ticket_id in self.ticket_ids()]


def _more_pages(doc: dict[str, Any], page: int) -> bool:
    """Whether a REST2 collection has pages after ``page``: ``next_page`` or the page
    count say so when RT sends them; when it hides the total (null ``pages``), only an
    empty page ends the collection."""
    if doc.get("next_page"):
        return True
    pages = doc.get("pages")
    if isinstance(pages, int) and not isinstance(pages, bool):
        return page < pages
    return pages is None


def _check_advances(items: list[Any], seen: set[str], where: str) -> None:
    """Refuse a page whose items (by id) were all read already, and remember its ids."""
    ids = [str(item["id"]) for item in items
           if isinstance(item, dict) and item.get("id") is not None]
    if ids and seen.issuperset(ids):
        raise TicketSourceError(f"{where}: the page repeats items already read; the server "
                                "ignores the page parameter")
    seen.update(ids)
