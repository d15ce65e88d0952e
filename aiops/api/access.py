"""Access tokens for the API and the incident view (``AIOPS_API_TOKENS_FILE``).

Why the engine checks tokens itself: until now it had no authentication and the docs
said to put a proxy in front. A proxy that authenticates is still the way to single
sign-on, but the engine's clients are mostly machines (Alertmanager, Zabbix's media
type, the listeners' forwarders, ITSM bots, playbook buttons), and each should hold
a credential of its own, allowed only what it does: a read-only dashboard cannot start
a playbook, a syslog forwarder cannot merge incidents.

The tokens file holds one token per line, ``NAME SCOPES SHA256 [expires=WHEN]``
(scopes comma-separated from ``read``, ``ingest``, ``operate``; ``#`` starts a comment;
WHEN a date, meaning the start of that day in UTC, or an RFC 3339 time, UTC when it
has no offset). Only the SHA-256 of a token is stored, so the file does not give the
tokens away; ``aiops tokens new`` makes a token and prints its line. A token that
expires limits the harm of one that leaked unnoticed and makes rotation a date rather
than a chore remembered; a line without the field never expires, as before. The
server reads the file again when it changes (``TokensFile``), so adding, renewing or
revoking a token needs no restart.

A request carries the token as ``Authorization: Bearer TOKEN`` or as the password of
HTTP Basic (any user name), which is what a browser asks for when it opens the incident
view and what Alertmanager's ``basic_auth`` sends. ``/api/v1/health`` stays open, for
load balancers.

What each scope allows (``required_scope``): ``read`` every GET; ``ingest`` posting
alerts and webhooks; ``operate`` the operator's actions (merge, split, playbook runs).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import re
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from flask import Flask, Response, g, jsonify, render_template, request

from aiops.timeutil import to_rfc3339

log = logging.getLogger(__name__)

SCOPES = ("read", "ingest", "operate")
OPEN_PATHS = frozenset({"/api/v1/health"})
INGEST_PATH = re.compile(r"^/api/v1/(alerts|webhooks/[^/]+)$")
MAX_FILE_BYTES = 1024 * 1024
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
_HASH = re.compile(r"^[0-9a-f]{64}$")
# The expiry field: a date, or an RFC 3339 time with an optional offset (ASCII digits:
# '\d' takes any script's, which fromisoformat would then read).
_EXPIRES = re.compile(r"^expires=([0-9]{4}-[0-9]{2}-[0-9]{2}"
                      r"(?:[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?"
                      r"(?:[Zz]|[+-][0-9]{2}:[0-9]{2})?)?)$")
_FIELDS = "'NAME SCOPES SHA256 [expires=WHEN]'"


@dataclass(frozen=True, slots=True)
class Token:
    """Who a presented token says the caller is, and what it may do."""

    name: str
    scopes: frozenset[str]
    expires: float | None = None  # epoch seconds (UTC); None: never

    def expired(self, now: float) -> bool:
        """Whether the token no longer works at ``now``: from its expiry instant on, so
        ``expires=2027-01-01`` is refused all of that day."""
        return self.expires is not None and now >= self.expires


class AccessTokens:
    """The tokens of one file, looked up by the SHA-256 of what a request presents."""

    def __init__(self, tokens: dict[str, Token]):
        self._by_hash = tokens

    def __len__(self) -> int:
        return len(self._by_hash)

    def __iter__(self) -> Iterator[Token]:
        """The tokens in the file's order."""
        return iter(self._by_hash.values())

    def find(self, presented: str) -> Token | None:
        """The token ``presented`` is, or None, by a dict look-up of its digest. Its
        timing could at most hint at how a wrong token's digest relates to a stored one
        (CPython compares the strings only once their keyed 64-bit hashes match), and a
        stored digest, even known whole, does not give the token: finding a token with
        a given SHA-256 is a preimage search, and ``aiops tokens new`` makes tokens of
        256 random bits. The constant-time loop over every stored hash this replaces
        cost each request one comparison per token (73 us at 1,000 tokens)."""
        digest = hashlib.sha256(presented.encode("utf-8", "surrogatepass")).hexdigest()
        return self._by_hash.get(digest)


def token_hash(token: str) -> str:
    """What the tokens file stores of ``token``."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_line(name: str, scopes: Iterable[str], token: str,
               expires: str | None = None) -> str:
    """The tokens file's line for ``token``; ``expires`` is the field's text after
    ``expires=`` (a date or an RFC 3339 time), written as given."""
    line = f"{name} {','.join(scopes)} {token_hash(token)}"
    return f"{line} expires={expires}" if expires else line


def parse_expiry(field: str, where: str) -> float:
    """The instant of an ``expires=WHEN`` field; ValueError naming ``where`` and the
    field otherwise. A date is the start of that day in UTC, a time without an offset
    is UTC: a file shared between servers must not mean one instant here and another
    there."""
    match = _EXPIRES.match(field)
    try:
        if match is None:
            raise ValueError
        instant = datetime.fromisoformat(match[1].upper())  # 2027-02-30: ValueError
        if instant.tzinfo is None:
            instant = instant.replace(tzinfo=UTC)
        instant = instant.astimezone(UTC)  # past 9999-12-31 in UTC: OverflowError
    except (ValueError, OverflowError):
        raise ValueError(f"{where}: the fourth field must be expires=YYYY-MM-DD or "
                         f"expires=RFC 3339 time (UTC when no offset); got {field!r}") \
            from None
    return instant.timestamp()


def parse_scopes(text: str, where: str) -> frozenset[str]:
    """``read,ingest`` as a set; ValueError naming ``where`` and the unknown scope."""
    scopes = frozenset(s.strip() for s in text.split(",") if s.strip())
    unknown = sorted(scopes - set(SCOPES))
    if not scopes or unknown:
        raise ValueError(f"{where}: unknown scope {unknown[0]!r}; scopes are "
                         f"{', '.join(SCOPES)}" if unknown else f"{where}: no scope given")
    return scopes


def check_name(name: str, where: str) -> str:
    if not _NAME.match(name):
        raise ValueError(f"{where}: a token's name is 1-64 letters, digits, '_', '.', '@' "
                         f"or '-', starting with a letter or digit; got {name!r}")
    return name


def load_tokens(path: str | Path) -> AccessTokens:
    """The tokens of ``path``; ValueError naming the file and line of anything wrong
    (so ``aiops serve`` stops before serving with fewer tokens than meant)."""
    file = Path(path)
    try:
        if file.stat().st_size > MAX_FILE_BYTES:
            raise ValueError(f"AIOPS_API_TOKENS_FILE {file}: larger than "
                             f"{MAX_FILE_BYTES} bytes")
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"AIOPS_API_TOKENS_FILE {file}: cannot be read "
                         f"({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise ValueError(f"AIOPS_API_TOKENS_FILE {file}: not UTF-8 text") from None
    tokens: dict[str, Token] = {}
    line_of_name: dict[str, int] = {}
    line_of_hash: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        where = f"AIOPS_API_TOKENS_FILE {file}, line {number}"
        parts = line.split()
        if len(parts) not in (3, 4):
            raise ValueError(f"{where}: expected {_FIELDS}, got {len(parts)} fields")
        name, scopes, digest = parts[:3]
        check_name(name, where)
        if not _HASH.match(digest):
            raise ValueError(f"{where}: the third field must be the token's SHA-256 in "
                             "64 lower-case hex digits (aiops tokens new prints the line)")
        expires = parse_expiry(parts[3], where) if len(parts) == 4 else None
        if name in line_of_name:
            raise ValueError(f"{where}: token name {name!r} is on line "
                             f"{line_of_name[name]} already")
        if digest in line_of_hash:
            # Two names for one token: which one a request acts as would be arbitrary.
            raise ValueError(f"{where}: the same token (SHA-256) as line "
                             f"{line_of_hash[digest]} ({tokens[digest].name!r})")
        line_of_name[name] = line_of_hash[digest] = number
        tokens[digest] = Token(name, parse_scopes(scopes, where), expires)
    if not tokens:
        raise ValueError(f"AIOPS_API_TOKENS_FILE {file}: holds no token; every request "
                         "would be refused")
    return AccessTokens(tokens)


class TokensFile:
    """The tokens of a file as it is now: read again at the first request after its
    modification time, size or inode changed (one ``stat`` per request), so adding,
    renewing or revoking a token needs no restart.

    Why a file that fails to read keeps the tokens read before: an editor saving in
    place can be caught half-written, and a typo should not lock every client out; the
    error is logged once per change and the next save is read again. At start there is
    nothing read before, so a wrong file stops the server (``load_tokens`` raises).
    A save of the same size within the file system's timestamp tick (milliseconds) of
    the change read last is seen at the next change: ``touch`` the file to be sure."""

    def __init__(self, path: str | Path):
        self._path = Path(path)
        self._lock = threading.Lock()
        self._seen = self._stamp()  # before reading: a change during the read is seen
        self._tokens = load_tokens(self._path)

    def _stamp(self) -> tuple[int, int, int] | None:
        try:
            status = self._path.stat()
        except OSError:
            return None
        return status.st_mtime_ns, status.st_size, status.st_ino

    def current(self) -> AccessTokens:
        """The tokens to check a request against, read again if the file changed."""
        stamp = self._stamp()
        if stamp == self._seen:
            return self._tokens
        with self._lock:  # one reader per change, however many requests wait
            if stamp != self._seen:
                self._seen = stamp
                try:
                    self._tokens = load_tokens(self._path)
                    log.info("AIOPS_API_TOKENS_FILE %s changed: %d tokens now",
                             self._path, len(self._tokens))
                except ValueError as exc:
                    count = len(self._tokens)
                    log.error("%s; still using the %d token%s read before", exc, count,
                              "" if count == 1 else "s")
        return self._tokens


def required_scope(method: str, path: str) -> str | None:
    """The scope a request needs; None for what is open to all."""
    if path in OPEN_PATHS:
        return None
    if method in ("GET", "HEAD", "OPTIONS"):
        return "read"
    if INGEST_PATH.match(path):
        return "ingest"
    return "operate"


def presented_token() -> str | None:
    """The token of the request's ``Authorization`` header (Bearer, or Basic's
    password), or None."""
    header = request.headers.get("Authorization", "")
    kind, _, value = header.partition(" ")
    value = value.strip()
    if kind.lower() == "bearer" and value:
        return value
    if kind.lower() == "basic" and value:
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        _user, sep, password = decoded.partition(":")
        return password if sep and password else None
    return None


def current_token() -> Token | None:
    """The token the current request authenticated with (None with no tokens file)."""
    return g.get("aiops_token")


def acting_as(given: str | None) -> str | None:
    """Who an operator's action is recorded as: the name the request gives
    (``requested_by``, ``author``: a chat bot names the engineer), else the name of the
    token it authenticated with, so the audit trail is never blank behind tokens."""
    if given is not None:
        return given
    token = current_token()
    return token.name if token else None


def install(app: Flask, tokens: TokensFile) -> None:
    """Refuse every request without a token allowed to make it."""

    @app.before_request
    def _check_token() -> tuple[Response | str, int] | None:
        scope = required_scope(request.method, request.path)
        if scope is None:
            return None
        presented = presented_token()
        token = tokens.current().find(presented) if presented else None
        if token is None:
            reason = ("no token given: send Authorization: Bearer TOKEN (or the token as "
                      "the password of HTTP Basic)" if presented is None
                      else "the token given is not one of AIOPS_API_TOKENS_FILE's")
            return _refusal(401, reason)
        if token.expired(time.time()):
            # Its name and instant, never the token: the holder learns what to renew.
            return _refusal(401, f"token {token.name!r} expired at "
                                 f"{to_rfc3339(token.expires)}; ask for a new one "
                                 "(aiops tokens new)", expired=True)
        if scope not in token.scopes:
            return _refusal(403, f"token {token.name!r} may {', '.join(sorted(token.scopes))}"
                                 f"; this request needs the scope {scope!r}")
        g.aiops_token = token
        return None


def _refusal(status: int, message: str,
             expired: bool = False) -> tuple[Response | str, int]:
    """JSON under /api/, a page elsewhere; a 401 says how to authenticate, so a browser
    asks for the token (as the password) rather than showing an error. For an expired
    token a Bearer challenge follows with RFC 6750's ``invalid_token`` and the message,
    so a client that shows only the headers says why too."""
    if request.path.startswith("/api/"):
        response = jsonify({"error": {"status": status, "message": message}})
    else:
        heading = "Sign in" if status == 401 else "Not allowed"
        response = Response(render_template("not_found.html", heading=heading,
                                            message=message), mimetype="text/html")
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Basic realm="aiops", charset="UTF-8"'
    if expired:
        response.headers.add("WWW-Authenticate", 'Bearer realm="aiops", error="invalid_token"'
                             f', error_description="{message}"')
    return response, status
