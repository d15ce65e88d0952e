"""Signed-in sessions re-checked at a real OpenID provider with its refresh token
(aiops/api/session_recheck.py), every second here (AIOPS_OIDC_RECHECK=1): a user
dropped from a group loses its scope, a deleted account is signed out, a provider
that is down leaves sessions as they were (fail open, one warning), the rotated
refresh token replaces the old one and is never stored in the clear, and concurrent
requests of one session spend its refresh token once."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from click.testing import CliRunner

from aiops.api.oidc import SignOn, build_sign_on
from aiops.api.oidc_session import SESSION_COOKIE, Sessions, session_key
from aiops.api.session_seal import unseal
from aiops.api.session_store import row_id
from aiops.cli import main
from aiops.store.tables import sessions
from tests.integration.test_feedback_api import incident_of
from tests.integration.test_oidc_sign_in import (
    SECRET,
    Signed,
    csrf_of,
    engine_with_sign_on,
    sign_in,
)
from tests.oidc_server import REFRESHING, delete_account, grants, set_groups, stop

PAST_RECHECK = 1.2  # seconds: past AIOPS_OIDC_RECHECK=1


@pytest.fixture
def signed(tmp_path: Path) -> Iterator[Signed]:
    with engine_with_sign_on(tmp_path, client_extra=REFRESHING, recheck=1.0) as served:
        yield served


def cookie_of(browser: requests.Session) -> str:
    return next(c.value for c in browser.cookies if c.name == SESSION_COOKIE)


def copy_of(browser: requests.Session) -> requests.Session:
    other = requests.Session()
    other.cookies.set(SESSION_COOKIE, cookie_of(browser), domain="127.0.0.1", path="/")
    return other


def refresh_token_of(engine: Signed, browser: requests.Session) -> str:
    """The refresh token the engine keeps for the browser's session, opened with the
    session id its cookie carries (as the engine does)."""
    session = Sessions(session_key(engine.data.path), 3600).read(cookie_of(browser))
    assert session is not None
    with engine.runtime.db.connect() as conn:
        sealed = conn.execute(sa.select(sessions.c.refresh_sealed).where(
            sessions.c.id == row_id(session.sid))).scalar_one()
    assert sealed is not None, "the session keeps no refresh token"
    return json.loads(unseal(session.sid, row_id(session.sid), sealed))["refresh_token"]


def refreshes(engine: Signed) -> dict[str, int]:
    return grants(engine.issuer).get("refresh_token", {"success": 0, "error": 0})


def merge(browser: requests.Session, engine: Signed, csrf: str) -> requests.Response:
    a, b = incident_of(engine.runtime, "a1"), incident_of(engine.runtime, "b1")
    return browser.post(f"{engine.url}/api/v1/incidents/{a}/merge",
                        json={"incident_ids": [b]}, headers={"X-CSRF-Token": csrf},
                        timeout=20)


def test_a_user_dropped_from_the_operate_group_may_read_but_no_longer_operate(
        signed: Signed) -> None:
    browser = requests.Session()
    page = sign_in(browser, signed, "ann")
    assert page.status_code == 200
    set_groups(signed.issuer, "ann", ["viewers"])
    time.sleep(PAST_RECHECK)
    refused = merge(browser, signed, csrf_of(page.text))
    assert refused.status_code == 403, refused.text
    assert "who may read;" in refused.json()["error"]["message"]
    assert browser.get(f"{signed.url}/api/v1/incidents", timeout=20).status_code == 200
    assert refreshes(signed) == {"success": 1, "error": 0}


def test_a_deleted_account_is_signed_out_at_the_next_request(signed: Signed,
                                                             tmp_path: Path) -> None:
    browser = requests.Session()
    sign_in(browser, signed, "ann")
    api = copy_of(browser)
    delete_account(signed.issuer, "ann")
    time.sleep(PAST_RECHECK)
    view = browser.get(f"{signed.url}/", allow_redirects=False, timeout=20)
    assert view.status_code == 302 and view.headers["Location"].startswith(signed.issuer)
    assert api.get(f"{signed.url}/api/v1/incidents", timeout=20).status_code == 401
    listed = CliRunner().invoke(main, ["--data-dir", str(tmp_path / "data"), "sessions",
                                       "list"])
    assert listed.exit_code == 0 and listed.stdout == ""
    with signed.runtime.db.connect() as conn:
        assert conn.execute(sa.select(sessions.c.ended_at)).scalar_one() is not None


def test_a_provider_that_is_down_leaves_sessions_as_they_were_and_warns_once(
        signed: Signed, caplog: pytest.LogCaptureFixture) -> None:
    browser = requests.Session()
    page = sign_in(browser, signed, "ann")
    stop(signed.issuer)
    time.sleep(PAST_RECHECK)
    with caplog.at_level(logging.WARNING, logger="aiops.api.session_recheck"):
        for _ in range(3):
            assert browser.get(f"{signed.url}/api/v1/incidents",
                               timeout=20).status_code == 200
        assert browser.get(f"{signed.url}/", timeout=20).status_code == 200
        assert merge(browser, signed, csrf_of(page.text)).status_code == 200
    warnings = [r.getMessage() for r in caplog.records
                if "cannot be re-checked" in r.getMessage()]
    assert len(warnings) == 1, warnings
    assert signed.issuer in warnings[0] and "asked again in 60 s" in warnings[0]


def test_the_rotated_refresh_token_replaces_the_old_one(signed: Signed) -> None:
    browser = requests.Session()
    sign_in(browser, signed, "ann")
    first = refresh_token_of(signed, browser)
    time.sleep(PAST_RECHECK)
    assert browser.get(f"{signed.url}/api/v1/incidents", timeout=20).status_code == 200
    second = refresh_token_of(signed, browser)
    assert second != first
    # The provider refuses the old one: the engine spent it, and keeps the new one.
    token_endpoint = requests.get(f"{signed.issuer}/.well-known/openid-configuration",
                                  timeout=10).json()["token_endpoint"]
    reused = requests.post(token_endpoint, data={"grant_type": "refresh_token",
                                                 "refresh_token": first},
                           auth=("aiops", SECRET), timeout=10)
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    # A spent token used again is taken for a theft: the provider revokes the grant,
    # and the session ends at its next re-check.
    time.sleep(PAST_RECHECK)
    assert browser.get(f"{signed.url}/api/v1/incidents", timeout=20).status_code == 401


def test_the_database_holds_no_refresh_token_in_the_clear(signed: Signed) -> None:
    browser = requests.Session()
    sign_in(browser, signed, "ann")
    token = refresh_token_of(signed, browser)
    assert len(token) >= 20
    database = Path(signed.runtime.db.url.database or "")
    files = [p for p in database.parent.iterdir() if p.name.startswith(database.name)]
    assert database in files
    for path in files:
        assert token.encode() not in path.read_bytes(), path


def test_concurrent_requests_of_one_session_spend_its_refresh_token_once(
        signed: Signed) -> None:
    browser = requests.Session()
    sign_in(browser, signed, "ann")
    time.sleep(PAST_RECHECK)
    clients = [copy_of(browser) for _ in range(6)]
    start = threading.Barrier(len(clients))
    answers: list[int] = []

    def ask(client: requests.Session) -> None:
        start.wait()
        answers.append(client.get(f"{signed.url}/api/v1/incidents", timeout=20).status_code)

    threads = [threading.Thread(target=ask, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [200] * len(clients)
    assert refreshes(signed) == {"success": 1, "error": 0}


def test_two_processes_re_check_a_session_once(signed: Signed) -> None:
    """Two sign-ons on one database, each with its own locks (as two processes):
    the conditional update of the row lets one of them refresh."""
    browser = requests.Session()
    sign_in(browser, signed, "ann")
    cookie = cookie_of(browser)
    processes = [build_sign_on(signed.data, signed.runtime.db) for _ in range(2)]
    time.sleep(PAST_RECHECK)
    start = threading.Barrier(len(processes))
    seen: list[frozenset[str] | None] = []

    def ask(process: SignOn) -> None:
        start.wait()
        session = process.session_of(cookie)
        seen.append(None if session is None else session.scopes)

    threads = [threading.Thread(target=ask, args=(p,)) for p in processes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == [frozenset({"read", "operate"})] * 2
    assert refreshes(signed) == {"success": 1, "error": 0}
    assert browser.get(f"{signed.url}/api/v1/incidents", timeout=20).status_code == 200


@pytest.mark.parametrize(("client_extra", "recheck"), [
    ({}, 1.0),  # the provider gives this client no refresh token
    (REFRESHING, 0.0),  # re-checks off: the refresh token is not kept
])
def test_a_session_not_re_checked_keeps_its_sign_in_groups(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, client_extra: dict,
        recheck: float) -> None:
    with engine_with_sign_on(tmp_path, client_extra=client_extra,
                             recheck=recheck) as served, \
            caplog.at_level(logging.INFO, logger="aiops.api.oidc"):
        browser = requests.Session()
        page = sign_in(browser, served, "ann")
        with served.runtime.db.connect() as conn:
            assert conn.execute(sa.select(sessions.c.refresh_sealed)).scalar_one() is None
        said = "gave no refresh token for 'ann''s session, which is not re-checked"
        assert any(said in r.getMessage() for r in caplog.records) == bool(recheck)
        set_groups(served.issuer, "ann", ["viewers"])
        time.sleep(PAST_RECHECK)
        assert merge(browser, served, csrf_of(page.text)).status_code == 200
        assert refreshes(served) == {"success": 0, "error": 0}
