"""Retention: what ``aiops prune`` costs on a store of months of alerts.

Why: the prune deletes in batches, each its own transaction, so that a live ``aiops
serve`` writing to the same store waits for one batch at most (SQLite has one writer
at a time; PostgreSQL locks only the rows deleted). This measures the whole prune
(seconds, rows per second), its longest single transaction, and what a writer doing
one small insert every 10 ms meanwhile actually waited, then ``--vacuum``'s cost and
the file it leaves (SQLite).

Store: written row by row as the engine writes them (incidents of ``ALERTS_PER``
alerts, each alert a firing and a resolving raw event with the event as its
payload), but inserted directly rather than correlated through the engine first (the
prune only reads and deletes rows, whoever wrote them); half the alerts ended 100-200
days ago, half in the last 30 days (a few incidents of those still open), and the
prune is ``--older-than 90d``.

Usage: .venv/bin/python -m benchmarks.retention [--alerts 300000] [--batch 2000]
       [--postgres] [--write-docs]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from aiops import retention
from aiops.config import EngineSettings
from aiops.models import Alert
from aiops.store.db import open_database
from aiops.store.tables import alerts, incidents, raw_events
from benchmarks.machine import cpu_model, load_average
from benchmarks.remediation import module_command, publish

START, END = "<!-- retention:start -->", "<!-- retention:end -->"
DAY = 86400.0
ALERTS_PER = 5  # alerts per incident
CHUNK = 5000  # rows per insert while building


def _incident_rows(now: float, count: int) -> Iterator[tuple[dict, list[dict], list[dict]]]:
    """``count`` incidents with their alerts and raw events: the first half old, the
    rest recent; every 50th recent one still open (its alerts firing)."""
    incidents_n = count // ALERTS_PER
    alert_id = seq = 0
    for n in range(incidents_n):
        old = n < incidents_n // 2
        span = (200 - 100 * n / (incidents_n / 2)) if old else (
            30 - 30 * (n - incidents_n / 2) / (incidents_n / 2))
        start = now - span * DAY
        open_ = not old and n % 50 == 0
        members, events = [], []
        for k in range(ALERTS_PER):
            alert_id += 1
            at, end = start + 3 * k, None if open_ else start + 600 + k
            event = Alert(id=f"ev-{alert_id}", source="bench", name=f"ALARM_{k}",
                          entity=f"ne-{n % 500:03d}", severity="major",
                          summary=f"alarm {k} on ne-{n % 500:03d} (interface ge-0/0/{k})",
                          starts_at=at, labels={"interface": f"ge-0/0/{k}"})
            members.append({
                "id": alert_id, "fingerprint": f"{alert_id:024x}", "first_event_id": event.id,
                "source": "bench", "name": event.name, "entity": event.entity,
                "node_id": event.entity, "severity": "major", "summary": event.summary,
                "description": None, "labels": event.labels,
                "status": "firing" if open_ else "resolved", "starts_at": at, "ends_at": end,
                "last_event_at": end or at, "episode_start": None,
                "recent_transitions": None, "event_count": 1 if open_ else 2,
                "transitions": 0, "flapping": False, "incident_id": f"inc-{n + 1}"})
            for kind, when in (("new", at), ("resolved", end)):
                if when is None:
                    continue
                seq += 1
                payload = event.to_dict() | {"ends_at": end if kind == "resolved" else None}
                events.append({"seq": seq, "event_id": f"{event.id}-{kind}", "source": "bench",
                               "received_at": when, "alert_id": alert_id,
                               "disposition": kind, "payload": payload})
        incident = {"id": f"inc-{n + 1}", "seq": n + 1, "status": "open" if open_ else
                    "resolved", "title": "bench", "severity": "major", "started_at": start,
                    "updated_at": start + 600 + ALERTS_PER, "resolved_at": None if open_
                    else start + 600 + ALERTS_PER, "merged_into": None,
                    "alert_count": ALERTS_PER, "root_causes": [], "settled": True,
                    "split_note": None}
        yield incident, members, events


def build(db: sa.Engine, now: float, count: int) -> dict[str, int]:
    """Write the store; rows per table."""
    batch: dict[Any, list[dict]] = {incidents: [], alerts: [], raw_events: []}
    totals = dict.fromkeys(("incidents", "alerts", "raw_events"), 0)

    def flush() -> None:
        with db.begin() as conn:
            for table, rows in batch.items():
                if rows:
                    conn.execute(table.insert(), rows)
                    totals[table.name] += len(rows)
                    rows.clear()

    for incident, members, events in _incident_rows(now, count):
        batch[incidents].append(incident)
        batch[alerts].extend(members)
        batch[raw_events].extend(events)
        if len(batch[raw_events]) >= CHUNK:
            flush()
    flush()
    return totals


class Writer(threading.Thread):
    """A live engine's stand-in: one small insert transaction every 10 ms, each timed."""

    def __init__(self, db: sa.Engine):
        super().__init__(daemon=True)
        self.db = db
        self.waits: list[float] = []
        self.stop = threading.Event()

    def run(self) -> None:
        with self.db.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS bench_writes (n INTEGER)")
        n = 0
        while not self.stop.is_set():
            began = time.perf_counter()
            with self.db.begin() as conn:
                conn.exec_driver_sql(f"INSERT INTO bench_writes (n) VALUES ({n})")
            self.waits.append(time.perf_counter() - began)
            n += 1
            time.sleep(0.01)


def measure(url: str, count: int, batch: int, sqlite_file: Path | None) -> dict[str, Any]:
    db = open_database(url)
    now = time.time()
    began = time.perf_counter()
    stored = build(db, now, count)
    built_s = time.perf_counter() - began
    size_before = _file_size(db, sqlite_file)
    plan = retention.plan(db, now - 90 * DAY, EngineSettings())
    counted_s = time.perf_counter()
    expected = retention.count(db, plan)
    counted_s = time.perf_counter() - counted_s
    writer = Writer(db)
    writer.start()
    time.sleep(0.5)
    report = retention.prune(db, plan, batch)
    writer.stop.set()
    writer.join()
    assert report.deleted == expected, (report.deleted, expected)
    vacuum_s = retention.vacuum(db)
    size_after = _file_size(db, sqlite_file)
    with db.connect() as conn:
        left = conn.execute(sa.select(sa.func.count()).select_from(alerts)).scalar()
    db.dispose()
    waits = sorted(writer.waits)
    return {"stored": stored, "built_s": built_s, "deleted": report.deleted,
            "total": report.total, "prune_s": report.seconds, "count_s": counted_s,
            "longest_batch_s": report.longest_batch, "writes": len(waits),
            "write_median_s": statistics.median(waits) if waits else 0.0,
            "write_max_s": waits[-1] if waits else 0.0, "vacuum_s": vacuum_s,
            "size_before": size_before, "size_after": size_after, "alerts_left": left}


def _file_size(db: sa.Engine, sqlite_file: Path | None) -> int | None:
    """The SQLite file's size with its write-ahead log checkpointed into it (None for
    PostgreSQL)."""
    if sqlite_file is None:
        return None
    with db.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    return sqlite_file.stat().st_size


def report(results: Sequence[tuple[str, dict[str, Any]]], batch: int, command: str) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    load = load_average()
    lines = [
        "## Retention: pruning months of history (`aiops prune`)", "",
        f"Measured {when} on {cpu_model()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}; 1-minute load average {load} at the end.", "",
        f"Command: `{command}`", "",
        "A store of incidents of five alerts, each alert with a firing and a resolving raw "
        "event (its payload the event), inserted directly rather than correlated through "
        "the engine first (the prune only reads and deletes rows); half the alerts ended "
        "100-200 days ago, half in the last 30 days (every 50th recent incident still "
        "open). `--older-than 90d` "
        f"deletes the old half in batches of {batch:,} rows, each its own transaction. "
        "Meanwhile a writer commits one small insert every 10 ms, as a live `aiops serve` "
        "would write its batches; its worst wait is what the prune cost a live engine "
        "(SQLite has one writer at a time, so it waits for the batch in progress; on "
        "PostgreSQL an insert takes no lock a delete of other rows holds). *counting* is "
        "the dry run's (and the progress bar's) count before the prune. *vacuum*: "
        "`--vacuum` afterwards, SQLite's `VACUUM` (the file is rewritten; its size with the "
        "write-ahead log checkpointed) or PostgreSQL's `VACUUM ANALYZE` of the pruned "
        "tables (space reusable, file not shrunk).", "",
        "| database | alerts stored | rows deleted | counting s | prune s | rows/s | "
        "longest transaction ms | writer's median / worst wait ms | vacuum s | "
        "file before → after |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, r in results:
        size = "—" if r["size_before"] is None else \
            f"{r['size_before'] / 1e6:,.0f} MB → {r['size_after'] / 1e6:,.0f} MB"
        lines.append(
            f"| {name} | {r['stored']['alerts']:,} | {r['total']:,} | {r['count_s']:.1f} | "
            f"{r['prune_s']:.1f} | {r['total'] / r['prune_s']:,.0f} | "
            f"{r['longest_batch_s'] * 1000:.0f} | {r['write_median_s'] * 1000:.1f} / "
            f"{r['write_max_s'] * 1000:.0f} | {r['vacuum_s']:.1f} | {size} |")
    deleted = results[0][1]["deleted"]
    lines += ["", "Deleted per table: " + ", ".join(f"{n:,} {t.replace('_', ' ')}"
                                                     for t, n in deleted.items()) + ".", ""]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--alerts", type=int, default=300_000)
    parser.add_argument("--batch", type=int, default=retention.BATCH)
    parser.add_argument("--postgres", action="store_true",
                        help="also on a throw-away PostgreSQL server (tests/pg_server.py)")
    parser.add_argument("--write-docs", action="store_true",
                        help="replace the retention section of docs/benchmarks.md")
    args = parser.parse_args(argv)
    if args.alerts < 1000 or args.batch < 1:
        parser.error("--alerts: at least 1000; --batch: at least 1")
    results = []
    with tempfile.TemporaryDirectory(prefix="aiops-retention-") as tmp:
        path = Path(tmp) / "aiops.db"
        print(f"SQLite: {args.alerts:,} alerts ...", file=sys.stderr, flush=True)
        results.append(("SQLite", measure(f"sqlite:///{path}", args.alerts, args.batch,
                                          path)))
    if args.postgres:
        from tests.pg_server import create_database, postgres_server
        from tests.ports import free_port

        print(f"PostgreSQL: {args.alerts:,} alerts ...", file=sys.stderr, flush=True)
        with postgres_server(free_port()) as server:
            url = create_database(server, "retention_bench")
            results.append(("PostgreSQL", measure(url, args.alerts, args.batch, None)))
    command = module_command("benchmarks.retention", argv)
    section = report(results, args.batch, command)
    publish(section, args.write_docs, START, END)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
