"""The incident filters' text search: which incidents have ``text`` in their title, or
in an alert's name or summary, as a substring in any case, answered from a trigram
index where the database has one (migration 0025).

Why trigrams: a substring (``LIKE '%...%'``) is answered by no B-tree index, so every
alert's name and summary was read (docs/benchmarks.md, "Incident filters"). A trigram
index maps every three-character sequence to the rows holding it; a query of three
characters or more is the intersection of its trigrams' rows, rechecked.

- PostgreSQL: ``pg_trgm``'s GIN indexes on ``alerts.name``, ``alerts.summary`` and
  ``incidents.title`` serve ``ILIKE`` as it is (the planner rechecks each candidate row).
  The condition is a UNION of the incidents whose title matches and the alerts whose
  name or summary does, each branch answered by its indexes (the alerts' two by a
  bitmap OR); an OR across the incidents and a subquery of alerts was one no index
  could serve.
- SQLite: FTS5 tables with the ``trigram`` tokenizer (SQLite 3.34 and later, FTS5
  compiled in) over the alerts' name and summary and the incidents' titles. Renames
  and deletions are kept in step by triggers; new rows are indexed off the ingest
  path, in bulk (``Indexed``, ``aiops.store.text_catchup``), and the ones not indexed
  yet are scanned for by their keys' range. The query is an
  FTS5 phrase (a substring for this tokenizer, with ``%`` and ``_`` plain characters),
  not ``LIKE``: FTS5 serves ``LIKE`` only without an
  ``ESCAPE``, and the wildcards must stay literal. The tokenizer folds case over all of
  Unicode while SQLite's ``LIKE`` folds ASCII only, so every candidate is rechecked with
  the same ``LIKE`` as the scan: the answer is exactly the scan's.

Shorter queries, and a SQLite without the FTS tables (too old, no FTS5), scan as before:
a trigram index cannot answer fewer than three characters. So do texts in a large share
of the alerts (``matching``): the index's cost grows with the matches, the scan's with
the store.

A batch migration that copies ``alerts`` or ``incidents`` to a new table drops their
triggers (SQLite drops a table's triggers with it): it must run ``create_sqlite_index``
again, or the index goes stale. tests/integration/test_text_search.py checks the
triggers are there at the newest revision.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from aiops.store.tables import alerts, incidents
from aiops.store.trigram_build import create_statement

# Fewer characters than a trigram: no index can narrow the rows.
MIN_INDEXED = 3
# A text in more than 1/COMMON of the alerts is scanned for (``matching``), and
# below MIN_PROBE alerts the index is used whatever the share (it is all cheap).
# Where the index stops paying, on 100,000 incidents and 200,000 alerts
# (benchmarks/incident_filters.py): SQLite still gained at a tenth (FTS5 look-ups are
# cheap), PostgreSQL did not (its hash join of the matches cost more than the scan).
COMMON = {"sqlite": 8, "postgresql": 20}
MIN_PROBE = 1000

# SQLite: FTS5 tables with external content (the text stays in alerts and incidents
# only). Alerts by their integer id; incidents by ``seq`` (unique, never reassigned),
# not their rowid, which VACUUM may renumber (``aiops prune`` runs it).
ALERT_TEXT, INCIDENT_TEXT = "alert_text", "incident_text"


@dataclass(frozen=True)
class Indexed:
    """One FTS5 table, the rows it covers, and its mark.

    New rows are not indexed as they are stored: a trigger on every insert cost
    ~53 us an alert (7-30 % of the ingest rate), and a title's trigger 2-5 % more
    (docs/benchmarks.md). The table holds its rows up to the one-row table ``mark``'s
    value (a ``key``); the ones above it, the tail, are scanned for by each search
    (``_indexed``) until ``aiops serve``'s catch-up (``aiops.store.text_catchup``)
    indexes them and moves the mark. Keys only grow while the engine runs (its
    counters), and a restart continues from the highest one stored: the delete
    trigger lowers the mark to it when a prune removed the highest ones, so a reused
    key is in the tail, never below the mark unindexed."""

    fts: str
    table: str
    key: str
    columns: tuple[str, ...]

    @property
    def mark(self) -> str:
        return f"{self.fts}_mark"

    def statements(self) -> tuple[str, ...]:
        """The FTS5 table, the mark's table and the triggers. External content: a row
        leaves the index by a 'delete' naming its old values, and only a row in it may
        (a 'delete' of one never added corrupts the index): the triggers act on keys up
        to the mark only. Updates fire only when a searched column is set to a different
        value, so the ingest path's updates (which rebind the summary and the title
        every time) cost one comparison, not a re-index."""
        cols, key, mark = ", ".join(self.columns), self.key, f"(SELECT mark FROM {self.mark})"
        old = ", ".join(f"old.{c}" for c in self.columns)
        new = ", ".join(f"new.{c}" for c in self.columns)
        changed = " OR ".join(f"old.{c} IS NOT new.{c}" for c in (key, *self.columns))
        highest = f"(SELECT coalesce(max({key}), {EMPTY}) FROM {self.table})"
        return (
            f"CREATE VIRTUAL TABLE {self.fts} USING fts5({cols}, content='{self.table}', "
            f"content_rowid='{key}', tokenize='trigram')",
            f"CREATE TABLE {self.mark} (mark INTEGER NOT NULL)",
            f"""CREATE TRIGGER {self.fts}_delete AFTER DELETE ON {self.table}
            WHEN old.{key} <= {mark}
            BEGIN
                INSERT INTO {self.fts}({self.fts}, rowid, {cols})
                VALUES ('delete', old.{key}, {old});
                UPDATE {self.mark} SET mark = {highest} WHERE mark > {highest};
            END""",
            f"""CREATE TRIGGER {self.fts}_update AFTER UPDATE OF {key}, {cols} ON {self.table}
            WHEN ({changed}) AND old.{key} <= {mark}
            BEGIN
                INSERT INTO {self.fts}({self.fts}, rowid, {cols})
                VALUES ('delete', old.{key}, {old});
                INSERT INTO {self.fts}(rowid, {cols})
                SELECT new.{key}, {new} WHERE new.{key} <= {mark};
            END""",
        )

    def tail(self) -> sa.ColumnElement[bool]:
        """The rows above the mark (not indexed yet): read by their keys' range."""
        table = alerts if self.table == "alerts" else incidents
        mark = sa.select(sa.column("mark")).select_from(sa.table(self.mark)).scalar_subquery()
        return table.c[self.key] > mark


# The mark of an empty table: below every key (0 is one: a store may number from it),
# so that no trigger takes a row never indexed for an indexed one.
EMPTY = -(2 ** 63)

ALERTS = Indexed(ALERT_TEXT, "alerts", "id", ("name", "summary"))
INCIDENTS = Indexed(INCIDENT_TEXT, "incidents", "seq", ("title",))
SQLITE_INDEXED = (ALERTS, INCIDENTS)
SQLITE_TRIGGERS = tuple(f"{i.fts}_{what}" for i in SQLITE_INDEXED for what in ("delete", "update"))

# PostgreSQL: (index, table, column).
TRIGRAM_INDEXES = (
    ("ix_alerts_name_trgm", "alerts", "name"),
    ("ix_alerts_summary_trgm", "alerts", "summary"),
    ("ix_incidents_title_trgm", "incidents", "title"),
)
# Built without holding off writes (``aiops.store.trigram_build``): each statement on
# its own, outside a transaction block.
POSTGRES_SETUP = ("CREATE EXTENSION IF NOT EXISTS pg_trgm",) + tuple(
    create_statement(name, table, column) for name, table, column in TRIGRAM_INDEXES)


def sqlite_supports_trigrams(conn: sa.Connection) -> bool:
    """Whether this SQLite has FTS5 with the trigram tokenizer (3.34 or later, FTS5
    compiled in): tried on a temporary table rather than read from version numbers,
    since FTS5 is a compile-time option."""
    try:
        with conn.begin_nested():
            conn.exec_driver_sql("CREATE VIRTUAL TABLE temp.aiops_trigram_probe "
                                 "USING fts5(x, tokenize='trigram')")
            conn.exec_driver_sql("DROP TABLE temp.aiops_trigram_probe")
    except sa.exc.OperationalError:
        return False
    return True


def create_sqlite_index(conn: sa.Connection) -> None:
    """The FTS5 tables and their triggers, filled from what is stored: every row
    indexed, each mark at the highest key."""
    for indexed in SQLITE_INDEXED:
        for statement in indexed.statements():
            conn.exec_driver_sql(statement)
        conn.exec_driver_sql(f"INSERT INTO {indexed.fts}({indexed.fts}) VALUES ('rebuild')")
        conn.exec_driver_sql(f"INSERT INTO {indexed.mark}(mark) "
                             f"SELECT coalesce(max({indexed.key}), {EMPTY}) "
                             f"FROM {indexed.table}")


def drop_sqlite_index(conn: sa.Connection) -> None:
    for trigger in SQLITE_TRIGGERS:
        conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {trigger}")
    for indexed in SQLITE_INDEXED:
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {indexed.fts}")
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {indexed.mark}")


def is_index_object(name: str | None) -> bool:
    """Whether a table or index of that name is this module's, not the metadata's:
    the schema comparison (tests, autogenerate) leaves them out, as the FTS5 tables
    and their shadow tables, and the GIN indexes, are made by migration 0025 alone."""
    if not name:
        return False
    return (name in {n for n, _, _ in TRIGRAM_INDEXES}
            or any(name == t or name.startswith(t + "_") for t in (ALERT_TEXT, INCIDENT_TEXT)))


def has_sqlite_index(conn: sa.Connection) -> bool:
    """Whether this is a SQLite database with the FTS5 tables (migration 0025 skips
    them on a SQLite without trigram support). Asked per search: a look-up in the
    schema table, far cheaper than the search it decides."""
    if conn.dialect.name != "sqlite":
        return False
    return conn.exec_driver_sql(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
        (ALERT_TEXT,)).first() is not None


def _fts_phrase(text: str) -> str:
    """``text`` as one FTS5 phrase: a substring for the trigram tokenizer, every
    character (``%``, ``_``, ``*``, ``:``, ...) plain inside the double quotes."""
    return '"' + text.replace('"', '""') + '"'


def _like(column: sa.ColumnElement[str], text: str) -> sa.ColumnElement[bool]:
    """``column`` holds ``text`` in any case, ``%``, ``_`` and ``/`` taken as text (what
    ``icontains(text, autoescape=True)`` says). The pattern is written into the SQL,
    not bound: psycopg prepares a statement run five times on a connection, and
    PostgreSQL's generic plan for it knows no pattern to pick an index or a scan by."""
    escaped = text.replace("/", "//").replace("%", "/%").replace("_", "/_")
    pattern = sa.bindparam(None, f"%{escaped}%", sa.String(), literal_execute=True)
    return column.ilike(pattern, escape="/")


def scan(text: str) -> sa.ColumnElement[bool]:
    """The condition read row by row: the title, or an alert's name or summary (the
    alerts' subquery read once). Best when the text is short or common: the page walks
    the incidents newest first and stops at a page."""
    return sa.or_(
        _like(incidents.c.title, text),
        incidents.c.id.in_(sa.select(alerts.c.incident_id).where(sa.or_(
            _like(alerts.c.name, text), _like(alerts.c.summary, text)))))


def _fts_rowids(table: str, text: str) -> sa.Select:
    phrase = sa.bindparam(None, _fts_phrase(text), sa.String(), literal_execute=True)
    return (sa.select(sa.column("rowid")).select_from(sa.table(table))
            .where(sa.literal_column(table).op("MATCH")(phrase)))


def _in_tail(text: str) -> tuple[sa.ColumnElement[bool], ...]:
    """The alerts above the mark (not indexed yet) holding ``text``: read by their ids'
    range, the newest few seconds of ingest while ``aiops serve`` catches up."""
    return ALERTS.tail(), sa.or_(_like(alerts.c.name, text), _like(alerts.c.summary, text))


def _indexed(text: str, fts: bool) -> sa.ColumnElement[bool]:
    """The condition answered from the trigram indexes: the incidents whose title
    matches, and those of the alerts whose name or summary does, one UNION whose
    branches each an index serves. SQLite's candidates come from the FTS5 tables and
    are rechecked with the scan's ``LIKE``; PostgreSQL's ``ILIKE`` uses its indexes
    itself."""
    if fts:  # and returns: the else branch is PostgreSQL's
        titles = sa.select(incidents.c.id).where(
            sa.or_(incidents.c.seq.in_(_fts_rowids(INCIDENT_TEXT, text)), INCIDENTS.tail()),
            _like(incidents.c.title, text))
        named = sa.select(alerts.c.incident_id).where(
            alerts.c.id.in_(_fts_rowids(ALERT_TEXT, text)),
            sa.or_(_like(alerts.c.name, text), _like(alerts.c.summary, text)))
        tail = sa.select(alerts.c.incident_id).where(*_in_tail(text))
        return incidents.c.id.in_(sa.union(titles, named, tail))
    else:
        titles = sa.select(incidents.c.id).where(_like(incidents.c.title, text))
        named = sa.select(alerts.c.incident_id).where(
            sa.or_(_like(alerts.c.name, text), _like(alerts.c.summary, text)))
    return incidents.c.id.in_(sa.union(titles, named))


def _alert_candidates(conn: sa.Connection, text: str, fts: bool, cap: int) -> int:
    """How many alerts the index offers for ``text``, counted up to ``cap`` only."""
    if fts:
        offered = sa.union_all(_fts_rowids(ALERT_TEXT, text),
                               sa.select(alerts.c.id).where(*_in_tail(text)))
    else:
        offered = sa.select(alerts.c.id).where(
            sa.or_(_like(alerts.c.name, text), _like(alerts.c.summary, text)))
    return int(conn.execute(sa.select(sa.func.count()).select_from(
        offered.limit(cap).subquery())).scalar_one())


def matching(conn: sa.Connection, text: str) -> sa.ColumnElement[bool]:
    """The condition that keeps the incidents with ``text`` in their title or an
    alert's name or summary, read the cheaper way for this text on this store.

    The index's cost grows with what matches (every match is looked up, rechecked
    and counted), the scan's with what is stored: a text found in more than
    ``1 / COMMON`` of the alerts ("dev", "down": an eighth in SQLite, a twentieth in
    PostgreSQL) is scanned for, which also lets the
    page stop at its first hundred newest. The probe counts the index's candidates
    up to that share only (a millisecond in SQLite; PostgreSQL reads them from its
    indexes or stops its scan there).
    """
    fts = has_sqlite_index(conn)
    if len(text) < MIN_INDEXED or (conn.dialect.name == "sqlite" and not fts):
        return scan(text)
    if conn.dialect.name == "postgresql":
        return _matching_postgres(conn, text)
    cap = _cap(conn)
    if _alert_candidates(conn, text, fts, cap) >= cap:
        return scan(text)
    return _indexed(text, fts)


def _cap(conn: sa.Connection) -> int:
    """Alerts past which a text is common on this store (``COMMON``)."""
    stored = conn.execute(sa.select(sa.func.max(alerts.c.id))).scalar() or 0
    return max(MIN_PROBE, stored // COMMON.get(conn.dialect.name, 8))


def _matching_postgres(conn: sa.Connection, text: str) -> sa.ColumnElement[bool]:
    """PostgreSQL's: the probe and, for a rare text, the search itself run here, as
    their own statements under two settings, and the condition returned names the
    incidents found. The settings go back to their defaults before the list's page and
    counts run: they are for the trigram indexes, not for every query after.

    Why the settings: psycopg prepares a statement run five times on a connection,
    and PostgreSQL's generic plan for it knows no LIMIT (for the probe's LIMIT it read
    every alert: 0.3 s against 7 ms); and the planner costs ILIKE far below what it
    takes, so a scan of every alert looks as cheap as the trigram indexes (0.15 s
    against 0.02 s for 20,000 matches)."""
    conn.exec_driver_sql("SET LOCAL plan_cache_mode = force_custom_plan")
    conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
    try:
        cap = _cap(conn)
        if _alert_candidates(conn, text, False, cap) >= cap:
            return scan(text)
        found = list(conn.execute(sa.select(incidents.c.id).where(
            _indexed(text, False))).scalars())
    finally:
        conn.exec_driver_sql("SET LOCAL plan_cache_mode TO DEFAULT")
        conn.exec_driver_sql("SET LOCAL enable_seqscan TO DEFAULT")
    # One array parameter, however many incidents: ``id = ANY(...)`` reads them by key.
    return incidents.c.id == sa.any_(sa.bindparam(
        None, found, type_=postgresql.ARRAY(sa.String())))
