"""Sign-in sessions the engine keeps (aiops/api/session_store.py), against a real OpenID
provider as tests/integration/test_oidc_sign_in.py: signing out ends every copy of the
cookie at once, an expired or unknown session is not signed in, a restart keeps a live
session, an admin ends a user's sessions with ``aiops sessions end``, and starting a
session deletes the ended and expired ones."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from click.testing import CliRunner

from aiops.api.session_store import SessionStore, row_id
from aiops.cli import main
from aiops.store.db import open_database
from aiops.store.tables import sessions
from tests.integration.test_oidc_sign_in import Signed, csrf_of, engine_with_sign_on, sign_in


@pytest.fixture
def signed(tmp_path: Path) -> Iterator[Signed]:
    with engine_with_sign_on(tmp_path) as served:
        yield served


def copy_of(browser: requests.Session) -> requests.Session:
    """Another client holding the same session cookie (taken from a shared machine)."""
    other = requests.Session()
    for cookie in browser.cookies:
        if cookie.name == "aiops_session":
            other.cookies.set_cookie(cookie)
    assert "aiops_session" in other.cookies
    return other


def signed_in(client: requests.Session, engine: Signed) -> bool:
    """Whether the API takes the client's cookie (200) or not (401, as without one)."""
    answer = client.get(f"{engine.url}/api/v1/incidents", timeout=10)
    assert answer.status_code in (200, 401), answer.text[:300]
    return answer.status_code == 200


def sign_out(browser: requests.Session, engine: Signed, page: str) -> None:
    out = browser.post(f"{engine.url}/auth/logout", data={"csrf_token": csrf_of(page)},
                       allow_redirects=False, timeout=10)
    assert out.status_code == 303


def test_signing_out_ends_every_copy_of_the_cookie(signed: Signed) -> None:
    browser = requests.Session()
    page = sign_in(browser, signed, "ann")
    copied = copy_of(browser)
    assert signed_in(copied, signed)
    sign_out(browser, signed, page.text)
    assert not signed_in(copied, signed)
    view = copied.get(f"{signed.url}/", allow_redirects=False, timeout=10)
    assert view.status_code == 302 and view.headers["Location"].startswith(signed.issuer)
    with signed.runtime.db.connect() as conn:
        ended = conn.execute(sa.select(sessions.c.user_name, sessions.c.ended_at)).all()
    assert [user for user, _ in ended] == ["ann"] and ended[0][1] is not None
    # Another sign-in of the same user is a new session, and deletes the ended one.
    again = requests.Session()
    sign_in(again, signed, "ann")
    assert signed_in(again, signed) and not signed_in(copied, signed)
    with signed.runtime.db.connect() as conn:
        assert conn.execute(sa.select(sessions.c.ended_at)).scalars().all() == [None]


def test_an_expired_or_unknown_session_is_not_signed_in(signed: Signed) -> None:
    browser = requests.Session()
    sign_in(browser, signed, "ann")
    assert signed_in(browser, signed)
    with signed.runtime.db.begin() as conn:  # the row says expired; the cookie does not
        conn.execute(sa.update(sessions).values(expires_at=time.time() - 1))
    assert not signed_in(browser, signed)
    other = requests.Session()
    sign_in(other, signed, "wall")
    with signed.runtime.db.begin() as conn:  # a row gone (a restored backup, say)
        conn.execute(sa.delete(sessions))
    assert not signed_in(other, signed)


def test_a_restart_keeps_a_live_session_and_can_end_it(tmp_path: Path) -> None:
    browser = requests.Session()
    with engine_with_sign_on(tmp_path) as first:
        sign_in(browser, first, "ann")
        assert signed_in(browser, first)
    copied = copy_of(browser)
    # A new runtime and app on the same data dir: the key and the rows are still there.
    with engine_with_sign_on(tmp_path, seed=False) as restarted:
        assert signed_in(browser, restarted) and signed_in(copied, restarted)
        page = browser.get(f"{restarted.url}/", timeout=10)
        assert page.status_code == 200 and 'id="signed-in-user">ann<' in page.text
        sign_out(browser, restarted, page.text)
        assert not signed_in(copied, restarted)


def test_starting_a_session_deletes_the_ended_and_expired_ones(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'sessions.db'}")
    try:
        store = SessionStore(db)
        store.start("old", "ann", expires=1_000.0, now=100.0)
        store.start("ended", "ann", expires=5_000.0, now=200.0)
        store.start("live", "wall", expires=5_000.0, now=300.0)
        assert store.end("ended", now=400.0) and not store.end("ended", now=401.0)
        assert store.alive("live", now=1_500.0) and not store.alive("old", now=1_500.0)
        assert not store.alive("ended", now=1_500.0) and not store.alive("", now=0.0)
        store.start("new", "ann", expires=9_000.0, now=1_500.0)
        with db.connect() as conn:
            kept = set(conn.execute(sa.select(sessions.c.id)).scalars())
        assert kept == {row_id("live"), row_id("new")}
        assert [s.user for s in store.alive_sessions(now=1_600.0)] == ["wall", "ann"]
        assert store.end_user("ann", now=1_700.0) == 1
        assert not store.alive("new", now=1_800.0) and store.alive("live", now=1_800.0)
    finally:
        db.dispose()


def test_an_admin_ends_every_session_of_a_user(signed: Signed, tmp_path: Path) -> None:
    anns = [requests.Session(), requests.Session()]
    for browser in anns:
        sign_in(browser, signed, "ann")
    wall = requests.Session()
    sign_in(wall, signed, "wall")
    cli = ["--data-dir", str(tmp_path / "data"), "sessions"]
    listed = CliRunner().invoke(main, [*cli, "list"])
    assert listed.exit_code == 0, listed.output
    assert sorted(line.split("\t")[0] for line in listed.stdout.splitlines()) \
        == ["ann", "ann", "wall"]
    ended = CliRunner().invoke(main, [*cli, "end", "--user", "ann"])
    assert ended.exit_code == 0 and "ended 2 sessions of 'ann'" in ended.output
    assert not any(signed_in(browser, signed) for browser in anns)
    assert signed_in(wall, signed)
    again = CliRunner().invoke(main, [*cli, "end", "--user", "ann"])
    assert again.exit_code == 0 and "no session of 'ann' was alive" in again.output
    assert CliRunner().invoke(main, [*cli, "list", "--user", "ann"]).stdout == ""


def test_one_caller_claims_a_re_check_and_what_it_reads_is_kept(db_url: str) -> None:
    """The conditional update behind re-checks (aiops/api/session_recheck.py), on
    SQLite and PostgreSQL: of two callers that read the same row (two processes),
    one takes the re-check; a re-check given back leaves the row as it was read."""
    db = open_database(db_url)
    try:
        store = SessionStore(db)
        store.start("s", "ann", expires=5_000.0, now=100.0,
                    scopes=frozenset({"read", "operate"}), sealed=b"sealed-1")
        seen = store.live("s", now=200.0)
        assert seen is not None and seen.checked_at == 100.0 and seen.sealed == b"sealed-1"
        assert seen.scopes == {"read", "operate"}
        assert store.claim_check("s", seen.checked_at, 200.0)
        assert not store.claim_check("s", seen.checked_at, 200.5)  # the other process
        store.record_check("s", 200.0, frozenset({"read"}), b"sealed-2")
        store.record_check("s", 150.0, frozenset(), b"stale")  # not its claim: no effect
        after = store.live("s", now=300.0)
        assert after is not None and after.checked_at == 200.0
        assert after.scopes == {"read"} and after.sealed == b"sealed-2"
        assert store.claim_check("s", 200.0, 400.0)
        store.release_check("s", 400.0, 200.0)  # the provider was down
        again = store.live("s", now=500.0)
        assert again is not None and again.checked_at == 200.0
        store.end("s", now=600.0)
        assert not store.claim_check("s", 200.0, 700.0)  # an ended session is not
    finally:
        db.dispose()
