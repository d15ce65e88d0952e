"""A second real OpenID provider for the single sign-on tests: Glewlwyd (Debian's
``glewlwyd`` package, installed by scripts/install-test-deps.sh), a C server with a
SQLite database, started on a free port of 127.0.0.1 and stopped after.

How it is set up, all through the interfaces Glewlwyd documents (its API.md, OIDC.md
and database/README.md):

* the database is the package's own schema script (``init.sqlite3.sql.gz``), which
  makes the administrator ``admin`` with the password ``password``;
* as that administrator, over the admin REST API: the user store learns a multiple
  property ``groups``, and the client store a multiple ``post_logout_redirect_uris``
  (which Glewlwyd's end_session reads); an OpenID Connect plugin instance is made
  with an RS256 key made here, PKCE, session management (end_session) and two
  claims from user properties: ``groups`` (the user's ``groups``) and
  ``preferred_username`` (the user name); then the users, and the engine's client
  once the engine's URL is known;
* a browser signs in as Glewlwyd's own login page does with its JavaScript
  (``sign_in_at``): POST the name and password to ``/api/auth/``, grant the client the
  scopes it asked for at ``/api/auth/grant/CLIENT``, and go on to the authorization
  URL with ``g_continue``, which sends the browser back to the engine with a code.

What this Glewlwyd needs that node-oidc-provider does not, found by running it: a
client without ``token_endpoint_auth_method`` is refused at the token endpoint
(``403 unauthorized_client``, whatever its secret), and end_session redirects to a
``post_logout_redirect_uri`` only when the client lists it in
``post_logout_redirect_uris`` (plural; the client store's default fields have only
the singular).
"""

from __future__ import annotations

import gzip
import shutil
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.http_server import end_process
from tests.ports import free_port

SCHEMA = Path("/usr/share/doc/glewlwyd/database/init.sqlite3.sql.gz")
MODULES = Path("/usr/lib/glewlwyd")
WEBAPP = Path("/usr/share/glewlwyd/webapp")
ADMIN = ("admin", "password")  # made by the package's schema script
PLUGIN = "glwd"  # the OpenID Connect plugin instance: its issuer is API/glwd

CONFIG = """\
port={port}
bind_address="127.0.0.1"
external_url="{base}"
login_url="login.html"
static_files_path="{webapp}/"
api_prefix="api"
allow_origin="*"
log_mode="console"
log_level="INFO"
cookie_secure=0
session_expiration=3600
session_key="GLEWLWYD2_SESSION_ID"
admin_scope="g_admin"
profile_scope="g_profile"
user_module_path="{modules}/user"
client_module_path="{modules}/client"
user_auth_scheme_module_path="{modules}/scheme"
plugin_module_path="{modules}/plugin"
hash_algorithm="SHA512"
database = {{ type = "sqlite3"; path = "{database}"; }};
static_files_mime_types = (
  {{ extension = ".html"; mime_type = "text/html"; }},
  {{ extension = ".js"; mime_type = "application/javascript"; }},
  {{ extension = ".json"; mime_type = "application/json"; }}
);
"""


def glewlwyd_or_skip() -> str:
    """The glewlwyd binary, or a skip saying what to install."""
    binary = shutil.which("glewlwyd")
    if binary is None or not SCHEMA.is_file() or not (MODULES / "plugin").is_dir():
        pytest.skip("glewlwyd is not installed: run make test-deps "
                    "(scripts/install-test-deps.sh installs Debian's glewlwyd)")
    return binary


def _signing_key() -> tuple[str, str]:
    """A fresh RSA key pair in PEM, the private and the public half."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode("ascii")
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM,
        serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")
    return private, public


def _claim(name: str, user_property: str) -> dict[str, Any]:
    """A claim of every id_token and userinfo answer, read from a user property."""
    return {"name": name, "user-property": user_property, "type": "string",
            "mandatory": True, "on-demand": False, "scope": []}


def _plugin(issuer: str) -> dict[str, Any]:
    """The OpenID Connect plugin instance: the code flow with PKCE and refresh tokens,
    RS256 with a key made here, end_session, and the groups and user name claims."""
    private, public = _signing_key()
    return {"module": "oidc", "name": PLUGIN, "display_name": "OpenID Connect",
            "enabled": True, "parameters": {
                "iss": issuer, "jwt-type": "rsa", "jwt-key-size": "256",
                "key": private, "cert": public, "jwks-show": True,
                "access-token-duration": 3600, "refresh-token-duration": 1209600,
                "code-duration": 600, "refresh-token-rolling": True,
                "allow-non-oidc": False, "auth-type-code-enabled": True,
                "auth-type-token-enabled": False, "auth-type-id-token-enabled": True,
                "auth-type-none-enabled": False, "auth-type-password-enabled": False,
                "auth-type-client-enabled": False, "auth-type-device-enabled": False,
                "auth-type-refresh-enabled": True, "scope": [],
                "additional-parameters": [], "secret-type": "public",
                "claims": [_claim("groups", "groups"),
                           _claim("preferred_username", "username")],
                "name-claim": "mandatory", "email-claim": "mandatory",
                "scope-claim": "no", "allowed-scope": ["openid"],
                "pkce-allowed": True, "pkce-method-plain-allowed": False,
                "request-parameter-allow": False,
                "session-management-allowed": True,
                "session-cookie-name": "GLEWLWYD2_OIDC_SID",
                "session-cookie-expiration": 3600}}


@dataclass
class Glewlwyd:
    """A running Glewlwyd: its API, the issuer of its OpenID Connect plugin, and an
    administrator's session."""

    api: str  # http://127.0.0.1:PORT/api
    admin: requests.Session = field(repr=False)

    @property
    def issuer(self) -> str:
        return f"{self.api}/{PLUGIN}"

    def _ok(self, answer: requests.Response, what: str) -> None:
        if answer.status_code != 200:
            raise RuntimeError(f"Glewlwyd refused {what}: HTTP {answer.status_code} "
                               f"{answer.text[:300]}")

    def add_field(self, store: str, name: str) -> None:
        """A property of several values that the ``store`` (``user`` or ``client``)
        database module keeps; the module is reset to take it."""
        url = f"{self.api}/mod/{store}/database"
        module = self.admin.get(url, timeout=10).json()
        module["parameters"]["data-format"][name] = {
            "multiple": True, "read": True, "write": True,
            "profile-read": False, "profile-write": False}
        self._ok(self.admin.put(url, json=module, timeout=10), f"the {store} field {name}")
        self._ok(self.admin.put(f"{url}/reset", timeout=10), f"a reset of the {store} store")

    def put_client(self, client_id: str, secret: str, app_url: str) -> None:
        """The engine served at ``app_url`` as a confidential client (made, or replaced
        with these values)."""
        self.admin.delete(f"{self.api}/client/{client_id}", timeout=10)
        self._ok(self.admin.post(f"{self.api}/client/", timeout=10, json={
            "client_id": client_id, "name": client_id, "enabled": True,
            "confidential": True, "client_secret": secret, "scope": [],
            "redirect_uri": [f"{app_url}/auth/callback"],
            "authorization_type": ["code", "refresh_token"],
            "token_endpoint_auth_method": ["client_secret_basic"],
            "post_logout_redirect_uris": [f"{app_url}/auth/signed-out"]}),
            f"the client {client_id}")

    def add_user(self, user: str, groups: list[str]) -> None:
        """A user whose password is ``password_of(user)``, in ``groups``."""
        self._ok(self.admin.post(f"{self.api}/user/", timeout=10, json={
            "username": user, "name": user.title(), "email": f"{user}@example.org",
            "password": password_of(user), "enabled": True, "scope": ["openid"],
            "groups": groups}), f"the user {user}")

    def set_groups(self, user: str, groups: list[str]) -> None:
        url = f"{self.api}/user/{user}"
        account = self.admin.get(url, timeout=10).json()
        account.pop("source", None)
        self._ok(self.admin.put(url, json={**account, "groups": groups}, timeout=10),
                 f"the groups of {user}")

    def delete_user(self, user: str) -> None:
        self._ok(self.admin.delete(f"{self.api}/user/{user}", timeout=10),
                 f"the deletion of {user}")


def password_of(user: str) -> str:
    return f"{user}-password-0123"


def sign_in_at(browser: requests.Session, login_page: str, user: str, client_id: str,
               password: str | None = None) -> requests.Response:
    """Do what Glewlwyd's login page does for ``user`` (its ``login_page`` URL is
    where the authorization endpoint sent the browser): sign in, grant the client
    what it asked for, and continue; the answer, not followed (a redirect back to
    the client, or to the login page again when the sign-in failed)."""
    asked = {k: v[0] for k, v in parse_qs(urlsplit(login_page).query).items()}
    api = login_page.split("/login.html", 1)[0] + "/api"
    signed = browser.post(f"{api}/auth/", json={
        "username": user, "password": password or password_of(user)}, timeout=10)
    if signed.status_code == 200:
        granted = browser.put(f"{api}/auth/grant/{client_id}",
                              json={"scope": asked["scope"]}, timeout=10)
        assert granted.status_code == 200, granted.text
    return browser.get(asked["callback_url"] + "&g_continue", allow_redirects=False,
                       timeout=10)


def sign_out_at(browser: requests.Session, end_page: str) -> requests.Response:
    """Do what Glewlwyd's login page does when end_session sent the browser to it
    (``end_page``) and the user confirms: end the OpenID session and the Glewlwyd
    session, then go to the client's post-logout URI (followed)."""
    asked = {k: v[0] for k, v in parse_qs(urlsplit(end_page).query).items()}
    assert asked.get("prompt") == "end_session", end_page
    api = end_page.split("/login.html", 1)[0] + "/api"
    ended = browser.delete(f"{api}/{asked['plugin']}/session/{asked['sid']}", timeout=10)
    assert ended.status_code == 200, ended.text
    assert browser.delete(f"{api}/auth/", timeout=10).status_code == 200
    return browser.get(asked["callback_url"], timeout=10)


def _database(path: Path) -> None:
    """The package's schema and first data (the administrator) in a new database."""
    script = gzip.decompress(SCHEMA.read_bytes()).decode("utf-8")
    conn = sqlite3.connect(path)
    try:
        conn.executescript(script)
    finally:
        conn.close()


def _wait_ready(base: str, process: subprocess.Popen[str], output: list[str]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("glewlwyd exited: " + "".join(output))
        try:
            if requests.get(f"{base}/config", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError("glewlwyd did not answer within 30 s: " + "".join(output))


@contextmanager
def glewlwyd_provider(workdir: Path, accounts: dict[str, list[str]]) -> Iterator[Glewlwyd]:
    """A Glewlwyd with its OpenID Connect plugin and ``accounts`` (user name: groups)
    while it runs, its database and configuration in ``workdir``."""
    binary = glewlwyd_or_skip()
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    database = workdir / "glewlwyd.db"
    _database(database)
    config = workdir / "glewlwyd.conf"
    config.write_text(CONFIG.format(port=port, base=base, webapp=WEBAPP, modules=MODULES,
                                    database=database), encoding="utf-8")
    process = subprocess.Popen([binary, "-c", str(config)], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    output: list[str] = []

    def read() -> None:  # keep draining, so the server never blocks on a full pipe
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)

    threading.Thread(target=read, daemon=True).start()
    try:
        _wait_ready(base, process, output)
        admin = requests.Session()
        signed = admin.post(f"{base}/api/auth/", timeout=10,
                            json={"username": ADMIN[0], "password": ADMIN[1]})
        if signed.status_code != 200:
            raise RuntimeError(f"Glewlwyd's administrator could not sign in: "
                               f"HTTP {signed.status_code}")
        server = Glewlwyd(f"{base}/api", admin)
        server.add_field("user", "groups")
        server.add_field("client", "post_logout_redirect_uris")
        server._ok(admin.post(f"{base}/api/mod/plugin/", json=_plugin(server.issuer),
                              timeout=10), "the OpenID Connect plugin")
        for user, groups in accounts.items():
            server.add_user(user, groups)
        yield server
    finally:
        end_process(process)
