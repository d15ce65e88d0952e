"""What the ticket connectors share: JSON over HTTP with errors a person can act on.

ITSM systems fail in a handful of ways that matter to whoever runs ``aiops tickets
pull``: wrong credentials (401), missing permission (403), a URL that is not the
API (404, HTML instead of JSON), a server that goes away between two pages, or a
page so large it would exhaust memory. Each becomes one ``TicketSourceError`` whose
message names the system, the URL and what to do. Connectors collect every page
before returning, so a failure mid-way leaves nothing half-stored.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import requests

from aiops.jsontext import MalformedJson, parse_json
from aiops.models import Ticket

DEFAULT_TIMEOUT = 30.0  # seconds per request (connect and read)
DEFAULT_MAX_BYTES = 32 * 1024 * 1024  # one page of JSON at most; more is refused
DEFAULT_MAX_TICKETS = 200_000  # one pull at most: bounds memory, and a runaway pager
USER_AGENT = "aiops-engine ticket connector"

_STATUS_HINTS = {
    401: "authentication failed: check the user name and password or the token",
    403: "permission denied: the account may not read these records",
    404: "not found: check the base URL (it should be the system's root, not a page in it)",
    429: "rate limited by the server: try again later or lower the page size",
}


class TicketSourceError(RuntimeError):
    """A ticket system could not be read; the message says which, where and why."""


@dataclass(frozen=True)
class Credentials:
    """How to authenticate: user and password (basic), or a token with its scheme."""

    user: str | None = None
    password: str | None = None
    token: str | None = None
    token_scheme: str = "Bearer"

    def apply(self, session: requests.Session) -> None:
        if self.token:
            session.headers["Authorization"] = f"{self.token_scheme} {self.token}"
        elif self.user is not None:
            session.auth = (self.user, self.password or "")


class JsonClient:
    """GETs JSON documents from one base URL with bounded size and time."""

    def __init__(self, system: str, base_url: str, credentials: Credentials | None = None,
                 timeout: float = DEFAULT_TIMEOUT, max_bytes: int = DEFAULT_MAX_BYTES,
                 verify: bool | str = True):
        base_url, url_auth = split_userinfo(base_url)
        if not base_url.startswith(("http://", "https://")):
            raise TicketSourceError(f"{system}: base URL must start with http:// or https://, "
                                    f"got {base_url!r}")
        self.system = system
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.session = requests.Session()
        self.session.headers["Accept"] = "application/json"
        self.session.headers["User-Agent"] = USER_AGENT
        self.session.verify = verify
        (credentials or Credentials()).apply(self.session)
        if url_auth and self.session.auth is None \
                and "Authorization" not in self.session.headers:
            self.session.auth = url_auth  # as requests would take them from the URL

    def url(self, path: str) -> str:
        """``path`` relative to the base URL; absolute URLs (next-page links) pass through."""
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.base_url}/{path.lstrip('/')}"

    def get(self, path: str, params: Mapping[str, Any] | None = None,
            what: str = "") -> Any:
        """The decoded JSON body of ``GET path``; TicketSourceError on any failure."""
        return self.get_with_links(path, params, what)[0]

    def get_with_links(self, path: str, params: Mapping[str, Any] | None = None,
                       what: str = "") -> tuple[Any, dict[str, str]]:
        """``get`` with the answer's ``Link`` header as rel → URL (empty without one):
        the pager a server such as ServiceNow says its paging through."""
        url = self.url(path)
        where = f"{self.system} {url}" + (f" ({what})" if what else "")
        try:
            response = self.session.get(url, params=params, timeout=self.timeout, stream=True)
        except requests.exceptions.SSLError as exc:
            raise TicketSourceError(f"{where}: TLS failed: {exc}") from None
        except requests.exceptions.Timeout:
            raise TicketSourceError(f"{where}: no answer within {self.timeout:g} s") from None
        except requests.exceptions.ConnectionError as exc:
            raise TicketSourceError(f"{where}: cannot connect or connection lost: "
                                    f"{_short(exc)}") from None
        with response:
            body = self._read_body(response, where)
        if response.status_code >= 400:
            hint = _STATUS_HINTS.get(response.status_code, "the server refused the request")
            raise TicketSourceError(f"{where}: HTTP {response.status_code}: {hint}"
                                    f"{_server_says(body)}")
        links = {str(rel): str(link.get("url", ""))
                 for rel, link in response.links.items()}
        try:
            # parse_json: besides decode errors, an answer nested too deeply or holding a
            # 5,000-digit number was a traceback, and a lone surrogate escape reached the
            # ticket store, which failed encoding it.
            return parse_json(body.decode("utf-8-sig")), links
        except UnicodeDecodeError:
            raise TicketSourceError(f"{where}: the answer is not UTF-8 JSON") from None
        except MalformedJson as exc:
            kind = response.headers.get("Content-Type", "unknown type")
            said = f"; Content-Type {kind}" if exc.position is not None else ""
            raise TicketSourceError(f"{where}: the answer is not valid JSON ({exc.reason}"
                                    f"{said})") from None

    def _read_body(self, response: requests.Response, where: str) -> bytes:
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > self.max_bytes:
            raise TicketSourceError(f"{where}: the page is {int(declared):,} bytes, over the "
                                    f"limit of {self.max_bytes:,}; lower the page size")
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in response.iter_content(chunk_size=65536):
                size += len(chunk)
                if size > self.max_bytes:
                    raise TicketSourceError(f"{where}: the page is over the limit of "
                                            f"{self.max_bytes:,} bytes; lower the page size")
                chunks.append(chunk)
        except (requests.exceptions.ConnectionError,
                requests.exceptions.ChunkedEncodingError) as exc:
            raise TicketSourceError(f"{where}: connection lost while reading the answer: "
                                    f"{_short(exc)}") from None
        except requests.exceptions.Timeout:
            raise TicketSourceError(f"{where}: the answer stalled for over "
                                    f"{self.timeout:g} s") from None
        return b"".join(chunks)

    def close(self) -> None:
        self.session.close()


@dataclass(frozen=True)
class PagingWords:
    """How a connector's refusals name its paging: "the page at offset 500 repeats
    records already read; the server ignores sysparm_offset", "more than 200,000 tickets
    match; narrow the query"."""

    position: str  # "offset", "startAt"
    records: str  # what a page holds: "records", "issues"
    parameter: str  # the paging parameter the server ignored
    matches: str  # what is counted against the limit: "tickets", "issues"
    query: str  # what to narrow: "the query", "the JQL"


class TicketConnector(ABC):
    """What every ticket connector shares: a JSON client on the system's API with the
    caller's credentials, the page size, the pull limit, and a ``pull`` that closes the
    client however it ends. A subclass names its system and implements ``fetch``."""

    name = ""  # entry-point name (aiops.connectors)
    system = ""  # the name in messages

    def __init__(self, base_url: str, credentials: Credentials, *, page_size: int,
                 timeout: float = DEFAULT_TIMEOUT, max_bytes: int = DEFAULT_MAX_BYTES,
                 max_tickets: int = DEFAULT_MAX_TICKETS):
        self.client = JsonClient(self.system, base_url, credentials, timeout=timeout,
                                 max_bytes=max_bytes)
        self.page_size = max(1, page_size)
        self.max_tickets = max_tickets

    @abstractmethod
    def fetch(self) -> list[Ticket]:
        """Every matching ticket, validated; raises TicketSourceError on any failure."""

    def pull(self) -> list[Ticket]:
        """Every matching ticket; nothing is returned if any request fails."""
        try:
            return self.fetch()
        finally:
            self.client.close()

    def collect(self, pages: Iterable[tuple[int, list[Any]]],
                parse: Callable[[Any, int], Ticket], words: PagingWords) -> list[Ticket]:
        """The tickets of all ``pages`` ((position, records)) by id, a record read again
        replacing the first; ``parse(record, position)``. A page of nothing but records
        already read means the server ignores the paging parameter: refused rather than
        looped on; so is a pull over ``max_tickets``."""
        found: dict[str, Ticket] = {}
        for position, records in pages:
            fresh = 0
            for i, record in enumerate(records):
                ticket = parse(record, position + i)
                fresh += ticket.id not in found
                found[ticket.id] = ticket
            if records and not fresh:
                raise TicketSourceError(
                    f"{self.system}: the page at {words.position} {position} repeats "
                    f"{words.records} already read; the server ignores {words.parameter}")
            if len(found) > self.max_tickets:
                raise TicketSourceError(f"{self.system}: more than {self.max_tickets:,} "
                                        f"{words.matches} match; narrow {words.query} or "
                                        "use --since")
        return list(found.values())


def split_userinfo(url: str) -> tuple[str, tuple[str, str] | None]:
    """``url`` without a ``user:password@`` part, and that user and password (None
    without one). Why: requests authenticates with credentials written in the URL,
    and every error message names the URL, so they would be printed with it."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None
    clean = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    return clean, (unquote(parts.username or ""), unquote(parts.password or ""))


def _short(what: object) -> str:
    """At most 200 characters of an error or a server's message."""
    text = str(what)
    return text if len(text) <= 200 else text[:200] + "…"


def _server_says(body: bytes) -> str:
    """The error text of a JSON error body, if there is one (ServiceNow, Jira, RT all send one)."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return ""
    message: Any = None
    if isinstance(doc, dict):
        error = doc.get("error")
        if isinstance(error, dict):
            message = error.get("message") or error.get("detail")
        elif isinstance(error, str):
            message = error
        message = message or doc.get("message") or doc.get("errorMessages")
    if isinstance(message, list):
        message = "; ".join(str(m) for m in message)
    return f" (server says: {_short(message)})" if message else ""


def require(condition: bool, message: str) -> None:
    """Raise TicketSourceError(message) unless ``condition``: a payload shape check."""
    if not condition:
        raise TicketSourceError(message)
