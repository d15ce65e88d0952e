"""Indexing the alerts stored since the last catch-up into SQLite's text search table
(``aiops.store.text_search``: the alerts above ``ALERT_MARK``'s mark).

Why in bulk and not per insert: a trigger on every insert cost ~53 us an alert on the
ingest path; here the same work runs on another thread, a chunk of alerts per short
transaction, so the engine's own writes wait for one chunk at most.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

from aiops.store.text_search import ALERT_MARK, ALERT_TEXT, has_sqlite_index

# Alerts per transaction: ~50 us each, so a chunk holds the write lock ~0.1 s.
CHUNK = 2000

# The write comes first: the transaction takes SQLite's write lock at its first
# statement and reads the mark under it (no other writer can move it in between).
_INDEX_CHUNK = (
    f"INSERT INTO {ALERT_TEXT}(rowid, name, summary) "
    f"SELECT id, name, summary FROM alerts WHERE id > (SELECT mark FROM {ALERT_MARK}) "
    "ORDER BY id LIMIT ?")
_MOVE_MARK = (
    f"UPDATE {ALERT_MARK} SET mark = coalesce((SELECT max(id) FROM (SELECT id FROM alerts "
    f"WHERE id > (SELECT mark FROM {ALERT_MARK}) ORDER BY id LIMIT ?)), mark)")


def index_tail(db: sa.Engine, chunk: int = CHUNK,
               stopping: Callable[[], bool] = lambda: False) -> int:
    """Index every alert above the mark, ``chunk`` per transaction, until none is left
    or ``stopping()`` says so between two chunks; the alerts indexed. Nothing on a
    database without the index (PostgreSQL, a SQLite without FTS5)."""
    with db.connect() as conn:
        if not has_sqlite_index(conn):
            return 0
    done = 0
    while not stopping():
        with db.begin() as conn:
            added = conn.exec_driver_sql(_INDEX_CHUNK, (chunk,)).rowcount
            if added <= 0:
                return done
            conn.exec_driver_sql(_MOVE_MARK, (chunk,))
        done += added
        if added < chunk:
            return done
    return done


def tail_size(conn: sa.Connection) -> int:
    """How many alerts are above the mark (searched by a scan of their range)."""
    return int(conn.exec_driver_sql(
        f"SELECT count(*) FROM alerts WHERE id > (SELECT mark FROM {ALERT_MARK})").scalar_one())
