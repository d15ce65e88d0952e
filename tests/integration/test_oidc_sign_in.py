"""Single sign-on against a real OpenID provider (node-oidc-provider, tests/oidc/): a
user signs in through the provider's form and the view and API take the session; the
groups decide the scopes; state, the code's single use, CSRF, sign-out and a provider
that is down behave as docs/contracts.md says; tokens keep working beside it."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import sqlalchemy as sa
from werkzeug.serving import make_server

from aiops.api import create_app
from aiops.api.access import token_line
from aiops.config import DataDir, OidcSettings
from aiops.runtime import Runtime, open_runtime
from aiops.store.tables import feedback
from tests.integration.test_feedback_api import build, incident_of
from tests.oidc_server import client, oidc_provider
from tests.ports import free_port

SECRET = "engine-client-secret-0123456789"
ACCOUNTS = {"ann": ["ops", "staff"], "wall": ["viewers"], "eve": ["guests"]}
BOT_TOKEN = "ops-bot-token-0123456789"


@dataclass
class Signed:
    url: str  # the engine
    issuer: str
    runtime: Runtime
    data: DataDir


@contextmanager
def engine_with_sign_on(tmp_path: Path, issuer: str | None = None,
                        client_extra: dict[str, Any] | None = None,
                        seed: bool = True, recheck: float = 300.0) -> Iterator[Signed]:
    """A provider (unless ``issuer`` names one) with the engine's client, and the
    engine served with single sign-on (sessions re-checked every ``recheck`` seconds)
    and a tokens file (the ops bot's token); its data dir is ``tmp_path``/data,
    seeded with two cascades unless ``seed`` is False (a restart on a data dir seeded
    before)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    secret_file = tmp_path / "client-secret"
    secret_file.write_text(SECRET + "\n", encoding="utf-8")
    tokens = tmp_path / "tokens"
    tokens.write_text(token_line("ops-bot", ["read", "operate"], BOT_TOKEN) + "\n",
                      encoding="utf-8")

    @contextmanager
    def provider() -> Iterator[str]:
        if issuer is not None:
            yield issuer
            return
        with oidc_provider([client("aiops", SECRET, url, **(client_extra or {}))],
                           ACCOUNTS) as started:
            yield started

    with provider() as iss:
        base = DataDir.from_env(tmp_path / "data")
        data = replace(base, api_tokens_file=str(tokens),
                       sinks=replace(base.sinks, public_url=url),
                       oidc=OidcSettings(issuer=iss, client_id="aiops",
                                         client_secret_file=str(secret_file),
                                         scopes="openid profile email groups",
                                         read_groups="viewers", operate_groups="ops",
                                         recheck=recheck))
        rt = open_runtime(data)
        try:
            if seed:
                build(rt)
            server = make_server("127.0.0.1", port, create_app(runtime=rt), threaded=True)
            thread = threading.Thread(target=server.serve_forever, daemon=True)
            thread.start()
            try:
                yield Signed(url, iss, rt, data)
            finally:
                server.shutdown()
                thread.join(timeout=5)
        finally:
            rt.close()


@pytest.fixture
def signed(tmp_path: Path) -> Iterator[Signed]:
    with engine_with_sign_on(tmp_path) as served:
        yield served


def to_callback(browser: requests.Session, engine: Signed, user: str,
                path: str = "/") -> str:
    """Open ``path`` of the engine, sign in as ``user`` at the provider's form, and
    stop at the redirect back to /auth/callback: its URL."""
    answer = browser.get(engine.url + path, timeout=10)  # through to the provider's form
    assert answer.status_code == 200 and answer.url.startswith(engine.issuer), answer.url
    assert 'name="login"' in answer.text
    answer = browser.post(answer.url, data={"prompt": "login", "login": user,
                                            "password": "any"},
                          allow_redirects=False, timeout=10)
    for _ in range(10):
        location = answer.headers.get("Location", "")
        if location.startswith(f"{engine.url}/auth/callback"):
            return location
        assert answer.status_code in (302, 303), (answer.status_code, answer.text[:300])
        answer = browser.get(location, allow_redirects=False, timeout=10)
    raise AssertionError("the provider never sent the browser back")


def sign_in(browser: requests.Session, engine: Signed, user: str,
            path: str = "/") -> requests.Response:
    """The page the signed-in user lands on."""
    return browser.get(to_callback(browser, engine, user, path), timeout=10)


def login_cookies(browser: requests.Session) -> dict[str, str]:
    """The browser's cookies of sign-ins under way (one per sign-in)."""
    return {c.name: c.value for c in browser.cookies
            if c.name.startswith("aiops_login.") and c.value}


def csrf_of(page: str) -> str:
    match = re.search(r'<meta name="csrf-token" content="([^"]+)">', page)
    assert match, "the page carries no CSRF token"
    return match[1]


def test_a_user_signs_in_at_the_provider_and_the_view_and_api_take_the_session(
        signed: Signed) -> None:
    browser = requests.Session()
    first = browser.get(f"{signed.url}/", allow_redirects=False, timeout=10)
    assert first.status_code == 302
    asked = parse_qs(urlsplit(first.headers["Location"]).query)
    assert first.headers["Location"].startswith(f"{signed.issuer}/auth?")
    assert asked["code_challenge_method"] == ["S256"] and asked["nonce"] and asked["state"]
    assert asked["redirect_uri"] == [f"{signed.url}/auth/callback"]
    cookie = first.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/auth/" in cookie

    a = incident_of(signed.runtime, "a1")
    page = sign_in(browser, signed, "ann", f"/incidents/{a}")
    assert page.status_code == 200
    assert page.url == f"{signed.url}/incidents/{a}"  # back to the page first asked for
    assert 'id="signed-in-user">ann<' in page.text and 'id="sign-out"' in page.text
    session_cookie = next(c for c in browser.cookies if c.name == "aiops_session")
    assert session_cookie.has_nonstandard_attr("HttpOnly") and not session_cookie.secure
    listed = browser.get(f"{signed.url}/api/v1/incidents", timeout=10)
    assert listed.status_code == 200 and listed.json()["incidents"]
    assert browser.get(f"{signed.url}/", timeout=10).status_code == 200


def test_an_es256_id_token_is_verified_too(tmp_path: Path) -> None:
    with engine_with_sign_on(tmp_path, client_extra={
            "id_token_signed_response_alg": "ES256"}) as served:
        browser = requests.Session()
        page = sign_in(browser, served, "ann")
        assert page.status_code == 200 and 'id="signed-in-user">ann<' in page.text


def test_a_user_without_the_groups_is_told_which_are_needed(signed: Signed) -> None:
    browser = requests.Session()
    page = sign_in(browser, signed, "eve")
    assert page.status_code == 403
    assert "signed in as &#39;eve&#39;, who may nothing" in page.text
    assert "one of the groups viewers, ops (claim &#39;groups&#39;)" in page.text
    assert 'id="sign-out"' in page.text  # and can sign out
    api = browser.get(f"{signed.url}/api/v1/incidents", timeout=10)
    assert api.status_code == 403


def test_a_reader_may_not_operate(signed: Signed) -> None:
    browser = requests.Session()
    page = sign_in(browser, signed, "wall")
    assert page.status_code == 200
    a, b = incident_of(signed.runtime, "a1"), incident_of(signed.runtime, "b1")
    answer = browser.post(f"{signed.url}/api/v1/incidents/{a}/merge",
                          json={"incident_ids": [b]},
                          headers={"X-CSRF-Token": csrf_of(page.text)}, timeout=10)
    assert answer.status_code == 403
    assert "one of the groups ops" in answer.json()["error"]["message"]


@pytest.mark.parametrize("change", ["tampered", "missing"])
def test_a_state_that_is_not_the_browsers_is_refused(signed: Signed, change: str) -> None:
    browser = requests.Session()
    back = to_callback(browser, signed, "ann")
    parts = urlsplit(back)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    if change == "tampered":
        query["state"] = query["state"][:-2] + "xx"
    else:
        del query["state"]
    answer = browser.get(f"{signed.url}/auth/callback", params=query, timeout=10)
    assert answer.status_code == 400
    assert "state is not the one this browser" in answer.text
    assert "aiops_session" not in browser.cookies


def test_two_tabs_signing_in_at_once_each_finish(signed: Signed) -> None:
    """A session that expired under a browser with several tabs open sends each tab to
    the provider; each tab's answer finds its own sign-in, not only the last one's."""
    browser = requests.Session()
    first = to_callback(browser, signed, "ann", "/?tab=1")
    second = browser.get(f"{signed.url}/?tab=2", allow_redirects=False, timeout=10)
    assert second.status_code == 302
    landed = browser.get(first, timeout=10)
    assert landed.status_code == 200 and landed.url == f"{signed.url}/?tab=1"
    assert "aiops_session" in browser.cookies
    assert len(login_cookies(browser)) == 1  # the other tab's sign-in still waits


def test_a_callback_without_a_sign_in_under_way_is_refused(signed: Signed) -> None:
    answer = requests.get(f"{signed.url}/auth/callback?code=x&state=y", timeout=10)
    assert answer.status_code == 400 and "No sign-in is under way" in answer.text


def test_a_replayed_code_is_refused_by_the_provider(signed: Signed) -> None:
    browser = requests.Session()
    back = to_callback(browser, signed, "ann")
    (name, pending), = login_cookies(browser).items()
    assert browser.get(back, timeout=10).status_code == 200
    assert not login_cookies(browser)  # the finished sign-in's cookie is cleared
    attacker = requests.Session()  # the same code and the sign-in cookie, once more
    attacker.cookies.set(name, pending, domain="127.0.0.1", path="/auth/")
    again = attacker.get(back, timeout=10)
    assert again.status_code == 400
    assert "the OpenID provider refused the code: invalid_grant" in again.text
    assert "aiops_session" not in attacker.cookies


def test_a_cookie_authenticated_write_needs_the_csrf_token_and_the_author_is_the_user(
        signed: Signed) -> None:
    browser = requests.Session()
    a, b = incident_of(signed.runtime, "a1"), incident_of(signed.runtime, "b1")
    page = sign_in(browser, signed, "ann", f"/incidents/{a}")
    merge = f"{signed.url}/api/v1/incidents/{a}/merge"
    body = {"incident_ids": [b], "author": "mallory"}
    refused = browser.post(merge, json=body, timeout=10)
    assert refused.status_code == 403
    assert "X-CSRF-Token" in refused.json()["error"]["message"]
    wrong = browser.post(merge, json=body, headers={"X-CSRF-Token": "guess"}, timeout=10)
    assert wrong.status_code == 403
    done = browser.post(merge, json=body, headers={"X-CSRF-Token": csrf_of(page.text)},
                        timeout=10)
    assert done.status_code == 200, done.text
    assert done.json()["feedback"]["author"] == "ann"
    with signed.runtime.db.connect() as conn:
        authors = conn.execute(sa.select(feedback.c.author)).scalars().all()
    assert authors == ["ann"]


def test_sign_out_ends_the_session_here_and_at_the_provider(signed: Signed) -> None:
    browser = requests.Session()
    page = sign_in(browser, signed, "ann")
    confirm = browser.get(f"{signed.url}/auth/logout", timeout=10)
    assert confirm.status_code == 200 and 'id="signout-confirm"' in confirm.text
    assert "aiops_session" in browser.cookies  # a GET signs nobody out
    forged = browser.post(f"{signed.url}/auth/logout", data={"csrf_token": "forged"},
                          allow_redirects=False, timeout=10)
    assert forged.status_code == 403 and "aiops_session" in browser.cookies
    out = browser.post(f"{signed.url}/auth/logout", data={"csrf_token": csrf_of(page.text)},
                       allow_redirects=False, timeout=10)
    assert out.status_code == 303
    target = out.headers["Location"]
    assert target.startswith(f"{signed.issuer}/session/end?")
    query = parse_qs(urlsplit(target).query)
    assert query["post_logout_redirect_uri"] == [f"{signed.url}/auth/signed-out"]
    assert query["id_token_hint"][0].count(".") == 2
    assert "aiops_session" not in browser.cookies
    again = browser.get(f"{signed.url}/", allow_redirects=False, timeout=10)
    assert again.status_code == 302 and again.headers["Location"].startswith(signed.issuer)
    # The provider asks to confirm; once confirmed it ends its session and sends the
    # browser back to the engine's signed-out page.
    asked = browser.get(target, timeout=10)
    assert asked.status_code == 200, asked.text[:300]
    xsrf = re.search(r'name="xsrf" value="([^"]+)"', asked.text)
    assert xsrf, asked.text[:500]
    action = re.search(r'action="([^"]+)"', asked.text)
    assert action
    ended = browser.post(requests.compat.urljoin(asked.url, action[1]),
                         data={"xsrf": xsrf[1], "logout": "yes"}, timeout=10)
    assert ended.status_code == 200 and ended.url == f"{signed.url}/auth/signed-out"
    assert "You are signed out" in ended.text
    # The provider's session is gone too: signing in asks for the user again.
    form = browser.get(f"{signed.url}/", timeout=10)
    assert 'name="login"' in form.text


def test_a_provider_that_is_down_gives_a_page_naming_it(tmp_path: Path) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    with engine_with_sign_on(tmp_path, issuer=down) as served:
        answer = requests.get(f"{served.url}/", timeout=20)
        assert answer.status_code == 502
        assert f"the OpenID provider {down}" in answer.text
        assert f"{down}/.well-known/openid-configuration could not be fetched" in answer.text
        assert "Traceback" not in answer.text
        # ...while tokens still work.
        api = requests.get(f"{served.url}/api/v1/incidents", timeout=10,
                           headers={"Authorization": f"Bearer {BOT_TOKEN}"})
        assert api.status_code == 200


def test_tokens_keep_working_beside_sign_on(signed: Signed) -> None:
    bearer = {"Authorization": f"Bearer {BOT_TOKEN}"}
    assert requests.get(f"{signed.url}/api/v1/incidents", headers=bearer,
                        timeout=10).status_code == 200
    a, b = incident_of(signed.runtime, "a1"), incident_of(signed.runtime, "b1")
    merged = requests.post(f"{signed.url}/api/v1/incidents/{a}/merge", headers=bearer,
                           json={"incident_ids": [b]}, timeout=10)  # no CSRF: a token
    assert merged.status_code == 200 and merged.json()["feedback"]["author"] == "ops-bot"
    basic = requests.get(f"{signed.url}/api/v1/incidents", auth=("bot", BOT_TOKEN),
                         timeout=10)
    assert basic.status_code == 200
    anonymous = requests.get(f"{signed.url}/api/v1/incidents", timeout=10)
    assert anonymous.status_code == 401 and "WWW-Authenticate" not in anonymous.headers
    assert "/auth/login" in anonymous.json()["error"]["message"]


def test_sign_in_returns_only_to_this_site(signed: Signed) -> None:
    browser = requests.Session()
    answer = browser.get(f"{signed.url}/auth/login?next=//evil.example/x",
                         allow_redirects=False, timeout=10)
    assert answer.status_code == 302
    page = sign_in(browser, signed, "ann", "/auth/login?next=//evil.example/x")
    assert page.url == f"{signed.url}/"
