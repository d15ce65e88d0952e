"""A revocation takes effect even when the save that makes it has a wrong line elsewhere
(docs/contracts.md, "Access tokens"; aiops/api/tokens_reload.py), over real HTTP: the
revoked token is refused at once, an untouched token still works, a token added in
that save waits for a clean save, and a token whose own line is the broken one is
refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from aiops.api.access import token_line
from tests.conftest import LiveServer, serving_with_tokens

LEAKED, KEPT, OTHER, ADDED = ("leaked-token-0123456789", "kept-token-0123456789",
                              "other-token-0123456789", "added-token-0123456789")
TYPO = f"typo read {'A' * 64}"  # upper-case hex: not a SHA-256 the file takes


def lines(*entries: str) -> str:
    return "\n".join(entries) + "\n"


@pytest.fixture
def tokens_file(tmp_path: Path) -> Path:
    path = tmp_path / "tokens"
    path.write_text(lines(token_line("leaked", ["read"], LEAKED),
                          token_line("kept", ["read"], KEPT),
                          token_line("other", ["read"], OTHER)), encoding="utf-8")
    return path


@pytest.fixture
def guarded(tmp_path: Path, tokens_file: Path) -> Iterator[LiveServer]:
    with serving_with_tokens(tmp_path / "data", tokens_file) as served:
        yield served


def status(served: LiveServer, token: str) -> int:
    return requests.get(f"{served.url}/api/v1/incidents", timeout=10,
                        headers={"Authorization": f"Bearer {token}"}).status_code


def test_a_revocation_saved_with_a_typo_elsewhere_takes_effect(
        guarded: LiveServer, tokens_file: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert [status(guarded, t) for t in (LEAKED, KEPT, ADDED)] == [200, 200, 401]

    # One save: the leaked token's line deleted, a token added, a typo on line 3.
    tokens_file.write_text(lines(token_line("kept", ["read"], KEPT),
                                 token_line("other", ["read"], OTHER), TYPO,
                                 token_line("added", ["read"], ADDED)), encoding="utf-8")
    assert [status(guarded, t) for t in (LEAKED, KEPT, OTHER, ADDED)] == [401, 200, 200, 401]
    assert (f"AIOPS_API_TOKENS_FILE {tokens_file}, line 3: the third field must be the "
            "token's SHA-256 in 64 lower-case hex digits (aiops tokens new prints the "
            "line); applied 1 removal ('leaked'); 1 new or widened token ('added') waits "
            "for a clean save; 2 tokens in use") in caplog.text

    # The typo fixed: the file is taken whole, the added token with it.
    tokens_file.write_text(lines(token_line("kept", ["read"], KEPT),
                                 token_line("other", ["read"], OTHER),
                                 token_line("added", ["read"], ADDED)), encoding="utf-8")
    assert [status(guarded, t) for t in (LEAKED, KEPT, OTHER, ADDED)] == [401, 200, 200, 200]
    for token in (LEAKED, KEPT, OTHER, ADDED):
        assert token not in caplog.text


def test_a_token_whose_own_line_is_broken_is_refused(
        guarded: LiveServer, tokens_file: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Its line no longer says what it may do, so it is not let in (fail closed)."""
    other = token_line("other", ["read"], OTHER)
    tokens_file.write_text(lines(token_line("leaked", ["read"], LEAKED),
                                 token_line("kept", ["read"], KEPT),
                                 other.replace(" read ", " read,admin ")), encoding="utf-8")
    assert [status(guarded, t) for t in (LEAKED, KEPT, OTHER)] == [200, 200, 401]
    assert "line 3: unknown scope 'admin'" in caplog.text
    assert "applied 1 removal ('other'); 2 tokens in use" in caplog.text


def test_a_wrong_save_narrows_a_scope_at_once_and_widens_one_only_when_clean(
        guarded: LiveServer, tokens_file: Path) -> None:
    merge = f"{guarded.url}/api/v1/incidents/inc-1/merge"

    def merging(token: str) -> int:
        return requests.post(merge, json={"incident_ids": ["inc-2"]}, timeout=10,
                             headers={"Authorization": f"Bearer {token}"}).status_code

    assert merging(KEPT) == 403
    tokens_file.write_text(lines(token_line("kept", ["read", "operate"], KEPT),
                                 token_line("other", ["ingest"], OTHER), TYPO),
                           encoding="utf-8")
    # kept's widening waits (still 403); other's read went from it and ingest is new:
    # nothing of it is left until the file reads well.
    assert (merging(KEPT), status(guarded, KEPT), status(guarded, OTHER)) == (403, 200, 401)
    tokens_file.write_text(lines(token_line("kept", ["read", "operate"], KEPT)),
                           encoding="utf-8")
    assert merging(KEPT) == 404  # let in: the incident does not exist
