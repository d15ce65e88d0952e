"""The sign-in sessions the engine keeps (table ``sessions``, migration 0022).

Why stored: a signed cookie alone cannot be taken back. Signing out cleared it in one
browser, but a copy taken before (a shared machine, a leaked cookie) stayed valid until
it expired. Now a cookie counts only while its row says the session is alive, so
signing out, or ``aiops sessions end``, ends every copy at once, in every process on
the database (gunicorn workers, other hosts): each request looks its row up, one
primary-key read, and nothing is cached (docs/benchmarks.md, "Sign-in sessions").

A row is named by the SHA-256 of the random id in the cookie, not the id itself: a
copy of the database (a backup) names no cookie. Ended and expired rows are deleted
whenever a session starts, so the table holds the live sessions and those ended or
expired since the last sign-in, and needs no retention run.
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

    def start(self, sid: str, user: str, expires: float, now: float | None = None) -> None:
        """Record a new session, deleting the ended and expired ones (the same
        transaction: one write per sign-in keeps the table small)."""
        now = time.time() if now is None else now
        with self._db.begin() as conn:
            conn.execute(sa.delete(sessions).where(
                sa.or_(sessions.c.expires_at <= now, sessions.c.ended_at.is_not(None))))
            conn.execute(sa.insert(sessions).values(
                id=row_id(sid), user_name=user, created_at=now, expires_at=expires))

    def alive(self, sid: str, now: float | None = None) -> bool:
        """Whether the session is known, not ended and not expired."""
        if not sid:
            return False
        now = time.time() if now is None else now
        with self._db.connect() as conn:
            row = conn.execute(sa.select(sessions.c.expires_at, sessions.c.ended_at)
                               .where(sessions.c.id == row_id(sid))).first()
        return row is not None and row.ended_at is None and row.expires_at > now

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
