"""What checking a sign-in session's row costs a request (aiops/api/session_store.py;
docs/benchmarks.md, "Sign-in sessions"), on SQLite and PostgreSQL, and what a
re-check at the OpenID provider costs (aiops/api/session_recheck.py).

Why: every request a session cookie lets in now reads the session's row (one
primary-key look-up) so that signing out ends every copy of the cookie at once, in
every process, with no cache to wait out. This measures whether that read is cheap
enough to need no cache.

An engine with single sign-on configured (the provider is never asked: a request with
a session cookie does not reach it) on an embedded SQLite data dir or, with
``--postgres``, also on a throw-away PostgreSQL server on this machine (tests/
pg_server.py, over TCP to 127.0.0.1), its store empty (the request does as little else
as possible: the look-up's share is at its largest) or, with ``--demo``, holding the
demo's 12 faults (the incident list has something to list). It prints:

* requests/s of ``GET /api/v1/incidents`` with a session cookie, through Flask's test
  client (no HTTP server: its cost would hide the look-up's), ``--rounds`` rounds of
  ``--requests`` each, with ``--rows`` other live sessions in the table;
* the look-up alone (``SessionStore.alive``), microseconds per call;
* with ``--recheck N``: N refresh-token grants at the test OpenID provider
  (node-oidc-provider, tests/oidc/, on this machine) after one sign-in, and N whole
  re-checks (``Rechecker.current``: the row claimed, the grant, the id_token verified,
  the userinfo read, the row written), milliseconds each (median and 95th percentile).

``--write-docs`` replaces the generated block of docs/benchmarks.md's "Sign-in
sessions" section.

Usage: .venv/bin/python -m benchmarks.session_lookup [--requests 2000] [--rounds 5]
       [--rows 0 10000] [--demo] [--postgres] [--recheck 50] [--write-docs]
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from aiops.api import create_app
from aiops.api.oidc_provider import Provider
from aiops.api.session_store import row_id
from aiops.config import DataDir, OidcSettings
from aiops.runtime import open_runtime
from aiops.store.tables import sessions
from benchmarks.machine import cpu_model, load_average
from benchmarks.remediation import module_command, publish

START, END = "<!-- session-lookup:start -->", "<!-- session-lookup:end -->"


@dataclass(frozen=True, slots=True)
class Lookup:
    """One measured configuration: requests/s per round, the look-up alone (us)."""

    database: str
    rows: int
    rates: list[float]
    lookup_us: float

    @property
    def median(self) -> float:
        return statistics.median(self.rates)


def measure(rows: int, requests: int, rounds: int, demo: bool,
            database_url: str = "") -> tuple[list[float], float]:
    """Requests/s per round, and microseconds per look-up alone, on SQLite in the
    data dir or on ``database_url``."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "secret").write_text("s" * 32 + "\n", encoding="utf-8")
        base = replace(DataDir.from_env(root / "data"), database_url=database_url)
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


def measure_recheck(count: int) -> tuple[list[float], list[float]]:
    """Milliseconds of ``count`` refresh grants alone, and of ``count`` whole
    re-checks, at the test OpenID provider after one sign-in."""
    import secrets

    from aiops.api.oidc_session import Session
    from aiops.api.session_recheck import Rechecker
    from aiops.api.session_store import SessionStore
    from aiops.store.db import open_database
    from tests.oidc_server import REFRESHING, client, oidc_provider

    secret, app = "bench-client-secret-0123456789", "http://127.0.0.1:9"
    with oidc_provider([client("aiops", secret, app, **REFRESHING)],
                       {"ann": ["ops"]}) as issuer, tempfile.TemporaryDirectory() as tmp:
        provider = Provider(issuer, "aiops", secret)
        tokens, nonce = _sign_in(provider, f"{app}/auth/callback", "ann")
        claims = provider.claims_of(tokens, nonce, "groups")
        refresh = str(tokens["refresh_token"])
        grants = []
        for _ in range(count):
            began = time.perf_counter()
            refresh = str(provider.refresh(refresh)["refresh_token"])
            grants.append((time.perf_counter() - began) * 1000)
        settings = OidcSettings(issuer=issuer, client_id="aiops", client_secret_file="/x",
                                read_groups="viewers", operate_groups="ops", recheck=1.0)
        db = open_database(f"sqlite:///{Path(tmp) / 'aiops.db'}")
        try:
            store = SessionStore(db)
            rechecker = Rechecker(provider, store, settings)
            sid = secrets.token_urlsafe(32)
            scopes = frozenset({"read", "operate"})
            store.start(sid, "ann", time.time() + 3600, scopes=scopes,
                        sealed=rechecker.seal_grant(sid, refresh, claims["sub"], nonce))
            session = Session("ann", scopes, time.time() + 3600, "csrf", sid)
            checks = []
            for _ in range(count):
                with db.begin() as conn:  # due again
                    conn.execute(sa.update(sessions).values(checked_at=time.time() - 10))
                row = store.live(sid)
                assert row is not None
                began = time.perf_counter()
                checked = rechecker.current(session, row)
                checks.append((time.perf_counter() - began) * 1000)
                assert checked is not None and checked.scopes == scopes
        finally:
            db.dispose()
    return grants, checks


def _sign_in(provider: Provider, redirect_uri: str, user: str) -> tuple[dict, str]:
    """The token answer of one sign-in at the test provider's form, and its nonce."""
    import base64
    import hashlib
    import secrets
    from urllib.parse import parse_qs, urlsplit

    import requests

    nonce, verifier = secrets.token_urlsafe(16), secrets.token_urlsafe(64)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()) \
        .rstrip(b"=").decode()
    browser = requests.Session()
    form = browser.get(provider.authorization_url(redirect_uri, "openid profile groups",
                                                  "state", nonce, challenge), timeout=10)
    answer = browser.post(form.url, data={"prompt": "login", "login": user,
                                          "password": "any"},
                          allow_redirects=False, timeout=10)
    for _ in range(10):
        location = answer.headers.get("Location", "")
        if location.startswith(redirect_uri):
            code = parse_qs(urlsplit(location).query)["code"][0]
            return provider.exchange(code, verifier, redirect_uri), nonce
        answer = browser.get(location, allow_redirects=False, timeout=10)
    raise RuntimeError("the provider never sent the browser back")


def _ms(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return f"{statistics.median(values):.1f} ms (95th percentile {p95:.1f} ms)"


def report(results: Sequence[Lookup], recheck: tuple[list[float], list[float]] | None,
           command: str, versions: dict[str, str]) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    load = load_average()
    lines = [
        "### On SQLite and PostgreSQL, and a re-check at the provider", "",
        f"Measured {when} on {cpu_model()}, {os.cpu_count()} CPUs (shared with other "
        f"jobs), Python {platform.python_version()}, "
        + ", ".join(f"{k} {v}" for k, v in versions.items())
        + f"; 1-minute load average {load} at the end.", "",
        f"Command: `{command}`", "",
        "The same requests as above (empty store, median of the rounds), on the embedded "
        "SQLite data dir and on a PostgreSQL server on this machine (TCP to 127.0.0.1, "
        "the look-up one round trip). The look-up now reads the row's scopes, last check "
        "and sealed refresh token too (migration 0023).", "",
        "| database | other live sessions | requests/s | look-up alone |",
        "|---|---:|---:|---:|",
    ]
    for r in results:
        lines.append(f"| {r.database} | {r.rows:,} | {r.median:,.0f} | "
                     f"{r.lookup_us / 1000:.2f} ms |")
    lines.append("")
    if recheck is not None:
        grants, checks = recheck
        lines += [
            f"A re-check (AIOPS_OIDC_RECHECK), {len(grants)} of each against the test "
            "provider (node-oidc-provider 9.13.3 on this machine, RS256, refresh tokens "
            f"rotated): the refresh-token grant alone {_ms(grants)}; the whole re-check "
            "of a due session (row claimed, grant, id_token verified, userinfo read, row "
            f"written; SQLite) {_ms(checks)}. It is paid by one request of a session "
            "every AIOPS_OIDC_RECHECK seconds (300 by default), not by every request; a "
            "provider across a network adds its round trips (two: token and userinfo).",
            ""]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rows", type=int, nargs="+", default=[0, 10_000])
    parser.add_argument("--demo", action="store_true", help="the demo's 12 faults stored")
    parser.add_argument("--postgres", action="store_true",
                        help="also on a throw-away PostgreSQL server (tests/pg_server.py)")
    parser.add_argument("--recheck", type=int, default=0, metavar="N",
                        help="also time N refresh grants and N re-checks at the test "
                             "provider (needs node and tests/oidc/node_modules)")
    parser.add_argument("--write-docs", action="store_true",
                        help="replace the generated block of docs/benchmarks.md's "
                             "sign-in sessions section")
    args = parser.parse_args(argv)
    versions = {"SQLite": sqlite3.sqlite_version, "SQLAlchemy": sa.__version__}
    results: list[Lookup] = []

    def run(database: str, url: str) -> None:
        for rows in args.rows:
            rates, lookup = measure(rows, args.requests, args.rounds, args.demo, url)
            results.append(Lookup(database, rows, rates, lookup))
            print(f"{database}, {rows} other sessions: "
                  f"{' '.join(f'{r:.0f}' for r in rates)} requests/s (median "
                  f"{statistics.median(rates):.0f}); look-up alone {lookup:.0f} us",
                  file=sys.stderr, flush=True)

    run("SQLite", "")
    if args.postgres:
        from tests.pg_server import create_database, postgres_server
        from tests.ports import free_port

        with postgres_server(free_port()) as server:
            for rows in args.rows:  # a fresh database each: the rows of one stay there
                url = create_database(server, f"session_lookup_{rows}")
                rates, lookup = measure(rows, args.requests, args.rounds, args.demo, url)
                results.append(Lookup("PostgreSQL", rows, rates, lookup))
                print(f"PostgreSQL, {rows} other sessions: median "
                      f"{statistics.median(rates):.0f} requests/s; look-up alone "
                      f"{lookup:.0f} us", file=sys.stderr, flush=True)
            engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
            with engine.connect() as conn:
                versions["PostgreSQL"] = str(conn.execute(sa.text("SHOW server_version"))
                                             .scalar()).split()[0]
            engine.dispose()
    recheck = measure_recheck(args.recheck) if args.recheck else None
    command = module_command("benchmarks.session_lookup", argv)
    section = report(results, recheck, command, versions)
    publish(section, args.write_docs, START, END)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
