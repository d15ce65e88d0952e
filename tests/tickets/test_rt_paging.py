"""RT REST2 paging as RT 5 answers a user who may not see every record.

RT's ``RT::REST2::Resource::Collection::serialize`` sends ``total`` only when
``CurrentUserCanSeeAll`` (a global ShowTicket for tickets, SuperUser for history and
attachments), so a service account with rights on its queues gets ``total`` and
``pages`` as null and no ``next_page``; ``RT::Tickets::Next`` drops tickets it may not
see after paging, so a page can be short before the end.
"""

from __future__ import annotations

from typing import Any

import pytest

from connectors.rt import RTConnector
from connectors.ticket_http import TicketSourceError
from tests.tickets.fake_itsm import Request, fake_server

BASE = "/REST/2.0"


def hidden_total(items: list[dict[str, Any]], drop: frozenset[str] = frozenset()):
    """A REST2 collection as a user who cannot see all records gets it: null total and
    pages, no next_page, and the items of ``drop`` removed from their page."""
    def handler(request: Request) -> dict[str, Any]:
        page, per = int(request.query["page"]), min(int(request.query["per_page"]), 100)
        chunk = [i for i in items[(page - 1) * per:page * per] if str(i["id"]) not in drop]
        return {"count": len(chunk), "page": page, "per_page": per, "total": None,
                "pages": None, "items": chunk}
    return handler


def rt_ticket(n: int):
    ticket = {"id": n, "Subject": f"Ticket {n}", "Created": "2026-01-05T10:00:00Z",
              "Resolved": "2026-01-05T12:00:00Z", "Status": "resolved",
              "Queue": {"id": "1", "type": "queue"}, "CustomFields": []}
    return lambda request: ticket


def rt_routes(n: int) -> dict[str, Any]:
    routes: dict[str, Any] = {
        f"{BASE}/tickets": hidden_total([{"id": str(i), "type": "ticket"}
                                         for i in range(1, n + 1)], drop=frozenset({"2"})),
    }
    for i in range(1, n + 1):
        routes[f"{BASE}/ticket/{i}"] = rt_ticket(i)
        routes[f"{BASE}/ticket/{i}/history"] = hidden_total([
            {"id": f"{i}0", "Type": "Create"}, {"id": f"{i}1", "Type": "Status"},
            {"id": f"{i}2", "Type": "Correspond"}])
        routes[f"{BASE}/ticket/{i}/attachments"] = hidden_total([
            {"id": f"{i}00", "TransactionId": f"{i}0", "ContentType": "text/plain",
             "Content": "seen"},
            {"id": f"{i}02", "TransactionId": f"{i}2", "ContentType": "text/plain",
             "Content": f"fixed {i}"}])
    return routes


def test_hidden_total_pages_until_an_empty_page() -> None:
    """Every visible ticket and the whole history are read although RT gives no page
    count and the first search page is short (ticket 2 is not visible)."""
    with fake_server(rt_routes(5)) as server:
        tickets = RTConnector(server.url, user="svc", password="pw", page_size=2).pull()
    assert [t.id for t in tickets] == ["rt-1", "rt-3", "rt-4", "rt-5"]
    assert [t.resolution for t in tickets] == ["fixed 1", "fixed 3", "fixed 4", "fixed 5"]
    assert all(t.description == "seen" for t in tickets)


def test_server_ignoring_page_is_refused_not_looped_on() -> None:
    def same_page(request: Request) -> dict[str, Any]:
        return {"page": 1, "per_page": 2, "total": None, "pages": None,
                "items": [{"id": "10", "Type": "Create"}, {"id": "11", "Type": "Comment"}]}

    routes = rt_routes(1)
    routes[f"{BASE}/ticket/1/history"] = same_page
    with fake_server(routes) as server, pytest.raises(
            TicketSourceError, match=r"ticket 1 history, page 2\): the page repeats items "
                                     "already read; the server ignores the page parameter"):
        RTConnector(server.url, user="svc", password="pw", page_size=2).pull()
