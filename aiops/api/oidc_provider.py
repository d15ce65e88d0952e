"""The OpenID provider as the engine's sign-in sees it: discovery, the code exchange,
the id_token's verification and the userinfo claims.

Why a class of its own, without Flask: what is checked of the provider's answers is the
security of the sign-in (a token for another client, a replayed nonce, a key the
provider never published), and it is tested apart with keys the test makes. The JWT
signature and the standard claims are checked by PyJWT with ``cryptography``, not by
hand. The discovery document is fetched at the first sign-in, not at start, so the
engine serves its token holders while the provider is down; the JWKS is cached and
fetched again once when an id_token names a key it lacks (the provider rotated its
keys).
"""

from __future__ import annotations

import hmac
import threading
import time
from typing import Any
from urllib.parse import quote, urlencode

import jwt
import requests

# Asymmetric algorithms only: a symmetric one (HS256) would verify with the client
# secret, which the provider's published keys do not cover; "none" is never accepted.
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
              "ES256", "ES384", "ES512", "EdDSA")
LEEWAY = 60  # seconds of clock difference forgiven on exp and iat
MAX_AGE_OF_IAT = 600  # an id_token issued longer ago than this is refused


class ProviderError(Exception):
    """The provider could not be asked (down, unreachable, an answer that is not its
    document): the sign-in cannot go on, through no fault of the user (HTTP 502)."""


class SignInRefused(Exception):
    """The provider's answer or the id_token is refused (an expired or replayed code, a
    token for another client, a wrong nonce): the sign-in failed (HTTP 400)."""


# The OAuth errors (RFC 6749, section 5.2) that refuse this engine's client, not the
# user's grant: a wrong secret or client id, or a client not allowed the grant type.
CLIENT_ERRORS = ("invalid_client", "unauthorized_client")


class TokenRefused(SignInRefused):
    """The token endpoint refused the request (RFC 6749, section 5.2): ``error`` is the
    OAuth error it named, or None for an HTTP 400 that names none."""

    def __init__(self, error: str | None, message: str):
        super().__init__(message)
        self.error = error

    @property
    def grant_refused(self) -> bool:
        """Whether the grant itself is no longer good (the code or refresh token
        expired, spent or revoked, its user gone): ``invalid_grant``, or a bare HTTP
        400. RFC 6749 answers a refused grant with 400, and some providers send it
        without the error body: Glewlwyd documents "Code 400, Error input parameters"
        for a refresh token it no longer takes, its user deleted included. A 400 is
        the provider's answer about the request, never an outage (those are
        unreachable, 5xx or a gateway's 502-504)."""
        return self.error in ("invalid_grant", None)


class Provider:
    """One OpenID provider and this engine's client at it."""

    def __init__(self, issuer: str, client_id: str, client_secret: str,
                 timeout: float = 10.0):
        self.issuer = issuer.rstrip("/")
        self.client_id = client_id
        self._secret = client_secret
        self._timeout = timeout
        self._lock = threading.Lock()
        self._metadata: dict[str, Any] | None = None
        self._keys: dict[str, jwt.PyJWK] = {}
        self._unnamed: list[jwt.PyJWK] = []  # keys without a kid

    def _get_json(self, url: str, what: str,
                  headers: dict[str, str] | None = None) -> dict[str, Any]:
        """GET a JSON object, or ProviderError naming ``what``, the URL and the cause."""
        try:
            answer = requests.get(url, timeout=self._timeout,
                                  headers={"Accept": "application/json", **(headers or {})})
        except requests.RequestException as exc:
            raise ProviderError(f"the OpenID provider's {what} at {url} could not be "
                                f"fetched: {exc}") from None
        if answer.status_code != 200:
            raise ProviderError(f"the OpenID provider's {what} at {url} answered HTTP "
                                f"{answer.status_code}")
        try:
            document = answer.json()
        except ValueError:
            document = None
        if not isinstance(document, dict):
            raise ProviderError(f"the OpenID provider's {what} at {url} is not a JSON "
                                "object")
        return document

    def metadata(self) -> dict[str, Any]:
        """The discovery document, fetched once (a failure is not remembered: the next
        sign-in asks again)."""
        with self._lock:
            if self._metadata is not None:
                return self._metadata
        url = f"{self.issuer}/.well-known/openid-configuration"
        document = self._get_json(url, "discovery document")
        if document.get("issuer", "").rstrip("/") != self.issuer:
            # OpenID Connect Discovery 1.0, section 4.3: a document for another issuer
            # would have tokens of that issuer accepted.
            raise ProviderError(f"the discovery document at {url} names the issuer "
                                f"{document.get('issuer')!r}, not {self.issuer!r}")
        for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(document.get(key), str):
                raise ProviderError(f"the discovery document at {url} lacks {key}")
        with self._lock:
            self._metadata = document
        return document

    def authorization_url(self, redirect_uri: str, scopes: str, state: str, nonce: str,
                          challenge: str) -> str:
        """Where the browser is sent to sign in: the code flow with PKCE (S256)."""
        query = urlencode({"response_type": "code", "client_id": self.client_id,
                           "redirect_uri": redirect_uri, "scope": scopes, "state": state,
                           "nonce": nonce, "code_challenge": challenge,
                           "code_challenge_method": "S256"})
        endpoint = self.metadata()["authorization_endpoint"]
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"

    def exchange(self, code: str, verifier: str, redirect_uri: str) -> dict[str, Any]:
        """The tokens for ``code``; TokenRefused when the provider refuses the code
        (expired, used already, for another client)."""
        body = self._token_request({"grant_type": "authorization_code", "code": code,
                                    "redirect_uri": redirect_uri,
                                    "code_verifier": verifier}, "the code")
        if not isinstance(body.get("id_token"), str):
            raise SignInRefused("the OpenID provider's token answer has no id_token (is "
                                "'openid' among AIOPS_OIDC_SCOPES?)")
        return body

    def refresh(self, refresh_token: str) -> dict[str, Any]:
        """The tokens of a refresh-token grant (RFC 6749, section 6), the re-check of a
        session: TokenRefused with ``error`` ``invalid_grant`` when the grant is gone
        (the user removed, the grant revoked, the token expired or used already)."""
        return self._token_request({"grant_type": "refresh_token",
                                    "refresh_token": refresh_token}, "the refresh token")

    def _token_request(self, form: dict[str, str], what: str) -> dict[str, Any]:
        """POST to the token endpoint with client_secret_basic, or client_secret_post
        when the provider names only that (the default of the specification is basic)."""
        meta = self.metadata()
        methods = meta.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
        auth: tuple[str, str] | None = None
        if "client_secret_basic" in methods:
            # RFC 6749, section 2.3.1: both are form-encoded before Basic encodes them.
            auth = (quote(self.client_id, safe=""), quote(self._secret, safe=""))
        elif "client_secret_post" in methods:
            form = {**form, "client_id": self.client_id, "client_secret": self._secret}
        else:
            raise ProviderError(f"the OpenID provider {self.issuer} takes neither "
                                "client_secret_basic nor client_secret_post at its token "
                                f"endpoint (it takes {', '.join(methods)})")
        url = meta["token_endpoint"]
        try:
            answer = requests.post(url, data=form, auth=auth, timeout=self._timeout,
                                   headers={"Accept": "application/json"})
        except requests.RequestException as exc:
            raise ProviderError(f"the OpenID provider's token endpoint {url} could not "
                                f"be reached: {exc}") from None
        try:
            body = answer.json()
        except ValueError:
            body = None
        if 400 <= answer.status_code < 500 and isinstance(body, dict) and "error" in body:
            # Any 4xx: RFC 6749 says 400 "unless specified otherwise", 401 for a client
            # that failed to authenticate; Glewlwyd answers that with 403.
            raise self._refusal(str(body["error"]), str(body.get("error_description") or ""),
                                what)
        if answer.status_code == 400:
            raise TokenRefused(None, f"the OpenID provider refused {what} (HTTP 400, "
                                     "naming no OAuth error)")
        if answer.status_code != 200 or not isinstance(body, dict):
            raise ProviderError(f"the OpenID provider's token endpoint {url} answered "
                                f"HTTP {answer.status_code}")
        return body

    def _refusal(self, error: str, detail: str, what: str) -> TokenRefused:
        """The token endpoint's OAuth error as the people who must act read it: a
        refused client is the engine's configuration or the client's registration at
        the provider, not the user's sign-in."""
        said = f"{error}{': ' + detail if detail else ''}"
        if error in CLIENT_ERRORS:
            return TokenRefused(error, f"the OpenID provider refused this engine's client "
                                       f"{self.client_id!r} ({said}): check "
                                       "AIOPS_OIDC_CLIENT_ID, the secret in "
                                       "AIOPS_OIDC_CLIENT_SECRET_FILE and the client's "
                                       "registration at the provider")
        return TokenRefused(error, f"the OpenID provider refused {what}: {said}")

    def _key_for(self, token: str) -> jwt.PyJWK:
        """The provider's key the token names, fetching the JWKS again once when the
        cached one lacks it."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise SignInRefused(f"the id_token is not a JWT: {exc}") from None
        alg = header.get("alg")
        if alg not in ALGORITHMS:
            raise SignInRefused(f"the id_token is signed with {alg!r}; accepted: "
                                f"{', '.join(ALGORITHMS)}")
        kid = header.get("kid")
        for refresh in (False, True):
            if refresh or not (self._keys or self._unnamed):
                self._load_keys()
            key = self._keys.get(kid) if kid else self._only_key(alg)
            if key is not None:
                return key
        raise SignInRefused(f"the id_token is signed with a key ({kid!r}) the OpenID "
                            "provider does not publish")

    def _only_key(self, alg: str) -> jwt.PyJWK | None:
        """For a token that names no key: the one published key of its algorithm's
        type, if there is exactly one (which of several would be a guess)."""
        kty = "OKP" if alg == "EdDSA" else {"R": "RSA", "P": "RSA", "E": "EC"}[alg[0]]
        keys = [k for k in [*self._keys.values(), *self._unnamed] if k.key_type == kty]
        return keys[0] if len(keys) == 1 else None

    def _load_keys(self) -> None:
        url = self.metadata()["jwks_uri"]
        document = self._get_json(url, "key set (JWKS)")
        keys: dict[str, jwt.PyJWK] = {}
        unnamed: list[jwt.PyJWK] = []
        for entry in document.get("keys") or []:
            if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
                continue
            try:
                key = jwt.PyJWK(entry)
            except jwt.PyJWTError:
                continue  # a key type or curve PyJWT does not know: not one we verify with
            if entry.get("kid"):
                keys[str(entry["kid"])] = key
            else:
                unnamed.append(key)
        with self._lock:
            self._keys, self._unnamed = keys, unnamed

    def verify_id_token(self, token: str, nonce: str | None) -> dict[str, Any]:
        """The id_token's claims once its signature (the provider's published key),
        ``iss``, ``aud`` (and ``azp`` when there are several audiences), ``exp``, ``iat``
        and ``nonce`` are checked; SignInRefused naming what failed otherwise.

        ``nonce`` None: a token of a refresh grant, which need not carry one (OpenID
        Connect Core, section 12.2); the caller compares what it does carry."""
        key = self._key_for(token)
        required = ["iss", "sub", "aud", "exp", "iat"] + (["nonce"] if nonce is not None
                                                           else [])
        try:
            claims = jwt.decode(
                token, key=key, algorithms=list(ALGORITHMS), audience=self.client_id,
                issuer=self.metadata()["issuer"], leeway=LEEWAY,
                options={"require": required})
        except jwt.PyJWTError as exc:
            raise SignInRefused(f"the id_token is refused: {exc}") from None
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != self.client_id:
            raise SignInRefused("the id_token has several audiences and its azp is not "
                                "this client")
        if nonce is not None and not hmac.compare_digest(str(claims["nonce"]), nonce):
            raise SignInRefused("the id_token's nonce is not the one this sign-in sent "
                                "(a token from another sign-in)")
        if claims["iat"] < time.time() - MAX_AGE_OF_IAT:
            raise SignInRefused("the id_token was issued too long ago")
        return claims

    def claims_of(self, tokens: dict[str, Any], nonce: str | None,
                  wanted: str) -> dict[str, Any]:
        """The verified id_token's claims of a token answer, with the userinfo
        answer's beside them when the id_token lacks the ``wanted`` claim (many
        providers list groups, and names, in the userinfo answer only)."""
        claims = self.verify_id_token(tokens["id_token"], nonce)
        if wanted not in claims:
            extra = self.userinfo(str(tokens.get("access_token") or ""), claims["sub"])
            claims = {**extra, **claims}
        return claims

    def userinfo(self, access_token: str, subject: str) -> dict[str, Any]:
        """The userinfo endpoint's claims (where providers put groups and names they
        leave out of the id_token), or {} when there is no endpoint; claims about
        another subject are refused (OpenID Connect Core, section 5.3.2)."""
        url = self.metadata().get("userinfo_endpoint")
        if not isinstance(url, str) or not access_token:
            return {}
        claims = self._get_json(url, "userinfo endpoint",
                                {"Authorization": f"Bearer {access_token}"})
        if claims.get("sub") != subject:
            raise SignInRefused("the userinfo answer is about another user than the "
                                "id_token")
        return claims
