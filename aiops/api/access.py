"""Access tokens for the API and the incident view (``AIOPS_API_TOKENS_FILE``).

Why the engine checks tokens itself: until now it had no authentication and the docs
said to put a proxy in front. A proxy that authenticates is still the way to single
sign-on, but the engine's clients are mostly machines (Alertmanager, Zabbix's media
type, the listeners' forwarders, ITSM bots, playbook buttons), and each should hold
a credential of its own, allowed only what it does: a read-only dashboard cannot start
a playbook, a syslog forwarder cannot merge incidents.

The tokens file holds one token per line, ``NAME SCOPES SHA256`` (scopes
comma-separated from ``read``, ``ingest``, ``operate``; ``#`` starts a comment). Only the
SHA-256 of a token is stored, so the file does not give the tokens away;
``aiops tokens new`` makes a token and prints its line. A request carries the token as
``Authorization: Bearer TOKEN`` or as the password of HTTP Basic (any user name), which
is what a browser asks for when it opens the incident view and what Alertmanager's
``basic_auth`` sends. ``/api/v1/health`` stays open, for load balancers.

What each scope allows (``required_scope``): ``read`` every GET; ``ingest`` posting
alerts and webhooks; ``operate`` the operator's actions (merge, split, playbook runs).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from flask import Flask, Response, g, jsonify, render_template, request

SCOPES = ("read", "ingest", "operate")
OPEN_PATHS = frozenset({"/api/v1/health"})
INGEST_PATH = re.compile(r"^/api/v1/(alerts|webhooks/[^/]+)$")
MAX_FILE_BYTES = 1024 * 1024
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
_HASH = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True, slots=True)
class Token:
    """Who a presented token says the caller is, and what it may do."""

    name: str
    scopes: frozenset[str]


class AccessTokens:
    """The tokens of one file, looked up by the SHA-256 of what a request presents."""

    def __init__(self, tokens: dict[str, Token]):
        self._by_hash = tokens

    def __len__(self) -> int:
        return len(self._by_hash)

    def find(self, presented: str) -> Token | None:
        """The token ``presented`` is, or None. The digest of a wrong token is compared
        with every stored one in constant time, so timing does not tell how close it
        came (a dict lookup would stop at the first differing byte of a hash)."""
        digest = hashlib.sha256(presented.encode("utf-8", "surrogatepass")).hexdigest()
        found = None
        for stored, token in self._by_hash.items():
            if hmac.compare_digest(stored, digest):
                found = token
        return found


def token_hash(token: str) -> str:
    """What the tokens file stores of ``token``."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_line(name: str, scopes: Iterable[str], token: str) -> str:
    """The tokens file's line for ``token``."""
    return f"{name} {','.join(scopes)} {token_hash(token)}"


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
    names: set[str] = set()
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        where = f"AIOPS_API_TOKENS_FILE {file}, line {number}"
        parts = line.split()
        if len(parts) != 3:
            raise ValueError(f"{where}: expected 'NAME SCOPES SHA256', got "
                             f"{len(parts)} fields")
        name, scopes, digest = parts
        check_name(name, where)
        if not _HASH.match(digest):
            raise ValueError(f"{where}: the third field must be the token's SHA-256 in "
                             "64 lower-case hex digits (aiops tokens new prints the line)")
        if name in names:
            raise ValueError(f"{where}: token name {name!r} appears twice")
        if digest in tokens:
            raise ValueError(f"{where}: the same token as {tokens[digest].name!r}")
        names.add(name)
        tokens[digest] = Token(name, parse_scopes(scopes, where))
    if not tokens:
        raise ValueError(f"AIOPS_API_TOKENS_FILE {file}: holds no token; every request "
                         "would be refused")
    return AccessTokens(tokens)


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


def install(app: Flask, tokens: AccessTokens) -> None:
    """Refuse every request without a token allowed to make it."""

    @app.before_request
    def _check_token() -> tuple[Response | str, int] | None:
        scope = required_scope(request.method, request.path)
        if scope is None:
            return None
        presented = presented_token()
        token = tokens.find(presented) if presented else None
        if token is None:
            reason = ("no token given: send Authorization: Bearer TOKEN (or the token as "
                      "the password of HTTP Basic)" if presented is None
                      else "the token given is not one of AIOPS_API_TOKENS_FILE's")
            return _refusal(401, reason)
        if scope not in token.scopes:
            return _refusal(403, f"token {token.name!r} may {', '.join(sorted(token.scopes))}"
                                 f"; this request needs the scope {scope!r}")
        g.aiops_token = token
        return None


def _refusal(status: int, message: str) -> tuple[Response | str, int]:
    """JSON under /api/, a page elsewhere; a 401 says how to authenticate, so a browser
    asks for the token (as the password) rather than showing an error."""
    if request.path.startswith("/api/"):
        response = jsonify({"error": {"status": status, "message": message}})
    else:
        heading = "Sign in" if status == 401 else "Not allowed"
        response = Response(render_template("not_found.html", heading=heading,
                                            message=message), mimetype="text/html")
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Basic realm="aiops", charset="UTF-8"'
    return response, status
