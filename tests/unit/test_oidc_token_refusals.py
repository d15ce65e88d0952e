"""How the engine reads a token endpoint's refusals (aiops/api/oidc_provider.py), served
over real HTTP: an OAuth error counts on any 4xx (Glewlwyd refuses a client with 403),
a refused client names the engine's settings, and a bare HTTP 400 (Glewlwyd's answer
to a refresh token it no longer takes) refuses the grant, while a 5xx or a 4xx other
than 400 without an OAuth error stays a provider that cannot be asked."""

from __future__ import annotations

from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from aiops.api.oidc_provider import Provider, ProviderError, TokenRefused
from tests.http_server import send_json, serving


class TokenEndpoint:
    """What the fake provider's token endpoint answers next: a status and a body
    (bytes as they are, anything else as JSON)."""

    issuer = ""
    status = 200
    body: Any = b""


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        issuer = TokenEndpoint.issuer
        send_json(self, 200, {"issuer": issuer, "authorization_endpoint": f"{issuer}/a",
                              "token_endpoint": f"{issuer}/t", "jwks_uri": f"{issuer}/k"})

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        send_json(self, TokenEndpoint.status, TokenEndpoint.body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def provider() -> Iterator[Provider]:
    with serving(Handler) as url:
        TokenEndpoint.issuer = url
        yield Provider(url, "aiops", "secret")


def answering(status: int, body: Any) -> None:
    TokenEndpoint.status, TokenEndpoint.body = status, body


@pytest.mark.parametrize("status", [400, 401, 403])
def test_an_oauth_error_counts_on_any_4xx(provider: Provider, status: int) -> None:
    answering(status, {"error": "invalid_grant", "error_description": "grant request is "
                                                                      "invalid"})
    with pytest.raises(TokenRefused, match="refused the refresh token: invalid_grant: "
                                           "grant request is invalid") as refused:
        provider.refresh("r-1")
    assert refused.value.error == "invalid_grant" and refused.value.grant_refused


@pytest.mark.parametrize(("status", "error"), [(401, "invalid_client"),
                                               (403, "unauthorized_client")])
def test_a_refused_client_names_the_engines_settings_and_is_no_refused_grant(
        provider: Provider, status: int, error: str) -> None:
    answering(status, {"error": error})
    with pytest.raises(TokenRefused) as refused:
        provider.exchange("c-1", "v-1", "http://engine/auth/callback")
    message = str(refused.value)
    assert f"refused this engine's client 'aiops' ({error})" in message
    assert "AIOPS_OIDC_CLIENT_ID" in message and "AIOPS_OIDC_CLIENT_SECRET_FILE" in message
    assert not refused.value.grant_refused  # a re-check fails open on it


def test_a_bare_400_refuses_the_grant(provider: Provider) -> None:
    answering(400, b"")
    with pytest.raises(TokenRefused, match=r"refused the refresh token \(HTTP 400, naming "
                                           "no OAuth error\\)") as refused:
        provider.refresh("r-1")
    assert refused.value.error is None and refused.value.grant_refused


@pytest.mark.parametrize(("status", "body"), [(403, b""), (500, {"error": "server_error"}),
                                              (502, b"<html>bad gateway</html>")])
def test_other_answers_are_a_provider_that_cannot_be_asked(provider: Provider, status: int,
                                                           body: Any) -> None:
    answering(status, body)
    with pytest.raises(ProviderError, match=f"answered HTTP {status}"):
        provider.refresh("r-1")
