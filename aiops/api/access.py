"""Access tokens for the API and the incident view (``AIOPS_API_TOKENS_FILE``).

Why the engine checks tokens itself: until now it had no authentication and the docs
said to put a proxy in front. People may also sign in by OpenID Connect
(aiops/api/oidc.py, whose sessions this module's hook admits), but the engine's clients
are mostly machines (Alertmanager, Zabbix's media
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
server reads the file again when it changes (``tokens_reload.TokensFile``), so adding,
renewing or revoking a token needs no restart; a save with a wrong line still applies
the revocations it makes (``read_tokens`` returns the good lines and the errors
apart). Tokens that expire within 7 days are logged at each read of the file, or at
their first request once they get that close, and answers to them carry
``Aiops-Token-Expires``: an expiry nobody hears of is an outage on a date.

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
from typing import TYPE_CHECKING

from flask import Flask, Response, g, jsonify, render_template, request

from aiops.timeutil import to_rfc3339

if TYPE_CHECKING:
    from aiops.api.oidc import SignOn
    from aiops.api.tokens_reload import TokensFile

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


EXPIRY_WARNING_SECONDS = 7 * 86400  # the server warns of a token expiring this soon


class AccessTokens:
    """The tokens of one read of the file, looked up by the SHA-256 of what a request
    presents; it also remembers which tokens it has warned of as expiring soon, so
    the warning comes once per token and read of the file."""

    def __init__(self, tokens: dict[str, Token]):
        self._by_hash = tokens
        self._warned: set[str] = set()  # names: a token's warning, once per read
        self._warn_lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._by_hash)

    def __iter__(self) -> Iterator[Token]:
        """The tokens in the file's order."""
        return iter(self._by_hash.values())

    def by_hash(self) -> dict[str, Token]:
        """A copy of the tokens by their SHA-256 (what a changed file is compared with)."""
        return dict(self._by_hash)

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

    def warn_of_expiry(self, now: float) -> None:
        """Log a warning for every token expired or expiring within
        ``EXPIRY_WARNING_SECONDS`` (at start and after each read of the file)."""
        for token in self._by_hash.values():
            if token.expires is not None and token.expires - now <= EXPIRY_WARNING_SECONDS:
                self._warn(token, now)

    def note_use(self, token: Token, now: float) -> None:
        """Warn, once, that a token a request was let in with expires soon: for a token
        that entered the window since the file was read. Two comparisons and a set
        look-up per request; nothing is read."""
        if (token.expires is not None and token.expires - now <= EXPIRY_WARNING_SECONDS
                and token.name not in self._warned):
            self._warn(token, now)

    def _warn(self, token: Token, now: float) -> None:
        with self._warn_lock:
            if token.name in self._warned:
                return
            self._warned.add(token.name)
        # Its name and instant, never the token (nor its digest).
        if token.expired(now):
            log.warning("AIOPS_API_TOKENS_FILE: token %r expired at %s; requests with it "
                        "are refused", token.name, to_rfc3339(token.expires))
        else:
            log.warning("AIOPS_API_TOKENS_FILE: token %r expires at %s (in %s); give its "
                        "holder a new one (aiops tokens new) before then", token.name,
                        to_rfc3339(token.expires), time_left(token.expires - now))


def time_left(seconds: float) -> str:
    """``12 days``, ``30 hours`` (under two days), ``less than an hour``: how soon a
    token expires, whole units rounded down so it never reads later than it is."""
    if seconds >= 2 * 86400:
        return f"{int(seconds // 86400)} days"
    if seconds >= 3600:
        hours = int(seconds // 3600)
        return f"{hours} hour{'' if hours == 1 else 's'}"
    return "less than an hour"


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


@dataclass(frozen=True, slots=True)
class TokensRead:
    """What a tokens file says: the tokens of its well-formed lines, and one message per
    wrong line (or one for a file that cannot be read at all), naming file and line.
    Why both rather than the first error: at start any error stops the server
    (``load_tokens``), but on a change the server still applies what the wrong lines
    cannot undo, so a revocation saved with a typo elsewhere takes effect
    (``tokens_reload.carry_over``)."""

    tokens: dict[str, Token]  # by SHA-256, in the file's order
    errors: tuple[str, ...]
    absent: bool = False  # no such file, it cannot be opened, or it is empty (0 bytes)


def read_tokens(path: str | Path) -> TokensRead:
    """Every line of ``path`` read: the good ones as tokens, the wrong ones as errors.
    Two lines naming one token, or one name twice, are errors on the later line and
    hold no token at all, neither line's: which of them the operator meant cannot be
    known, and a token nobody can vouch for is refused (fail closed). A file without
    any token is an error too."""
    file = Path(path)
    try:
        if file.stat().st_size > MAX_FILE_BYTES:
            return TokensRead({}, (f"AIOPS_API_TOKENS_FILE {file}: larger than "
                                   f"{MAX_FILE_BYTES} bytes",))
        # surrogateescape: a byte that is not UTF-8 makes its own line wrong, not all.
        text = file.read_text(encoding="utf-8", errors="surrogateescape")
    except OSError as exc:
        return TokensRead({}, (f"AIOPS_API_TOKENS_FILE {file}: cannot be read "
                               f"({exc.strerror or exc})",), absent=True)
    tokens: dict[str, Token] = {}
    errors: list[str] = []
    line_of_name: dict[str, tuple[int, str]] = {}  # name -> (line, digest)
    line_of_hash: dict[str, tuple[int, str]] = {}  # digest -> (line, name)
    doubtful: set[str] = set()  # digests of lines in conflict with another line
    for number, raw in enumerate(text.splitlines(), 1):
        where = f"AIOPS_API_TOKENS_FILE {file}, line {number}"
        try:
            entry = _parse_line(raw, where)
        except ValueError as exc:
            errors.append(str(exc))
            continue
        if entry is None:
            continue
        digest, token = entry
        if token.name in line_of_name:
            first, first_digest = line_of_name[token.name]
            errors.append(f"{where}: token name {token.name!r} is on line {first} already")
            doubtful.update((first_digest, digest))
            continue
        if digest in line_of_hash:
            # Two names for one token: which one a request acts as would be arbitrary.
            first, first_name = line_of_hash[digest]
            errors.append(f"{where}: the same token (SHA-256) as line {first} "
                          f"({first_name!r})")
            doubtful.add(digest)
            continue
        line_of_name[token.name] = (number, digest)
        line_of_hash[digest] = (number, token.name)
        tokens[digest] = token
    kept = {digest: token for digest, token in tokens.items() if digest not in doubtful}
    if not kept and not errors:
        errors.append(f"AIOPS_API_TOKENS_FILE {file}: holds no token; every request "
                      "would be refused")
    return TokensRead(kept, tuple(errors), absent=not text)


def _parse_line(raw: str, where: str) -> tuple[str, Token] | None:
    """One line's digest and token; None for a blank or comment line; ValueError
    naming ``where`` and the field otherwise."""
    try:
        raw.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{where}: not UTF-8 text") from None
    line = raw.split("#", 1)[0].strip()
    if not line:
        return None
    parts = line.split()
    if len(parts) not in (3, 4):
        raise ValueError(f"{where}: expected {_FIELDS}, got {len(parts)} fields")
    name, scopes, digest = parts[:3]
    check_name(name, where)
    if not _HASH.match(digest):
        raise ValueError(f"{where}: the third field must be the token's SHA-256 in "
                         "64 lower-case hex digits (aiops tokens new prints the line)")
    expires = parse_expiry(parts[3], where) if len(parts) == 4 else None
    return digest, Token(name, parse_scopes(scopes, where), expires)


def load_tokens(path: str | Path) -> AccessTokens:
    """The tokens of ``path``; ValueError naming the file and the first line that is
    wrong (so ``aiops serve`` stops before serving with fewer tokens than meant, and
    ``aiops tokens check`` refuses the file)."""
    read = read_tokens(path)
    if read.errors:
        raise ValueError(read.errors[0])
    return AccessTokens(read.tokens)


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
    """Who an operator's action is recorded as: the user signed in by single sign-on
    (aiops/api/oidc.py), whatever the request says; else the name the request gives
    (``requested_by``, ``author``: a chat bot names the engineer), else the name of the
    token it authenticated with, so the audit trail is never blank behind tokens."""
    signed_in = g.get("aiops_session")
    if signed_in is not None:  # the view's user, signed in: not a name typed in a box
        return signed_in.user
    if given is not None:
        return given
    token = current_token()
    return token.name if token else None


def install(app: Flask, tokens: TokensFile | None, sign_on: SignOn | None = None) -> None:
    """Refuse every request without a token allowed to make it, or, with single sign-on
    (``sign_on``), without a session allowed to: a request that presents a token is
    judged by the token alone, as before."""

    @app.before_request
    def _check_token() -> tuple[Response | str, int] | Response | None:
        scope = required_scope(request.method, request.path)
        if scope is None:
            return None
        if sign_on is not None and request.path.startswith("/auth/"):
            return None  # signing in and out: open, they check what they are sent
        presented = presented_token()
        if presented is None and sign_on is not None:
            return sign_on.admit(scope)
        current = tokens.current() if tokens is not None else None
        token = current.find(presented) if presented and current is not None else None
        if token is None:
            reason = ("no token given: send Authorization: Bearer TOKEN (or the token as "
                      "the password of HTTP Basic)" if presented is None
                      else "the token given is not one of AIOPS_API_TOKENS_FILE's")
            return refusal(401, reason)
        assert current is not None
        now = time.time()
        if token.expired(now):
            # Its name and instant, never the token: the holder learns what to renew.
            return refusal(401, f"token {token.name!r} expired at "
                                f"{to_rfc3339(token.expires)}; ask for a new one "
                                "(aiops tokens new)", expired=True)
        if scope not in token.scopes:
            return refusal(403, f"token {token.name!r} may {', '.join(sorted(token.scopes))}"
                                f"; this request needs the scope {scope!r}")
        current.note_use(token, now)
        g.aiops_token = token
        return None

    @app.after_request
    def _say_when_the_token_expires(response: Response) -> Response:
        """``Aiops-Token-Expires`` on a successful answer to a request whose token
        expires within ``EXPIRY_WARNING_SECONDS``: a client that logs headers tells
        its owner before the 401s start, where the server's log reaches only the
        engine's operator."""
        token = g.get("aiops_token")
        if (token is not None and token.expires is not None and response.status_code < 400
                and token.expires - time.time() <= EXPIRY_WARNING_SECONDS):
            response.headers["Aiops-Token-Expires"] = str(to_rfc3339(token.expires))
        return response


def refusal(status: int, message: str, expired: bool = False,
            basic: bool = True) -> tuple[Response | str, int]:
    """JSON under /api/, a page elsewhere; a 401 says how to authenticate, so a browser
    asks for the token (as the password) rather than showing an error (``basic``
    False: not when the view signs in by single sign-on, where the browser's own
    password dialog would only confuse). For an expired token a Bearer challenge
    follows with RFC 6750's ``invalid_token`` and the message, so a client that shows
    only the headers says why too."""
    if request.path.startswith("/api/"):
        response = jsonify({"error": {"status": status, "message": message}})
    else:
        heading = "Sign in" if status == 401 else "Not allowed"
        response = Response(render_template("not_found.html", heading=heading,
                                            message=message), mimetype="text/html")
    response.status_code = status
    if status == 401 and basic:
        response.headers["WWW-Authenticate"] = 'Basic realm="aiops", charset="UTF-8"'
    if expired:
        response.headers.add("WWW-Authenticate", 'Bearer realm="aiops", error="invalid_token"'
                             f', error_description="{message}"')
    return response, status
