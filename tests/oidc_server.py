"""A real OpenID provider for the single sign-on tests: panva's node-oidc-provider
(tests/oidc/provider.mjs, installed by scripts/install-test-deps.sh with ``npm ci``),
started on a free port and stopped after; and its test-only routes, which change an
account, count the token grants and stop the provider."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.http_server import end_process
from tests.ports import free_port

HERE = Path(__file__).parent / "oidc"
SCRIPT = HERE / "provider.mjs"


def provider_or_skip() -> str:
    """The node binary, or a skip saying what to install."""
    node = shutil.which("node")
    if node is None or not (HERE / "node_modules" / "oidc-provider").is_dir():
        pytest.skip("node or tests/oidc/node_modules is absent: run make test-deps "
                    "(scripts/install-test-deps.sh runs npm ci in tests/oidc)")
    return node


def client(client_id: str, secret: str, app_url: str, **extra: Any) -> dict[str, Any]:
    """A client registration for the engine served at ``app_url``."""
    return {"client_id": client_id, "client_secret": secret,
            "redirect_uris": [f"{app_url}/auth/callback"],
            "post_logout_redirect_uris": [f"{app_url}/auth/signed-out"],
            "grant_types": ["authorization_code"], "response_types": ["code"], **extra}


# A client the provider gives refresh tokens to (rotated at each use).
REFRESHING = {"grant_types": ["authorization_code", "refresh_token"]}


def set_groups(issuer: str, user: str, groups: list[str]) -> None:
    """The provider's account ``user`` is now in ``groups`` (made if it was not)."""
    requests.put(f"{issuer}/test-admin/accounts/{user}", json=groups,
                 timeout=10).raise_for_status()


def delete_account(issuer: str, user: str) -> None:
    """The provider's account ``user`` is gone: its grants answer invalid_grant."""
    requests.delete(f"{issuer}/test-admin/accounts/{user}", timeout=10).raise_for_status()


def grants(issuer: str) -> dict[str, dict[str, int]]:
    """The token requests the provider answered, by grant type: success and error."""
    answer = requests.get(f"{issuer}/test-admin/grants", timeout=10)
    answer.raise_for_status()
    return answer.json()


def stop(issuer: str) -> None:
    """Stop the provider: its port refuses connections from now on."""
    requests.post(f"{issuer}/test-admin/stop", timeout=10).raise_for_status()


@contextmanager
def oidc_provider(clients: list[dict[str, Any]],
                  accounts: dict[str, list[str]]) -> Iterator[str]:
    """The provider's issuer URL while it runs; ``accounts`` maps a user name (signed
    in by posting it to the provider's form, any password) to its groups claim."""
    node = provider_or_skip()
    port = free_port()
    config = {"port": port, "clients": clients, "accounts": accounts}
    process = subprocess.Popen([node, str(SCRIPT), json.dumps(config)], cwd=HERE,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    ready = threading.Event()
    output: list[str] = []

    def read() -> None:  # keep draining, so the provider never blocks on a full pipe
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)
            if line.startswith("READY "):
                ready.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        if not ready.wait(30):
            raise RuntimeError("the OpenID provider did not start: " + "".join(output))
        yield f"http://127.0.0.1:{port}"
    finally:
        end_process(process)
