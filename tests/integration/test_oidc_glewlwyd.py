"""Single sign-on against a second real OpenID provider, Glewlwyd (tests/glewlwyd_server.py):
the engine's own sign-in (the code flow with PKCE, the id_token verified with the
provider's published RS256 key, the groups claim) gives the scopes of the user's
groups, a user outside them may nothing, a client secret the provider does not take
is named, sign-out ends the session here and at Glewlwyd (its end_session), and the
session is re-checked with Glewlwyd's refresh token (which answers without an
id_token, so the groups come from userinfo, and refuses the token of a deleted user
with a bare HTTP 400)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import sqlalchemy as sa

from aiops.store.tables import sessions
from tests.glewlwyd_server import Glewlwyd, glewlwyd_provider, sign_in_at, sign_out_at
from tests.integration.test_feedback_api import incident_of
from tests.integration.test_oidc_sign_in import SECRET, Signed, csrf_of, engine_with_sign_on

ACCOUNTS = {"ann": ["ops", "staff"], "wall": ["viewers"], "eve": ["guests"]}
PAST_RECHECK = 1.2  # seconds: past AIOPS_OIDC_RECHECK=1


@contextmanager
def engine_at_glewlwyd(tmp_path: Path, secret: str = SECRET,
                       recheck: float = 300.0) -> Iterator[tuple[Signed, Glewlwyd]]:
    """Glewlwyd with ACCOUNTS, and the engine signing in there as the client
    ``aiops``, registered at Glewlwyd with ``secret`` (the engine has SECRET)."""
    with glewlwyd_provider(tmp_path / "glewlwyd", ACCOUNTS) as glewlwyd, \
            engine_with_sign_on(tmp_path, issuer=glewlwyd.issuer, recheck=recheck) as engine:
        glewlwyd.put_client("aiops", secret, engine.url)
        yield engine, glewlwyd


@pytest.fixture
def signed(tmp_path: Path) -> Iterator[Signed]:
    with engine_at_glewlwyd(tmp_path) as (engine, _):
        yield engine


def to_callback(browser: requests.Session, engine: Signed, user: str,
                path: str = "/") -> str:
    """Open ``path`` of the engine, sign in as ``user`` on Glewlwyd's login page, and
    stop at the redirect back to /auth/callback: its URL."""
    page = browser.get(engine.url + path, timeout=10)  # through to the login page
    assert page.status_code == 200 and "/login.html?" in page.url, page.url
    answer = sign_in_at(browser, page.url, user, "aiops")
    location = answer.headers.get("Location", "")
    assert location.startswith(f"{engine.url}/auth/callback"), (answer.status_code,
                                                                 location)
    return location


def sign_in(browser: requests.Session, engine: Signed, user: str,
            path: str = "/") -> requests.Response:
    return browser.get(to_callback(browser, engine, user, path), timeout=10)


def merge(browser: requests.Session, engine: Signed, csrf: str) -> requests.Response:
    a, b = incident_of(engine.runtime, "a1"), incident_of(engine.runtime, "b1")
    return browser.post(f"{engine.url}/api/v1/incidents/{a}/merge",
                        json={"incident_ids": [b]}, headers={"X-CSRF-Token": csrf},
                        timeout=20)


def test_an_operator_signs_in_at_glewlwyd_and_may_operate(signed: Signed) -> None:
    browser = requests.Session()
    first = browser.get(f"{signed.url}/", allow_redirects=False, timeout=10)
    assert first.headers["Location"].startswith(f"{signed.issuer}/auth?")
    asked = parse_qs(urlsplit(first.headers["Location"]).query)
    assert asked["code_challenge_method"] == ["S256"] and asked["nonce"]
    a = incident_of(signed.runtime, "a1")
    page = sign_in(browser, signed, "ann", f"/incidents/{a}")
    assert page.status_code == 200 and page.url == f"{signed.url}/incidents/{a}"
    # preferred_username, a claim Glewlwyd is told to send (the user name)
    assert 'id="signed-in-user">ann<' in page.text
    done = merge(browser, signed, csrf_of(page.text))
    assert done.status_code == 200, done.text
    assert done.json()["feedback"]["author"] == "ann"


def test_a_reader_may_read_but_not_operate(signed: Signed) -> None:
    browser = requests.Session()
    page = sign_in(browser, signed, "wall")
    assert page.status_code == 200
    assert browser.get(f"{signed.url}/api/v1/incidents", timeout=10).status_code == 200
    refused = merge(browser, signed, csrf_of(page.text))
    assert refused.status_code == 403
    assert "one of the groups ops" in refused.json()["error"]["message"]


def test_a_user_outside_the_groups_may_nothing(signed: Signed) -> None:
    browser = requests.Session()
    page = sign_in(browser, signed, "eve")
    assert page.status_code == 403
    assert "signed in as &#39;eve&#39;, who may nothing" in page.text
    assert browser.get(f"{signed.url}/api/v1/incidents", timeout=10).status_code == 403


def test_a_client_secret_glewlwyd_does_not_take_is_named(tmp_path: Path) -> None:
    """Glewlwyd answers a client that fails to authenticate with HTTP 403
    unauthorized_client: the page names the engine's client settings."""
    with engine_at_glewlwyd(tmp_path, secret="another-secret-0123456789") as (engine, _):
        browser = requests.Session()
        answer = sign_in(browser, engine, "ann")
        assert answer.status_code == 400
        assert ("the OpenID provider refused this engine&#39;s client &#39;aiops&#39; "
                "(unauthorized_client)") in answer.text
        assert "AIOPS_OIDC_CLIENT_SECRET_FILE" in answer.text
        assert "aiops_session" not in browser.cookies


def test_sign_out_ends_the_session_here_and_at_glewlwyd(signed: Signed) -> None:
    browser = requests.Session()
    page = sign_in(browser, signed, "ann")
    assert browser.get(f"{signed.issuer.rsplit('/', 1)[0]}/profile_list",
                       timeout=10).status_code == 200  # signed in at Glewlwyd too
    out = browser.post(f"{signed.url}/auth/logout", data={"csrf_token": csrf_of(page.text)},
                       allow_redirects=False, timeout=10)
    assert out.status_code == 303
    target = out.headers["Location"]
    assert target.startswith(f"{signed.issuer}/end_session?")
    assert "aiops_session" not in browser.cookies
    # Glewlwyd takes the id_token_hint and the registered post_logout_redirect_uri,
    # and sends the browser to its login page to confirm.
    confirm = browser.get(target, timeout=10)
    assert confirm.status_code == 200 and "prompt=end_session" in confirm.url
    ended = sign_out_at(browser, confirm.url)
    assert ended.status_code == 200 and ended.url == f"{signed.url}/auth/signed-out"
    assert "You are signed out" in ended.text
    assert browser.get(f"{signed.issuer.rsplit('/', 1)[0]}/profile_list",
                       timeout=10).status_code == 401  # Glewlwyd's session is gone
    again = browser.get(f"{signed.url}/", allow_redirects=False, timeout=10)
    assert again.status_code == 302 and again.headers["Location"].startswith(signed.issuer)


def test_sessions_are_rechecked_with_glewlwyds_refresh_token(tmp_path: Path) -> None:
    """Glewlwyd's refresh answer has no id_token: the groups are read from userinfo.
    A user dropped from the operate group may then only read; a deleted user's refresh
    token is refused with a bare HTTP 400, and the session ends."""
    with engine_at_glewlwyd(tmp_path, recheck=1.0) as (engine, glewlwyd):
        browser = requests.Session()
        page = sign_in(browser, engine, "ann")
        assert page.status_code == 200
        glewlwyd.set_groups("ann", ["viewers"])
        time.sleep(PAST_RECHECK)
        refused = merge(browser, engine, csrf_of(page.text))
        assert refused.status_code == 403, refused.text
        assert "who may read;" in refused.json()["error"]["message"]
        assert browser.get(f"{engine.url}/api/v1/incidents", timeout=20).status_code == 200
        glewlwyd.delete_user("ann")
        time.sleep(PAST_RECHECK)
        assert browser.get(f"{engine.url}/api/v1/incidents", timeout=20).status_code == 401
        with engine.runtime.db.connect() as conn:
            assert conn.execute(sa.select(sessions.c.ended_at)).scalar_one() is not None
