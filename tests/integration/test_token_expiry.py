"""Access tokens that expire (docs/contracts.md, "Access tokens"): over real HTTP an
expired token is refused saying which token expired and when, never the token; lines
without an expiry work as before; `aiops tokens new --expires` writes the field and
`aiops tokens check` lists every token's expiry, warning of the expired ones."""

from __future__ import annotations

import html
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from aiops.api.access import load_tokens, token_line
from aiops.timeutil import to_rfc3339
from tests.conftest import LiveServer, serving_with_tokens

OLD, LATER, PLAIN = "old-token-0123456789", "later-token-0123456789", "plain-token-0123456789"


@pytest.fixture
def tokens_file(tmp_path: Path) -> Path:
    path = tmp_path / "tokens"
    path.write_text("\n".join([
        token_line("old", ["read"], OLD, expires="2020-01-01"),
        token_line("later", ["read"], LATER, expires="2999-12-31T23:00:00+01:00"),
        token_line("plain", ["read", "ingest"], PLAIN) + "  # three fields: never expires",
    ]) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def guarded(tmp_path: Path, tokens_file: Path) -> Iterator[LiveServer]:
    with serving_with_tokens(tmp_path / "data", tokens_file) as served:
        yield served


def test_an_expired_token_is_refused_naming_it_and_when_it_expired(
        guarded: LiveServer) -> None:
    said = "token 'old' expired at 2020-01-01T00:00:00Z"
    answer = requests.get(f"{guarded.url}/api/v1/incidents", timeout=10,
                          headers={"Authorization": f"Bearer {OLD}"})
    assert answer.status_code == 401
    assert answer.json()["error"]["message"].startswith(said)
    challenges = answer.headers["WWW-Authenticate"]
    assert 'Basic realm="aiops", charset="UTF-8"' in challenges
    assert (f'Bearer realm="aiops", error="invalid_token", error_description="{said}'
            in challenges)
    assert OLD not in answer.text and OLD not in str(answer.headers)

    page = requests.get(f"{guarded.url}/", auth=("anyone", OLD), timeout=10)
    assert page.status_code == 401 and page.headers["Content-Type"].startswith("text/html")
    assert said in html.unescape(page.text) and OLD not in page.text


def test_tokens_not_yet_expired_and_lines_without_an_expiry_are_taken(
        guarded: LiveServer) -> None:
    for token in (LATER, PLAIN):
        answer = requests.get(f"{guarded.url}/api/v1/incidents", timeout=10,
                              headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 200, answer.text
    shown = requests.get(f"{guarded.url}/", auth=("anyone", PLAIN), timeout=10)
    assert shown.status_code == 200


def aiops(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "aiops", *args], capture_output=True,
                          text=True, timeout=60)


def test_tokens_new_writes_the_expiry_as_a_duration_or_a_date(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    before = int(time.time())
    made = aiops("tokens", "new", "ci", "--scopes", "ingest", "--expires", "90d",
                 "--append", str(path))
    after = int(time.time())
    assert made.returncode == 0, made.stderr
    ci = load_tokens(path).find(made.stdout.strip())
    assert ci is not None and ci.expires is not None
    assert before + 90 * 86400 <= ci.expires <= after + 90 * 86400
    assert f"expires={to_rfc3339(ci.expires)}" in path.read_text(encoding="utf-8")
    assert f"expires at {to_rfc3339(ci.expires)}" in made.stderr

    dated = aiops("tokens", "new", "wall", "--expires", "2030-06-01", "--append", str(path))
    assert dated.returncode == 0, dated.stderr
    assert path.read_text(encoding="utf-8").splitlines()[-1].endswith(" expires=2030-06-01")

    kept = path.read_text(encoding="utf-8")
    past = aiops("tokens", "new", "late", "--expires", "2020-01-01", "--append", str(path))
    assert past.returncode == 2
    assert "--expires: 2020-01-01T00:00:00Z is already past" in past.stderr
    wrong = aiops("tokens", "new", "late", "--expires", "soon")
    assert wrong.returncode == 2 and "--expires must be" in wrong.stderr
    assert path.read_text(encoding="utf-8") == kept


def test_tokens_check_lists_every_expiry_and_warns_of_the_expired(
        tmp_path: Path, tokens_file: Path) -> None:
    checked = aiops("tokens", "check", str(tokens_file))
    assert checked.returncode == 0, checked.stderr  # an expired token is no malformed file
    assert checked.stdout.splitlines() == [
        "old\tread\t2020-01-01T00:00:00Z (expired)",
        "later\tread\t2999-12-31T22:00:00Z",
        "plain\tingest,read\tnever",
        f"{tokens_file}: 3 tokens, 1 expired",
    ]
    assert "warning: token 'old' expired at 2020-01-01T00:00:00Z" in checked.stderr

    wrong = tmp_path / "wrong"
    wrong.write_text(token_line("ci", ["read"], "x", expires="2027-02-30") + "\n",
                     encoding="utf-8")
    refused = aiops("tokens", "check", str(wrong))
    assert refused.returncode == 2
    assert (f"AIOPS_API_TOKENS_FILE {wrong}, line 1: the fourth field must be "
            "expires=") in refused.stderr


def test_the_server_reads_the_file_again_when_it_changes(
        guarded: LiveServer, tokens_file: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Renewing or revoking a token needs no restart; a save whose only line is broken
    leaves no token (that line no longer says what the token may do); a file that
    disappears keeps the tokens in use for the grace an editor's save needs
    (tests/integration/test_token_revocation.py has the rest)."""
    def status(token: str) -> int:
        return requests.get(f"{guarded.url}/api/v1/incidents", timeout=10,
                            headers={"Authorization": f"Bearer {token}"}).status_code

    renewed = "renewed-token-0123456789"
    assert status(renewed) == 401
    with tokens_file.open("a", encoding="utf-8") as out:
        out.write(token_line("renewed", ["read"], renewed, expires="2999-01-01") + "\n")
    assert status(renewed) == 200

    tokens_file.write_text(token_line("renewed", ["read"], renewed) + "\n", encoding="utf-8")
    assert (status(renewed), status(PLAIN)) == (200, 401)  # plain's line was removed

    tokens_file.unlink()
    assert status(renewed) == 200
    assert (f"AIOPS_API_TOKENS_FILE {tokens_file}: cannot be read (No such file or "
            "directory); the 1 token in use stays 2 s in case it is being saved") in caplog.text

    # Another size than the file before: a same-size save in the clock tick of the
    # last one would be missed (TokensFile compares time, size and inode).
    tokens_file.write_text(f"renewed read {'A' * 64}  # typo\n", encoding="utf-8")
    assert status(renewed) == 401
    assert (f"AIOPS_API_TOKENS_FILE {tokens_file}, line 1: the third field must be the "
            "token's SHA-256 in 64 lower-case hex digits (aiops tokens new prints the "
            "line); applied 1 removal ('renewed'); no token in use: every request but "
            "/api/v1/health is refused until the file reads again") in caplog.text
    assert renewed not in caplog.text


SOON = "soon-token-0123456789"


def expiring_in_3_days(path: Path) -> str:
    """Write a file whose 'soon' token expires in 3 days and an hour; its instant."""
    instant = str(to_rfc3339(float(int(time.time()) + 3 * 86400 + 3600)))
    path.write_text("\n".join([
        token_line("soon", ["read"], SOON, expires=instant),
        token_line("later", ["read"], LATER, expires="2999-12-31T23:00:00+01:00"),
    ]) + "\n", encoding="utf-8")
    return instant


def test_the_server_warns_of_a_token_expiring_within_7_days_and_tells_its_client(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """At start (and again after each read of the file) the log names every token that
    expires within 7 days and when, never the token; answers to it carry the instant."""
    path = tmp_path / "tokens"
    instant = expiring_in_3_days(path)
    warning = (f"AIOPS_API_TOKENS_FILE: token 'soon' expires at {instant} (in 3 days); "
               "give its holder a new one (aiops tokens new) before then")
    with serving_with_tokens(tmp_path / "data", path) as served:
        assert caplog.text.count(warning) == 1
        assert "'later'" not in caplog.text

        def get(token: str) -> requests.Response:
            return requests.get(f"{served.url}/api/v1/incidents", timeout=10,
                                headers={"Authorization": f"Bearer {token}"})

        for _ in range(3):
            answer = get(SOON)
            assert answer.status_code == 200
            assert answer.headers["Aiops-Token-Expires"] == instant
        assert "Aiops-Token-Expires" not in get(LATER).headers
        assert caplog.text.count(warning) == 1  # once per token and read of the file

        with path.open("a", encoding="utf-8") as out:
            out.write(token_line("plain", ["read"], PLAIN) + "\n")
        assert get(SOON).status_code == 200
        assert caplog.text.count(warning) == 2
    assert SOON not in caplog.text


def test_tokens_check_warns_of_tokens_expiring_within_the_window(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    instant = expiring_in_3_days(path)
    checked = aiops("tokens", "check", str(path))  # the window: 14 days
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.splitlines() == [
        f"soon\tread\t{instant} (expires in 3 days)",
        "later\tread\t2999-12-31T22:00:00Z",
        f"{path}: 2 tokens, 0 expired",
    ]
    assert checked.stderr == (f"aiops: warning: token 'soon' expires at {instant} (in 3 "
                              "days); give its holder a new one (aiops tokens new) before "
                              "then\n")

    narrow = aiops("tokens", "check", "--warn-within", "2d", str(path))
    assert narrow.returncode == 0 and narrow.stderr == ""
    assert narrow.stdout.splitlines()[0] == f"soon\tread\t{instant}"
    wrong = aiops("tokens", "check", "--warn-within", "soon", str(path))
    assert wrong.returncode == 2
    assert "'--warn-within' must be a duration" in wrong.stderr
