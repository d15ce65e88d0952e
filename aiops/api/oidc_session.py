"""What a sign-in leaves in the browser: a signed session cookie, and who it says the
user is and may do.

The cookie is signed with a key kept in the data dir (created once, mode 0600), so
each process of the engine on that data dir can read it; it carries a random session
id, and counts only while the engine's row for that id says the session is alive
(aiops/api/session_store.py): signing out ends every copy of the cookie at once. A
user's groups are read at sign-in, and the scopes the cookie carries are those; the
session's row holds them as last read at the provider, and counts
(aiops/api/session_recheck.py). The signing is itsdangerous's (Flask's own
dependency), not written here.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer

from aiops.config import OidcSettings
from aiops.durable import sync_directory, synced_temporary

KEY_FILE = "session.key"  # in the data dir
SESSION_COOKIE = "aiops_session"
LOGIN_COOKIE = "aiops_login"  # the state, nonce and PKCE verifier of a sign-in under way
LOGIN_WITHIN = 600  # seconds a sign-in may take at the provider
MAX_COOKIE = 3800  # bytes: browsers drop cookies above 4096 with their name and flags
MAX_NAME = 256  # characters of a user name (the audit trail's author field takes 256)


def session_key(data_dir: Path) -> str:
    """The key sessions are signed with: read from the data dir, or made once there
    readable by the owner only (written aside, then linked in place, so two processes
    starting together end with one key and neither reads a half-written file)."""
    path = data_dir / KEY_FILE
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        pass
    aside = synced_temporary(data_dir, ".session.key.", secrets.token_hex(32) + "\n",
                             private=True)
    try:
        with contextlib.suppress(FileExistsError):  # another process made it first:
            os.link(aside, path)  # its key is the one
        sync_directory(data_dir)  # the key on disk before a cookie is signed with it
    finally:
        aside.unlink()
    return path.read_text(encoding="ascii").strip()


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in user: the name recorded on their actions, their scopes, and the
    token the view's state-changing requests must echo (CSRF)."""

    user: str
    scopes: frozenset[str]
    expires: float
    csrf: str
    sid: str  # the random id of the session's row (aiops/api/session_store.py)
    id_token: str | None = None  # the hint of RP-initiated logout, when it fits


class Sessions:
    """Signs and reads the session and sign-in cookies with one key."""

    def __init__(self, key: str, lifetime: float):
        self.lifetime = lifetime
        self._session = URLSafeTimedSerializer(key, salt="aiops-session")
        self._login = URLSafeTimedSerializer(key, salt="aiops-login")

    def issue(self, user: str, scopes: frozenset[str], id_token: str | None,
              now: float | None = None) -> tuple[Session, str]:
        """A new session and its cookie value; the id_token is left out when the
        cookie would be too large with it (sign-out then names the client instead)."""
        session = Session(user, scopes, (now or time.time()) + self.lifetime,
                          secrets.token_urlsafe(32), secrets.token_urlsafe(32), id_token)
        value = self._encode(session)
        if len(value) > MAX_COOKIE and id_token is not None:
            session = Session(user, scopes, session.expires, session.csrf, session.sid,
                              None)
            value = self._encode(session)
        return session, value

    def _encode(self, session: Session) -> str:
        return self._session.dumps({"u": session.user, "s": sorted(session.scopes),
                                    "exp": session.expires, "csrf": session.csrf,
                                    "sid": session.sid, "idt": session.id_token})

    def read(self, value: str | None, now: float | None = None) -> Session | None:
        """The session a cookie holds, or None: absent, forged, expired, or made before
        sessions had ids (whether it is still alive is the session store's to say)."""
        if not value:
            return None
        try:
            data = self._session.loads(value, max_age=int(self.lifetime) + 1)
        except BadSignature:  # SignatureExpired is one too
            return None
        if (not isinstance(data, dict) or data.get("exp", 0) <= (now or time.time())
                or not isinstance(data.get("sid"), str)):
            return None
        return Session(str(data["u"]), frozenset(data["s"]), float(data["exp"]),
                       str(data["csrf"]), data["sid"], data.get("idt"))

    def login_cookie(self, state: str, nonce: str, verifier: str, after: str) -> str:
        return self._login.dumps({"state": state, "nonce": nonce, "verifier": verifier,
                                  "next": after})

    def read_login(self, value: str | None) -> dict[str, str] | None:
        """The sign-in under way, or None: none, forged, or older than LOGIN_WITHIN."""
        if not value:
            return None
        try:
            data = self._login.loads(value, max_age=LOGIN_WITHIN)
        except BadSignature:
            return None
        return data if isinstance(data, dict) else None


def login_cookie_name(state: str) -> str:
    """The cookie a sign-in's state, nonce and verifier wait in: one per sign-in, named
    by its state, so that several tabs signing in at once (a session that expired
    under a browser with many tabs open) each come back to their own, instead of the
    last one started overwriting the others and every other tab failing on its
    state. Each lives LOGIN_WITHIN seconds, so a browser holds a few at most."""
    digest = hashlib.sha256(state.encode("utf-8")).hexdigest()[:16]
    return f"{LOGIN_COOKIE}.{digest}"


def user_name(claims: Mapping[str, Any]) -> str:
    """Who the audit trail names: preferred_username, else email, else sub."""
    for claim in ("preferred_username", "email", "sub"):
        value = claims.get(claim)
        if isinstance(value, str) and value.strip():
            return value.strip()[:MAX_NAME]
    return str(claims.get("sub", ""))[:MAX_NAME]


def user_groups(claims: Mapping[str, Any], claim: str) -> set[str]:
    """The groups a claim lists: a JSON list of names, or one name as a string."""
    value = claims.get(claim)
    if isinstance(value, str):
        return {value}
    if isinstance(value, list):
        return {str(item) for item in value}
    return set()


def scopes_for(groups: set[str], settings: OidcSettings) -> frozenset[str]:
    """The scopes the groups give: ``read`` by a read group, ``read`` and ``operate`` by
    an operate group (operating what one cannot see is no use). Never ``ingest``:
    monitoring feeds are machines with tokens."""
    if groups & set(settings.group_list("operate")):
        return frozenset({"read", "operate"})
    if groups & set(settings.group_list("read")):
        return frozenset({"read"})
    return frozenset()


def safe_next(path: str | None) -> str:
    """A path on this site to return to after sign-in, else ``/``: never another site
    (``//evil``, ``/\\evil``, ``https://evil``), so the sign-in is no open redirect."""
    if (not path or not path.startswith("/") or path.startswith(("//", "/\\"))
            or any(c in path for c in "\\\r\n\t") or not path.isprintable()):
        return "/"
    return path
