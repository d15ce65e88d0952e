"""Indexing the rows stored since the last catch-up into SQLite's text search tables
(``aiops.store.text_search``: the alerts and incidents above their ``Indexed`` mark).

Why in bulk and not per insert: a trigger on every insert cost ~53 us an alert on the
ingest path; here the same work runs on another thread, a chunk of rows per short
transaction, so the engine's own writes wait for one chunk at most.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

from aiops.store.text_search import SQLITE_INDEXED, Indexed, has_sqlite_index

# Rows per transaction: 20,000 alerts took 0.2 s in bulk, so a chunk holds the write
# lock some 20 ms.
CHUNK = 2000


def _index_chunk(conn: sa.Connection, indexed: Indexed, chunk: int) -> int:
    """Index up to ``chunk`` rows above the mark and move it past them; how many.
    The write comes first: the transaction takes SQLite's write lock at its first
    statement and reads the mark under it (no other writer can move it between)."""
    cols, key = ", ".join(indexed.columns), indexed.key
    above = (f"FROM {indexed.table} WHERE {key} > (SELECT mark FROM {indexed.mark}) "
             f"ORDER BY {key} LIMIT ?")
    added = conn.exec_driver_sql(
        f"INSERT INTO {indexed.fts}(rowid, {cols}) SELECT {key}, {cols} {above}",
        (chunk,)).rowcount
    if added > 0:
        conn.exec_driver_sql(
            f"UPDATE {indexed.mark} SET mark = (SELECT max({key}) FROM "
            f"(SELECT {key} {above}))", (chunk,))
    return max(added, 0)


def index_tail(db: sa.Engine, chunk: int = CHUNK,
               stopping: Callable[[], bool] = lambda: False) -> int:
    """Index every alert and incident above its mark, ``chunk`` per transaction, until
    none is left or ``stopping()`` says so between two chunks; the rows indexed.
    Nothing on a database without the index (PostgreSQL, a SQLite without FTS5)."""
    with db.connect() as conn:
        if not has_sqlite_index(conn):
            return 0
    done = 0
    for indexed in SQLITE_INDEXED:
        while not stopping():
            with db.begin() as conn:
                added = _index_chunk(conn, indexed, chunk)
            done += added
            if added < chunk:
                break
    return done


def tail_size(conn: sa.Connection, indexed: Indexed = SQLITE_INDEXED[0]) -> int:
    """How many rows are above the mark (searched by a scan of their range)."""
    return int(conn.exec_driver_sql(
        f"SELECT count(*) FROM {indexed.table} "
        f"WHERE {indexed.key} > (SELECT mark FROM {indexed.mark})").scalar_one())
