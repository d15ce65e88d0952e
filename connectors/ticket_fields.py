"""Turning one foreign ticket record into a canonical ``Ticket``, with the record named.

Every connector builds a canonical dict (CONTRACTS.md §5) and validates it with
``aiops.models.parse_ticket``, so a ticket from ServiceNow is held to exactly the
rules of one from a file; a refusal names the system, the record and the field.
"""

from __future__ import annotations

import re
from typing import Any

from aiops.errors import InputError
from aiops.models import Ticket, parse_ticket
from connectors.ticket_http import TicketSourceError

_ID_SPLIT = re.compile(r"[\s,;]+")


def canonical_ticket(record: dict[str, Any], where: str) -> Ticket:
    """Validate a canonical dict built from a foreign record; errors name ``where``."""
    try:
        return parse_ticket({k: v for k, v in record.items() if v is not None})
    except InputError as exc:
        raise TicketSourceError(f"{where}: {exc.detail}") from None


def split_ids(value: Any) -> list[str]:
    """Alert ids as systems store them: a list, or one string separated by commas,
    semicolons or white space."""
    if value is None:
        return []
    if isinstance(value, list):
        out: list[str] = []
        for item in value:
            out.extend(split_ids(item))
        return out
    return [part for part in _ID_SPLIT.split(str(value)) if part]


def text_or_none(value: Any) -> str | None:
    """A non-empty stripped string, or None (empty strings mean 'not set' in ITSM APIs)."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def clip(text: str | None, limit: int = 8192) -> str | None:
    """Long ITSM texts cut to the canonical limit, marked, instead of refusing the ticket."""
    if text is None or len(text) <= limit:
        return text
    return text[:limit - 1] + "…"
