"""``aiops zabbix history`` against a real Zabbix 6.0 (tests/zabbix_server.py): how
fast a span of problem events is pulled into an alerts file.

Why: a year of a busy site's problems is tens of thousands of events; the command
pages them by event id (``--page-size``, 1,000 by default), asks their details 200
ids a call and their recoveries' times by id. This says what that costs per event
against a real front end (PHP's built-in server on this host, one request at a
time), and how the page size moves it.

The events: ``--hosts`` hosts, each with a trapper item and a trigger that fires on
0, sent ``--problems`` / ``--hosts`` problems and their recoveries in one sender
packet each (values a minute apart over the last days, as a history is), so Zabbix
makes them at its own pace; then the command runs as a process, ``--runs`` times
per page size. Needs Debian's zabbix-server-pgsql, zabbix-frontend-php and php-cli,
and PostgreSQL (as the tests).

    .venv/bin/python -m benchmarks.zabbix_history [--problems 2000] [--hosts 10]
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

from tests.pg_server import create_database, postgres_server
from tests.ports import free_port
from tests.zabbix_server import ZabbixServer, available

KEY = "link.state"


def _configure(zabbix: ZabbixServer, hosts: int) -> dict[str, str]:
    """The server's own host disabled (its agent does not run here), and ``hosts``
    hosts with a trapper item and a trigger each: their ids by name."""
    (own,) = zabbix.api("host.get", {"filter": {"host": "Zabbix server"}})
    zabbix.api("host.update", {"hostid": own["hostid"], "status": 1})
    (group,) = zabbix.api("hostgroup.get", {"filter": {"name": "Linux servers"}})
    names: dict[str, str] = {}
    for name in (f"sw-bench-{i}" for i in range(hosts)):
        (host,) = zabbix.api("host.create", {"host": name, "groups": [
            {"groupid": group["groupid"]}]})["hostids"]
        names[name] = host
        zabbix.api("item.create", {"hostid": host, "name": "link state", "key_": KEY,
                                   "type": 2, "value_type": 3})
        zabbix.api("trigger.create", {"description": "Link down", "priority": 4,
                                      "expression": f"last(/{name}/{KEY})=0",
                                      "opdata": "state {ITEM.VALUE}",
                                      "tags": [{"tag": "scope", "value": "availability"}]})
    return names


def _send_values(zabbix: ZabbixServer, host: str, values: list[tuple[int, int]]) -> str:
    """Values with their own clocks in one sender packet (as ``zabbix_sender -T``)."""
    return zabbix.send_items([{"host": host, "key": KEY, "value": str(v), "clock": clock,
                               "ns": 0} for clock, v in values], timeout=30)


def _problem_count(zabbix: ZabbixServer) -> int:
    return int(zabbix.api("event.get", {"source": 0, "object": 0, "value": 1,
                                        "countOutput": True}))


def _make_problems(zabbix: ZabbixServer, names: dict[str, str], problems: int,
                   timeout: float = 600) -> float:
    """``problems`` problems and their recoveries over the names' triggers, sent until
    Zabbix made them all (a host's item and trigger reach the server's cache within a
    second or so: values sent before are lost, so each host is first sent one probe
    problem and recovery until it shows); the seconds Zabbix took."""
    per_host = problems // len(names)
    start = int(time.time()) - 2 * per_host * 60 - 3600
    for name in names:  # a probe each: the trigger is in the server's cache
        deadline = time.monotonic() + 60
        while True:
            _send_values(zabbix, name, [(start - 120, 0), (start - 60, 1)])
            time.sleep(1)
            if zabbix.api("event.get", {"source": 0, "object": 0, "value": 1,
                                        "hostids": [names[name]],
                                        "countOutput": True}) != "0":
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name}'s trigger never fired:\n{zabbix.log()}")
    target = _problem_count(zabbix) + per_host * len(names)
    began = time.monotonic()
    for name in names:
        values = [(start + 60 * i, i % 2) for i in range(2 * per_host)]
        for at in range(0, len(values), 250):  # Zabbix takes 250 values a packet
            answer = _send_values(zabbix, name, values[at:at + 250])
            if "failed: 0;" not in answer:
                raise RuntimeError(f"the sender's values were refused: {answer}")
    while _problem_count(zabbix) < target:
        if time.monotonic() - began > timeout:
            raise RuntimeError(f"Zabbix made {_problem_count(zabbix)} of {target} problems "
                               f"in {timeout:g} s:\n{zabbix.log()}")
        time.sleep(1)
    return time.monotonic() - began


def _analyze(zabbix: ZabbixServer) -> None:
    """The database's planner statistics, as autovacuum keeps them in a Zabbix that
    has run a while. Without them (a database loaded minutes ago) PostgreSQL joins
    ``event.get``'s hosts (events, functions, items) by a nested loop over every
    item of the templates: 7 s for 200 events, where it takes 35 ms after."""
    with psycopg.connect(zabbix.db, autocommit=True) as conn:
        conn.execute("ANALYZE")


def _pull(zabbix: ZabbixServer, folder: Path, page: int) -> tuple[float, int, str]:
    """One ``aiops zabbix history`` as a process: its wall time, the alerts it wrote
    and what it said."""
    secret = folder / "pw"
    secret.write_text("zabbix")
    out = folder / f"history-{page}.jsonl"
    began = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "aiops", "--data-dir", str(folder / "d"),
                           "zabbix", "history", "--url", zabbix.url, "--user", "Admin",
                           "--password-file", str(secret), "--since", "30d", "--out",
                           str(out), "--page-size", str(page)],
                          capture_output=True, text=True, timeout=1800)
    took = time.monotonic() - began
    if done.returncode != 0:
        raise RuntimeError(f"aiops zabbix history failed: {done.stderr}")
    written = sum(1 for _ in out.open(encoding="utf-8"))
    return took, written, done.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--problems", type=int, default=2000)
    parser.add_argument("--hosts", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--pages", default="1000,100", help="page sizes, comma-separated")
    args = parser.parse_args()
    if not available():
        sys.exit("needs Debian's zabbix-server-pgsql, zabbix-frontend-php and php-cli")
    with postgres_server(free_port()) as url, tempfile.TemporaryDirectory() as tmp:
        zabbix = ZabbixServer(create_database(url, "zabbix_history_bench"))
        try:
            zabbix.start()
            names = _configure(zabbix, args.hosts)
            made = _make_problems(zabbix, names, args.problems)
            _analyze(zabbix)
            total = _problem_count(zabbix)
            print(f"Zabbix made {args.problems} problems (and their recoveries) in "
                  f"{made:.1f} s; {total} problem events in all")
            for page in (int(p) for p in args.pages.split(",")):
                runs = [_pull(zabbix, Path(tmp), page) for _ in range(args.runs)]
                times = sorted(r[0] for r in runs)
                said = re.search(r"(\d+) pages in ([\d.]+) s \((\d+) events/s\)", runs[-1][2])
                print(f"--page-size {page}: {runs[-1][1]} alerts; process wall time "
                      f"median {statistics.median(times):.2f} s, best {times[0]:.2f} s "
                      f"({runs[-1][1] / times[0]:,.0f} alerts/s); the command's own "
                      f"count: {said[1] if said else '?'} pages in "
                      f"{said[2] if said else '?'} s ({said[3] if said else '?'} events/s)")
        finally:
            zabbix.close()


if __name__ == "__main__":
    main()
