"""The sign-in sessions the engine keeps (table ``sessions``, migration 0022).

Why stored: a signed cookie alone cannot be taken back. Signing out cleared it in one
browser, but a copy taken before (a shared machine, a leaked cookie) stayed valid until
it expired. Now a cookie counts only while its row says the session is alive, so
signing out, or ``aiops sessions end``, ends every copy at once, in every process on
the database (gunicorn workers, other hosts): each request looks its row up, one
primary-key read, and nothing is cached (docs/benchmarks.md, "Sign-in sessions").

A row is named by the SHA-256 of the random id in the cookie, not the id itself: a
copy of the database (a backup) names no cookie, and the refresh token a row keeps
for re-checks is sealed under that id (aiops/api/session_seal.py). Ended and expired
rows are deleted whenever a session starts, and by ``aiops prune`` (and the serving
process's retention loop, aiops/retention.py), so the table holds the live sessions
and those ended or expired since the last sign-in or prune.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

import sqlalchemy as sa

from aiops.store.tables import sessions


def row_id(sid: str) -> str:
    """The row of the session whose cookie carries ``sid``."""
    return hashlib.sha256(sid.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class LiveSession:
    """What a live session's row says beyond being alive: its scopes as last read
    (None: a row from before migration 0023, the cookie's count), when they were read,
    and its refresh token sealed (aiops/api/session_seal.py; None: no re-check)."""

    scopes: frozenset[str] | None
    checked_at: float | None
    sealed: bytes | None


@dataclass(frozen=True, slots=True)
class StoredSession:
    """A session as ``aiops sessions list`` shows it."""

    id: str  # the row's id (a hash): enough to tell sessions apart, never a cookie
    user: str
    created_at: float
    expires_at: float


class SessionStore:
    """Starts, checks and ends the sessions of one database."""

    def __init__(self, db: sa.Engine):
        self._db = db

    def start(self, sid: str, user: str, expires: float, now: float | None = None,
              scopes: frozenset[str] | None = None, sealed: bytes | None = None) -> None:
        """Record a new session, its scopes read now and its sealed refresh token,
        deleting the ended and expired ones (the same transaction: one write per
        sign-in keeps the table small)."""
        now = time.time() if now is None else now
        with self._db.begin() as conn:
            conn.execute(sa.delete(sessions).where(
                sa.or_(sessions.c.expires_at <= now, sessions.c.ended_at.is_not(None))))
            conn.execute(sa.insert(sessions).values(
                id=row_id(sid), user_name=user, created_at=now, expires_at=expires,
                scopes=None if scopes is None else " ".join(sorted(scopes)),
                checked_at=now, refresh_sealed=sealed))

    def alive(self, sid: str, now: float | None = None) -> bool:
        """Whether the session is known, not ended and not expired."""
        return self.live(sid, now) is not None

    def live(self, sid: str, now: float | None = None) -> LiveSession | None:
        """The session's row while it is known, not ended and not expired: one
        primary-key read."""
        if not sid:
            return None
        now = time.time() if now is None else now
        with self._db.connect() as conn:
            row = conn.execute(sa.select(sessions.c.expires_at, sessions.c.ended_at,
                                         sessions.c.scopes, sessions.c.checked_at,
                                         sessions.c.refresh_sealed)
                               .where(sessions.c.id == row_id(sid))).first()
        if row is None or row.ended_at is not None or row.expires_at <= now:
            return None
        scopes = None if row.scopes is None else frozenset(row.scopes.split())
        return LiveSession(scopes, row.checked_at, row.refresh_sealed)

    def claim_check(self, sid: str, seen: float, now: float) -> bool:
        """Take the re-check of a session whose row said ``checked_at`` = ``seen``:
        True for the one caller, in any process on the database, whose conditional
        update found it unchanged (it moves ``checked_at`` to ``now``). A refresh
        token spent twice is taken for a stolen one by providers that rotate them."""
        with self._db.begin() as conn:
            return conn.execute(sa.update(sessions).where(
                sessions.c.id == row_id(sid), sessions.c.checked_at == seen,
                sessions.c.ended_at.is_(None)).values(checked_at=now)).rowcount == 1

    def record_check(self, sid: str, claimed: float, scopes: frozenset[str],
                     sealed: bytes | None) -> None:
        """What a re-check claimed at ``claimed`` read: the scopes, and the rotated
        refresh token (None: the provider kept the old one)."""
        values: dict[str, object] = {"scopes": " ".join(sorted(scopes))}
        if sealed is not None:
            values["refresh_sealed"] = sealed
        with self._db.begin() as conn:
            conn.execute(sa.update(sessions).where(
                sessions.c.id == row_id(sid), sessions.c.checked_at == claimed)
                .values(**values))

    def release_check(self, sid: str, claimed: float, seen: float) -> None:
        """Give back a re-check that could not be done (the provider was down): the
        row says ``seen`` again, so a later request tries once more."""
        with self._db.begin() as conn:
            conn.execute(sa.update(sessions).where(
                sessions.c.id == row_id(sid), sessions.c.checked_at == claimed)
                .values(checked_at=seen))

    def end(self, sid: str, now: float | None = None) -> bool:
        """End one session (sign-out); False if it was not alive."""
        return self._end(sessions.c.id == row_id(sid), now) > 0

    def end_user(self, user: str, now: float | None = None) -> int:
        """End every live session of ``user``: how many."""
        return self._end(sessions.c.user_name == user, now)

    def _end(self, which: sa.ColumnElement[bool], now: float | None) -> int:
        now = time.time() if now is None else now
        with self._db.begin() as conn:
            return conn.execute(sa.update(sessions).where(
                which, sessions.c.ended_at.is_(None), sessions.c.expires_at > now)
                .values(ended_at=now)).rowcount

    def alive_sessions(self, user: str | None = None,
                       now: float | None = None) -> list[StoredSession]:
        """The live sessions, of ``user`` or everyone's, oldest first."""
        now = time.time() if now is None else now
        query = (sa.select(sessions).where(sessions.c.ended_at.is_(None),
                                           sessions.c.expires_at > now)
                 .order_by(sessions.c.created_at, sessions.c.id))
        if user is not None:
            query = query.where(sessions.c.user_name == user)
        with self._db.connect() as conn:
            return [StoredSession(r.id, r.user_name, r.created_at, r.expires_at)
                    for r in conn.execute(query)]
