"""What checking a sign-in session's row costs a request (aiops/api/session_store.py;
docs/benchmarks.md, "Sign-in sessions").

Why: every request a session cookie lets in now reads the session's row (one
primary-key look-up) so that signing out ends every copy of the cookie at once, in
every process, with no cache to wait out. This measures whether that read is cheap
enough to need no cache.

An engine with single sign-on configured (the provider is never asked: a request with
a session cookie does not reach it) on an embedded SQLite data dir, its store empty
(the request does as little else as possible: the look-up's share is at its largest)
or, with ``--demo``, holding the demo's 12 faults (the incident list has something to
list). It prints:

* requests/s of ``GET /api/v1/incidents`` with a session cookie, through Flask's test
  client (no HTTP server: its cost would hide the look-up's), ``--rounds`` rounds of
  ``--requests`` each, with ``--rows`` other live sessions in the table;
* the look-up alone (``SessionStore.alive``), microseconds per call.

Usage: .venv/bin/python -m benchmarks.session_lookup [--requests 2000] [--rounds 5]
       [--rows 0 10000] [--demo]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import sqlalchemy as sa

from aiops.api import create_app
from aiops.api.session_store import row_id
from aiops.config import DataDir, OidcSettings
from aiops.runtime import open_runtime
from aiops.store.tables import sessions


def measure(rows: int, requests: int, rounds: int,
            demo: bool) -> tuple[list[float], float]:
    """Requests/s per round, and microseconds per look-up alone."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "secret").write_text("s" * 32 + "\n", encoding="utf-8")
        base = DataDir.from_env(root / "data")
        nowhere = "http://127.0.0.1:9"  # never asked
        data = replace(base, sinks=replace(base.sinks, public_url=nowhere),
                       oidc=OidcSettings(issuer=nowhere, client_id="aiops",
                                         client_secret_file=str(root / "secret"),
                                         read_groups="viewers", operate_groups="ops"))
        rt = open_runtime(data)
        try:
            if demo:
                from tests.conftest import load_demo

                load_demo(rt)
            app = create_app(runtime=rt)
            sign_on = app.extensions["aiops_sign_on"]
            now = time.time()
            if rows:
                with rt.db.begin() as conn:
                    conn.execute(sa.insert(sessions), [
                        {"id": row_id(f"other-{i}"), "user_name": f"user{i % 50}",
                         "created_at": now, "expires_at": now + 3600} for i in range(rows)])
            session, value = sign_on.sessions.issue("ann", frozenset({"read"}), None)
            sign_on.store.start(session.sid, "ann", session.expires)
            client = app.test_client()
            client.set_cookie("aiops_session", value, domain="localhost")
            assert client.get("/api/v1/incidents").status_code == 200
            rates = []
            for _ in range(rounds):
                start = time.perf_counter()
                for _ in range(requests):
                    client.get("/api/v1/incidents")
                rates.append(requests / (time.perf_counter() - start))
            start = time.perf_counter()
            for _ in range(requests):
                sign_on.store.alive(session.sid)
            lookup = (time.perf_counter() - start) / requests * 1e6
            return rates, lookup
        finally:
            rt.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rows", type=int, nargs="+", default=[0, 10_000])
    parser.add_argument("--demo", action="store_true", help="the demo's 12 faults stored")
    args = parser.parse_args()
    for rows in args.rows:
        rates, lookup = measure(rows, args.requests, args.rounds, args.demo)
        print(f"{rows} other sessions: {' '.join(f'{r:.0f}' for r in rates)} requests/s "
              f"(median {sorted(rates)[len(rates) // 2]:.0f}); look-up alone "
              f"{lookup:.0f} us")


if __name__ == "__main__":
    main()
