"""Single sign-on by OpenID Connect for the incident view and its API, and sign-out.

How and why (docs/architecture.md, "Sign-in"): a browser without a session is sent to
the provider with the authorization-code flow. ``state`` ties the answer to the browser
that asked (a sign-in cookie holds it: a link crafted elsewhere cannot sign the victim
in as the attacker), ``nonce`` ties the id_token to this sign-in (a token taken from
another cannot be replayed here), and PKCE (S256) makes a stolen code useless without
the verifier that never left this browser's cookie. The id_token is verified against
the provider's published keys (aiops/api/oidc_provider.py); its user's groups decide
the scopes (aiops/api/oidc_session.py). The session cookie is HttpOnly (page scripts
cannot read it), SameSite=Lax (other sites' forms do not carry it) and Secure behind
https; since a browser still sends it by itself, a state-changing request it
authenticates must also carry the session's CSRF token in ``X-CSRF-Token``, which only
the view's own pages know. The engine keeps a row per session
(aiops/api/session_store.py): signing out ends it, and every copy of its cookie with
it. A session whose sign-in brought a refresh token is asked about again at the
provider every AIOPS_OIDC_RECHECK seconds (aiops/api/session_recheck.py): a user
removed there is signed out, one whose groups changed gets their new scopes. Tokens
(Bearer, Basic) work as before, for machines.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from urllib.parse import urlencode

import sqlalchemy as sa
from flask import Blueprint, Flask, Response, current_app, g, redirect, render_template, request

from aiops.api.oidc_provider import Provider, ProviderError, SignInRefused
from aiops.api.oidc_session import (
    LOGIN_COOKIE,
    LOGIN_WITHIN,
    SESSION_COOKIE,
    Session,
    Sessions,
    login_cookie_name,
    safe_next,
    scopes_for,
    session_key,
    user_groups,
    user_name,
)
from aiops.api.session_recheck import Rechecker
from aiops.api.session_store import SessionStore
from aiops.config import DataDir, OidcSettings
from aiops.sinks.http import read_secret_file

log = logging.getLogger(__name__)

AUTH_PREFIX = "/auth/"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")

blueprint = Blueprint("auth", __name__, template_folder="templates")


@dataclass(frozen=True)
class SignOn:
    """The provider, the cookies' signer, the sessions' rows and the URL the provider
    sends users back to."""

    settings: OidcSettings
    provider: Provider
    sessions: Sessions
    store: SessionStore
    public_url: str  # without a trailing slash
    recheck: Rechecker

    @property
    def redirect_uri(self) -> str:
        return f"{self.public_url}/auth/callback"

    @property
    def signed_out_uri(self) -> str:
        return f"{self.public_url}/auth/signed-out"

    @property
    def secure(self) -> bool:
        return self.public_url.startswith("https://")

    def session_of(self, cookie: str | None) -> Session | None:
        """The session a cookie names while it is alive: signed with this engine's key,
        not expired, its row neither ended (signed out) nor gone, and the provider not
        saying otherwise when it is due to be re-checked; its scopes are the row's."""
        session = self.sessions.read(cookie)
        if session is None:
            return None
        row = self.store.live(session.sid)
        if row is None:
            return None
        return self.recheck.current(session, row)

    def admit(self, scope: str) -> tuple[Response | str, int] | Response | None:
        """Let a request without a token in by its session: None (and ``g`` holds the
        session), a redirect to sign in (a page of the view), or a refusal."""
        from aiops.api.access import refusal

        session = self.session_of(request.cookies.get(SESSION_COOKIE))
        if session is None:
            if request.method in SAFE_METHODS and not request.path.startswith("/api/"):
                return start_sign_in(self, safe_next(_this_path()))
            return refusal(401, "not signed in: open the incident view to sign in "
                                "(/auth/login), or send Authorization: Bearer TOKEN",
                           basic=False)
        g.aiops_session = session  # the header shows who is signed in, even on a 403
        if scope not in session.scopes:
            return refusal(403, self.lacking(session, scope))
        if request.method not in SAFE_METHODS and not _csrf_ok(session,
                                                               request.headers.get(CSRF_HEADER)):
            return refusal(403, f"a request signed in by the session cookie must carry "
                                f"the {CSRF_HEADER} header the incident view sends; "
                                "refused as a possible cross-site request")
        return None

    def lacking(self, session: Session, scope: str) -> str:
        """What a signed-in user lacks for ``scope``, naming the groups that give it."""
        may = ", ".join(sorted(session.scopes)) or "nothing"
        if scope == "ingest":
            return (f"signed in as {session.user!r}, who may {may}; sending alerts needs "
                    "an access token with the scope 'ingest' (AIOPS_API_TOKENS_FILE)")
        groups = self.settings.group_list("operate")
        if scope == "read":
            groups = self.settings.group_list("read") + groups
        return (f"signed in as {session.user!r}, who may {may}; this needs the scope "
                f"{scope!r}, given by membership in one of the groups "
                f"{', '.join(groups) or '(none set)'} (claim "
                f"{self.settings.groups_claim!r})")


def build_sign_on(data_dir: DataDir, db: sa.Engine) -> SignOn:
    """The sign-on of a data dir's settings, its sessions kept in ``db``; ValueError
    naming the setting at fault."""
    settings = data_dir.oidc
    public_url = data_dir.sinks.public_url.rstrip("/")
    if not public_url.startswith(("http://", "https://")):
        raise ValueError("AIOPS_OIDC_ISSUER needs AIOPS_SINK_PUBLIC_URL, the http(s) URL "
                         "people reach the incident view at: the provider sends them "
                         f"back to it + /auth/callback (got {public_url!r})")
    secret = read_secret_file(settings.client_secret_file, "AIOPS_OIDC_CLIENT_SECRET_FILE")
    data_dir.path.mkdir(parents=True, exist_ok=True)
    provider = Provider(settings.issuer, settings.client_id, secret)
    store = SessionStore(db)
    return SignOn(settings, provider,
                  Sessions(session_key(data_dir.path), settings.session_lifetime),
                  store, public_url, Rechecker(provider, store, settings))


def install_sign_on(app: Flask, sign_on: SignOn) -> None:
    """The /auth/ pages, and the signed-in user in every page's header."""
    app.extensions["aiops_sign_on"] = sign_on
    app.register_blueprint(blueprint)

    @app.context_processor
    def _signed_in() -> dict[str, Session | None]:
        return {"signed_in": g.get("aiops_session")}


def current_session() -> Session | None:
    """The session the current request was let in by (None: a token, or no sign-on)."""
    return g.get("aiops_session")


def _sign_on() -> SignOn:
    return current_app.extensions["aiops_sign_on"]


def _this_path() -> str:
    """The path and query of the request, to come back to after sign-in."""
    query = request.query_string.decode("utf-8", "replace")
    return f"{request.path}?{query}" if query else request.path


def _csrf_ok(session: Session, presented: str | None) -> bool:
    return bool(presented) and hmac.compare_digest(presented.encode(),
                                                   session.csrf.encode())


def _page(status: int, heading: str, message: str) -> tuple[str, int]:
    return render_template("not_found.html", heading=heading, message=message), status


def _cookie(response: Response, sign_on: SignOn, name: str, value: str, path: str,
            max_age: int) -> None:
    response.set_cookie(name, value, max_age=max_age, path=path, httponly=True,
                        samesite="Lax", secure=sign_on.secure)


def start_sign_in(sign_on: SignOn, after: str) -> Response | tuple[str, int]:
    """Send the browser to the provider; the state, nonce and PKCE verifier wait in a
    cookie only /auth/ sees, for at most LOGIN_WITHIN seconds."""
    state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64)  # 86 characters: RFC 7636 takes 43-128
    challenge = base64.urlsafe_b64encode(
        hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode("ascii")
    try:
        target = sign_on.provider.authorization_url(
            sign_on.redirect_uri, sign_on.settings.scopes, state, nonce, challenge)
    except ProviderError as exc:
        return _provider_down(exc)
    response = redirect(target, 302)
    _cookie(response, sign_on, login_cookie_name(state),
            sign_on.sessions.login_cookie(state, nonce, verifier, after), "/auth/",
            LOGIN_WITHIN)
    response.headers["Cache-Control"] = "no-store"
    return response


def _provider_down(exc: ProviderError) -> tuple[str, int]:
    log.error("single sign-on: %s", exc)
    return _page(502, "Sign-in unavailable", f"Signing in needs the OpenID provider "
                                             f"{_sign_on().provider.issuer}, and {exc}. "
                                             "Try again later; tokens still work.")


@blueprint.get("/auth/login")
def login():
    return start_sign_in(_sign_on(), safe_next(request.args.get("next")))


@blueprint.get("/auth/callback")
def callback():
    """The provider's answer: checked, exchanged, verified, then a session."""
    sign_on = _sign_on()
    state = request.args.get("state", "")
    cookie = login_cookie_name(state)
    pending = sign_on.sessions.read_login(request.cookies.get(cookie)) if state else None
    if pending is None and not any(
            sign_on.sessions.read_login(value) for name, value in request.cookies.items()
            if name.startswith(LOGIN_COOKIE + ".")):
        return _page(400, "Sign-in failed", "No sign-in is under way in this browser (or "
                     f"it took longer than {LOGIN_WITHIN // 60} minutes, or it was "
                     "finished already): open the incident view to sign in again.")
    if pending is None or not hmac.compare_digest(state.encode(), pending["state"].encode()):
        return _page(400, "Sign-in failed", "The answer's state is not the one this "
                     "browser's sign-in sent: refused (it may come from another site). "
                     "Open the incident view to sign in again.")
    answered_by = request.args.get("iss")
    if answered_by is not None and answered_by.rstrip("/") != sign_on.provider.issuer:
        # RFC 9207: an answer of another provider (a mix-up attack) is not ours to use.
        return _page(400, "Sign-in failed", f"The answer comes from {answered_by!r}, not "
                     f"from the OpenID provider {sign_on.provider.issuer}: refused.")
    if "error" in request.args:
        detail = request.args.get("error_description", "")
        return _page(400, "Sign-in failed", f"The OpenID provider said: "
                     f"{request.args['error']}{': ' + detail if detail else ''}")
    code = request.args.get("code")
    if not code:
        return _page(400, "Sign-in failed", "The provider's answer has no code.")
    try:
        tokens = sign_on.provider.exchange(code, pending["verifier"], sign_on.redirect_uri)
        claims = sign_on.provider.claims_of(tokens, pending["nonce"],
                                            sign_on.settings.groups_claim)
    except SignInRefused as exc:
        log.warning("single sign-on refused: %s", exc)
        return _page(400, "Sign-in failed", str(exc))
    except ProviderError as exc:
        return _provider_down(exc)
    user = user_name(claims)
    scopes = scopes_for(user_groups(claims, sign_on.settings.groups_claim), sign_on.settings)
    session, value = sign_on.sessions.issue(user, scopes, tokens["id_token"])
    refresh_token = tokens.get("refresh_token")
    sealed = None  # with re-checks off, no standing credential is kept at all
    if sign_on.recheck.on and isinstance(refresh_token, str) and refresh_token:
        sealed = sign_on.recheck.seal_grant(session.sid, refresh_token, str(claims["sub"]),
                                            pending["nonce"])
    elif sign_on.recheck.on:
        log.info("single sign-on: the provider gave no refresh token for %r's session, "
                 "which is not re-checked: its groups count until it ends", user)
    sign_on.store.start(session.sid, user, session.expires, scopes=scopes, sealed=sealed)
    log.info("single sign-on: %r signed in, may %s", user, ", ".join(sorted(scopes)) or
             "nothing")
    response = redirect(safe_next(pending.get("next")), 302)
    _cookie(response, sign_on, SESSION_COOKIE, value, "/", int(sign_on.sessions.lifetime))
    response.delete_cookie(cookie, path="/auth/", httponly=True, samesite="Lax",
                           secure=sign_on.secure)
    return response


@blueprint.route("/auth/logout", methods=["GET", "POST"])
def logout():
    """GET: a page with the sign-out button (a link alone must not sign anyone out: an
    image on another site could). POST, with the session's CSRF token: the session
    is ended (every copy of its cookie stops working), the cookie is cleared and, when
    the provider has an end_session_endpoint, the browser is sent there to end the
    provider's session too (RP-initiated logout 1.0)."""
    sign_on = _sign_on()
    session = sign_on.session_of(request.cookies.get(SESSION_COOKIE))
    if request.method == "GET":
        return render_template("signout.html", signed_in=session)
    if session is not None and not _csrf_ok(session, request.form.get("csrf_token")):
        return _page(403, "Not signed out", "The sign-out form is not this session's "
                     "(its CSRF token differs): use the Sign out button of the view.")
    target = sign_on.signed_out_uri
    if session is not None:
        sign_on.store.end(session.sid)
        try:
            endpoint = (sign_on.provider.metadata() or {}).get("end_session_endpoint")
        except ProviderError as exc:
            log.warning("single sign-on: signed out here only: %s", exc)
            endpoint = None
        if isinstance(endpoint, str):
            query = {"post_logout_redirect_uri": target, "client_id": sign_on.provider.client_id}
            if session.id_token:
                query["id_token_hint"] = session.id_token
            target = f"{endpoint}{'&' if '?' in endpoint else '?'}{urlencode(query)}"
        log.info("single sign-on: %r signed out", session.user)
    response = redirect(target, 303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="Lax",
                           secure=sign_on.secure)
    return response


@blueprint.get("/auth/signed-out")
def signed_out():
    return _page(200, "Signed out", "You are signed out of the incident view.")
