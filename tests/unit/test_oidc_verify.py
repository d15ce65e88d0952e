"""The id_token checks of single sign-on (aiops/api/oidc_provider.py), with keys made
here and served over real HTTP as a provider's discovery document and JWKS: what a
real provider does not hand out (a token for another client, a wrong nonce, an
unknown key) is refused by name, and a rotated key is fetched once."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from itsdangerous import URLSafeTimedSerializer

from aiops.api.oidc_provider import Provider, ProviderError, SignInRefused
from aiops.api.oidc_session import Sessions, safe_next, scopes_for, session_key, user_name
from aiops.config import OidcSettings, settings_from_env
from tests.http_server import send_json, serving

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
NEW_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_jwk(key: Any, kid: str) -> dict[str, Any]:
    algorithm = jwt.algorithms.RSAAlgorithm if isinstance(key, rsa.RSAPrivateKey) \
        else jwt.algorithms.ECAlgorithm
    return {**json.loads(algorithm.to_jwk(key.public_key())), "kid": kid, "use": "sig"}


class FakeIdp:
    """What the handler serves: the keys published now, and how often JWKS was asked."""

    published = [public_jwk(RSA_KEY, "r1"), public_jwk(EC_KEY, "e1")]
    jwks_fetches = 0
    issuer = ""


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        if self.path == "/.well-known/openid-configuration":
            body = {"issuer": FakeIdp.issuer, "authorization_endpoint": f"{FakeIdp.issuer}/a",
                    "token_endpoint": f"{FakeIdp.issuer}/t", "jwks_uri": f"{FakeIdp.issuer}/k"}
        elif self.path == "/k":
            FakeIdp.jwks_fetches += 1
            body = {"keys": FakeIdp.published}
        else:
            self.send_error(404)
            return
        send_json(self, 200, body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def provider() -> Iterator[Provider]:
    with serving(Handler) as url:
        FakeIdp.issuer = url
        FakeIdp.published = [public_jwk(RSA_KEY, "r1"), public_jwk(EC_KEY, "e1")]
        FakeIdp.jwks_fetches = 0
        yield Provider(url, "aiops", "secret")


def token(provider: Provider, key: Any = RSA_KEY, kid: str = "r1", alg: str = "RS256",
          **claims: Any) -> str:
    now = int(time.time())
    body = {"iss": provider.issuer, "sub": "u1", "aud": "aiops", "exp": now + 300,
            "iat": now, "nonce": "n-1", **claims}
    body = {k: v for k, v in body.items() if v is not None}
    return jwt.encode(body, key, algorithm=alg, headers={"kid": kid} if kid else None)


def test_a_good_token_verifies_with_rs256_and_es256(provider: Provider) -> None:
    assert provider.verify_id_token(token(provider), "n-1")["sub"] == "u1"
    assert provider.verify_id_token(token(provider, EC_KEY, "e1", "ES256"), "n-1")["sub"] == "u1"


@pytest.mark.parametrize(("claims", "words"), [
    ({"aud": "another-client"}, "Audience doesn't match"),
    ({"nonce": "n-2"}, "nonce is not the one this sign-in sent"),
    ({"nonce": None}, 'Token is missing the "nonce" claim'),
    ({"exp": int(time.time()) - 3600}, "Signature has expired"),
    ({"iss": "https://elsewhere.example"}, "Invalid issuer"),
    ({"iat": int(time.time()) - 7200}, "issued too long ago"),
    ({"aud": ["aiops", "other"]}, "several audiences and its azp is not this client"),
])
def test_a_token_not_for_this_sign_in_is_refused(provider: Provider, claims: dict[str, Any],
                                                 words: str) -> None:
    with pytest.raises(SignInRefused, match=words):
        provider.verify_id_token(token(provider, **claims), "n-1")


def test_a_refreshed_token_needs_no_nonce_but_is_checked_for_the_rest(
        provider: Provider) -> None:
    """A refresh grant's id_token (nonce None: OpenID Connect Core 12.2) is verified
    as at sign-in but for the nonce."""
    assert provider.verify_id_token(token(provider, nonce=None), None)["sub"] == "u1"
    with pytest.raises(SignInRefused, match="Audience doesn't match"):
        provider.verify_id_token(token(provider, nonce=None, aud="other"), None)
    with pytest.raises(SignInRefused, match="Signature has expired"):
        provider.verify_id_token(token(provider, nonce=None, exp=int(time.time()) - 3600),
                                 None)


def test_a_forged_signature_and_a_symmetric_algorithm_are_refused(provider: Provider) -> None:
    forged = token(provider, NEW_KEY, "r1")  # names the provider's key, signed by another
    with pytest.raises(SignInRefused, match="Signature verification failed"):
        provider.verify_id_token(forged, "n-1")
    hs = jwt.encode({"iss": provider.issuer, "sub": "u1", "aud": "aiops", "nonce": "n-1",
                     "exp": int(time.time()) + 60, "iat": int(time.time())},
                    "secret-secret-secret-secret-secret", algorithm="HS256")
    with pytest.raises(SignInRefused, match="signed with 'HS256'"):
        provider.verify_id_token(hs, "n-1")


def test_a_rotated_key_is_fetched_once_and_an_unknown_one_refused(provider: Provider) -> None:
    provider.verify_id_token(token(provider), "n-1")
    assert FakeIdp.jwks_fetches == 1
    provider.verify_id_token(token(provider), "n-1")
    assert FakeIdp.jwks_fetches == 1  # cached
    FakeIdp.published = [public_jwk(NEW_KEY, "r2")]  # the provider rotated its key
    assert provider.verify_id_token(token(provider, NEW_KEY, "r2"), "n-1")["sub"] == "u1"
    assert FakeIdp.jwks_fetches == 2
    with pytest.raises(SignInRefused, match="key \\('r9'\\) the OpenID provider does not"):
        provider.verify_id_token(token(provider, NEW_KEY, "r9"), "n-1")
    assert FakeIdp.jwks_fetches == 3  # once per unknown key, not in a loop


def test_a_token_naming_no_key_takes_the_one_key_of_its_type(provider: Provider) -> None:
    assert provider.verify_id_token(token(provider, kid=""), "n-1")["sub"] == "u1"
    assert provider.verify_id_token(token(provider, EC_KEY, "", "ES256"), "n-1")["sub"] == "u1"
    FakeIdp.published.append(public_jwk(NEW_KEY, "r2"))  # two RSA keys: which is a guess
    provider._load_keys()
    with pytest.raises(SignInRefused, match="does not publish"):
        provider.verify_id_token(token(provider, kid=""), "n-1")


def test_a_discovery_document_for_another_issuer_is_refused() -> None:
    with serving(Handler) as url:
        FakeIdp.issuer = url + "/other"
        with pytest.raises(ProviderError, match="names the issuer"):
            Provider(url, "aiops", "secret").metadata()


def test_sessions_refuse_forged_and_expired_cookies() -> None:
    sessions = Sessions("k" * 64, 3600)
    session, value = sessions.issue("ann", frozenset({"read"}), "a.b.c")
    assert sessions.read(value) == session
    assert sessions.read(value[:-2] + "xx") is None
    assert Sessions("other-key" * 8, 3600).read(value) is None
    assert sessions.read(value, now=session.expires + 1) is None
    # A provider's id_token with many groups: random, so compression does not shrink it.
    _, huge = sessions.issue("ann", frozenset({"read"}), secrets.token_urlsafe(4000))
    assert len(huge) < 3800 and sessions.read(huge).id_token is None
    # A cookie made before sessions had ids, with the same key: its session cannot be
    # ended, so it is refused (its user signs in again once).
    old = URLSafeTimedSerializer("k" * 64, salt="aiops-session").dumps(
        {"u": "ann", "s": ["read"], "exp": session.expires, "csrf": "c", "idt": None})
    assert sessions.read(old) is None
    assert session.sid and sessions.issue("ann", frozenset(), None)[0].sid != session.sid


@pytest.mark.parametrize(("asked", "kept"), [
    ("/incidents/inc-1?x=1", "/incidents/inc-1?x=1"), ("//evil.example/", "/"),
    ("/\\evil.example", "/"), ("https://evil.example/", "/"), ("", "/"), (None, "/"),
    ("/a\r\nSet-Cookie: x", "/")])
def test_only_paths_of_this_site_are_returned_to(asked: str | None, kept: str) -> None:
    assert safe_next(asked) == kept


def test_groups_decide_scopes_and_names_fall_back() -> None:
    settings = OidcSettings(issuer="https://id.example", client_id="c",
                            client_secret_file="/s", read_groups="viewers",
                            operate_groups="ops, sre")
    assert scopes_for({"sre"}, settings) == {"read", "operate"}
    assert scopes_for({"viewers", "x"}, settings) == {"read"}
    assert scopes_for({"x"}, settings) == frozenset()
    assert user_name({"preferred_username": "ann", "email": "a@x", "sub": "1"}) == "ann"
    assert user_name({"email": "a@x", "sub": "1"}) == "a@x"
    assert user_name({"sub": "1"}) == "1"


@pytest.mark.parametrize(("fields", "words"), [
    ({"issuer": "id.example"}, "AIOPS_OIDC_ISSUER takes an http"),
    ({"client_id": ""}, "needs AIOPS_OIDC_CLIENT_ID"),
    ({"client_secret_file": ""}, "needs AIOPS_OIDC_CLIENT_SECRET_FILE"),
    ({"scopes": "profile"}, "AIOPS_OIDC_SCOPES must include openid"),
    ({"read_groups": "", "operate_groups": ""}, "needs AIOPS_OIDC_READ_GROUPS"),
    ({"session_lifetime": 10.0}, "AIOPS_OIDC_SESSION_LIFETIME must be a number at least 60"),
    ({"recheck": -1.0}, "AIOPS_OIDC_RECHECK must be a number at least 0"),
    ({"recheck": float("nan")}, "AIOPS_OIDC_RECHECK must be a number at least 0"),
    ({"recheck": 8 * 86400.0}, "AIOPS_OIDC_RECHECK must be a number .* at most 604800"),
])
def test_settings_are_refused_by_name(fields: dict[str, Any], words: str) -> None:
    good = {"issuer": "https://id.example", "client_id": "c", "client_secret_file": "/s",
            "read_groups": "viewers"}
    with pytest.raises(ValueError, match=words):
        OidcSettings(**{**good, **fields})


def test_the_recheck_interval_is_read_from_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert OidcSettings().recheck == 300.0
    monkeypatch.setenv("AIOPS_OIDC_RECHECK", "0")  # off
    assert settings_from_env(OidcSettings(), "AIOPS_OIDC_").recheck == 0.0
    monkeypatch.setenv("AIOPS_OIDC_RECHECK", "5m")
    with pytest.raises(ValueError, match="AIOPS_OIDC_RECHECK must be a number, got '5m'"):
        settings_from_env(OidcSettings(), "AIOPS_OIDC_")


def test_the_session_key_is_made_once_readable_by_the_owner_only(tmp_path: Path) -> None:
    key = session_key(tmp_path)
    assert len(key) == 64
    assert (tmp_path / "session.key").stat().st_mode & 0o777 == 0o600
    assert session_key(tmp_path) == key  # kept: sessions outlive a restart
    assert [p.name for p in tmp_path.iterdir()] == ["session.key"]  # nothing left aside
