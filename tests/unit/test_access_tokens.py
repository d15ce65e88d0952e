"""The tokens file (aiops/api/access.py, aiops/api/tokens_reload.py): the optional expiry
field, the instant a token stops working, lines of three fields as before, lines
refused naming file, line and field; what a changed file with wrong lines still
applies; a missing file's grace; warnings of tokens expiring soon."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from aiops.api.access import (
    AccessTokens,
    Token,
    load_tokens,
    read_tokens,
    time_left,
    token_line,
)
from aiops.api.tokens_reload import TokensFile, carry_over

DIGEST_A, DIGEST_B = "a" * 64, "b" * 64


def epoch(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def written(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tokens"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_token_is_expired_from_its_expiry_instant_on() -> None:
    at = epoch("2027-01-01T00:00:00")
    token = Token("ci", frozenset({"read"}), expires=at)
    assert token.expired(at) is True
    assert token.expired(at + 1) is True
    assert token.expired(at - 0.000001) is False
    assert Token("ci", frozenset({"read"})).expired(1e12) is False


@pytest.mark.parametrize(("field", "instant"), [
    ("expires=2027-01-01", "2027-01-01T00:00:00"),  # a date: the start of that day, UTC
    ("expires=2027-01-01T12:30:00Z", "2027-01-01T12:30:00"),
    ("expires=2027-01-01T12:30:00+02:00", "2027-01-01T10:30:00"),
    ("expires=2027-01-01T12:30:00", "2027-01-01T12:30:00"),  # no offset: UTC
    ("expires=2027-01-01t12:30:00.5z", "2027-01-01T12:30:00.5"),
])
def test_the_expiry_field_is_a_date_or_an_rfc3339_time(tmp_path: Path, field: str,
                                                      instant: str) -> None:
    found = list(load_tokens(written(tmp_path, f"ci read {DIGEST_A} {field}\n")))
    assert [(t.name, t.expires) for t in found] == [("ci", epoch(instant))]


def test_lines_of_three_fields_still_hold_tokens_that_never_expire(tmp_path: Path) -> None:
    tokens = load_tokens(written(tmp_path, token_line("dash", ["read"], "dash-secret") + "\n"
                                 + token_line("ci", ["ingest"], "ci-secret",
                                              expires="2027-01-01") + "\n"))
    dash, ci = tokens.find("dash-secret"), tokens.find("ci-secret")
    assert dash == Token("dash", frozenset({"read"}), expires=None)
    assert ci is not None and ci.expires == epoch("2027-01-01T00:00:00")
    assert tokens.find("other") is None


@pytest.mark.parametrize(("line", "message"), [
    (f"ci read {DIGEST_A} expires=2027-13-01", "line 1: the fourth field must be "
     "expires=YYYY-MM-DD or expires=RFC 3339 time (UTC when no offset); got "
     "'expires=2027-13-01'"),
    (f"ci read {DIGEST_A} expires=tomorrow", "line 1: the fourth field must be expires="),
    (f"ci read {DIGEST_A} expires=", "line 1: the fourth field must be expires="),
    (f"ci read {DIGEST_A} expires=20270101", "line 1: the fourth field must be expires="),
    (f"ci read {DIGEST_A} until=2027-01-01", "got 'until=2027-01-01'"),
    (f"ci read {DIGEST_A} expires=2027-01-01 x",
     "line 1: expected 'NAME SCOPES SHA256 [expires=WHEN]', got 5 fields"),
])
def test_a_malformed_expiry_is_refused_naming_file_line_and_field(
        tmp_path: Path, line: str, message: str) -> None:
    path = written(tmp_path, f"# tokens\n\n{line}\n")
    with pytest.raises(ValueError) as err:
        load_tokens(path)
    assert str(err.value).startswith(f"AIOPS_API_TOKENS_FILE {path}, line 3: ")
    assert message.replace("line 1", "line 3") in str(err.value)


def test_the_same_token_twice_is_refused_naming_both_lines(tmp_path: Path) -> None:
    path = written(tmp_path, f"a read {DIGEST_A}\nb read {DIGEST_B}\n"
                             f"c ingest {DIGEST_A} expires=2030-01-01\n")
    with pytest.raises(ValueError, match=r"line 3: the same token \(SHA-256\) as line 1 "
                                         r"\('a'\)"):
        load_tokens(path)
    names = written(tmp_path, f"a read {DIGEST_A}\na read {DIGEST_B}\n")
    with pytest.raises(ValueError, match=r"line 2: token name 'a' is on line 1 already"):
        load_tokens(names)


def test_the_reader_returns_the_good_lines_and_every_wrong_one(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    path.write_bytes(f"a read {DIGEST_A}\nb read {'B' * 64}\n".encode()
                     + b"# caf\xe9 in Latin-1\n"
                     + f"c read,ingest {'c' * 64}\nc read {'d' * 64}\n".encode())
    read = read_tokens(path)
    assert [(t.name, sorted(t.scopes)) for t in read.tokens.values()] == [("a", ["read"])]
    assert [error.split(", ", 1)[1][:7] for error in read.errors] == [
        "line 2:", "line 3:", "line 5:"]
    assert read.errors[1].endswith("line 3: not UTF-8 text")
    # One name on two lines: neither line's token is trusted, nor is the file at start.
    with pytest.raises(ValueError, match="line 2: the third field"):
        load_tokens(path)


def test_a_wrong_save_keeps_only_the_tokens_it_still_holds_each_the_stricter_reading(
) -> None:
    early, late = epoch("2027-01-01T00:00:00"), epoch("2028-01-01T00:00:00")
    before = {"1": Token("gone", frozenset({"read"})),
              "2": Token("same", frozenset({"read"})),
              "3": Token("narrowed", frozenset({"read", "operate"}), expires=late),
              "4": Token("widened", frozenset({"read"}), expires=early),
              "5": Token("renamed", frozenset({"read"})),
              "6": Token("moved", frozenset({"read"}))}
    now = {"2": Token("same", frozenset({"read"})),
           "3": Token("narrowed", frozenset({"read"}), expires=early),
           "4": Token("widened", frozenset({"read", "ingest"}), expires=late),
           "5": Token("new-name", frozenset({"read"})),
           "6": Token("moved", frozenset({"ingest"})),
           "7": Token("added", frozenset({"read"}))}
    carried = carry_over(before, now)
    assert carried.tokens == {"2": Token("same", frozenset({"read"})),
                              "3": Token("narrowed", frozenset({"read"}), expires=early),
                              "4": Token("widened", frozenset({"read"}), expires=early)}
    assert carried.removed == ["gone", "renamed", "moved"]
    assert carried.restricted == ["narrowed"]
    assert carried.waiting == ["widened", "new-name", "moved", "added"]


@pytest.mark.parametrize("how", ["deleted", "emptied"])
def test_a_missing_or_empty_file_keeps_the_tokens_only_for_the_grace(
        tmp_path: Path, how: str) -> None:
    """An editor's save passes through both for microseconds; past the grace no token
    is let in until the file reads again."""
    path = tmp_path / "tokens"
    text = token_line("ci", ["read"], "ci-secret") + "\n"
    path.write_text(text, encoding="utf-8")
    tokens = TokensFile(path, absent_grace=0.3)
    path.unlink() if how == "deleted" else path.write_text("", encoding="utf-8")
    assert tokens.current().find("ci-secret") is not None
    time.sleep(0.35)
    assert len(tokens.current()) == 0
    path.write_text(text, encoding="utf-8")
    assert tokens.current().find("ci-secret") is not None


def test_a_token_entering_the_last_7_days_is_warned_of_once_per_read(
        caplog: pytest.LogCaptureFixture) -> None:
    at = epoch("2027-01-10T00:00:00")
    ci = Token("ci", frozenset({"read"}), expires=at)
    tokens = AccessTokens({DIGEST_A: ci})
    with caplog.at_level(logging.WARNING, logger="aiops.api.access"):
        tokens.warn_of_expiry(at - 8 * 86400)
        tokens.note_use(ci, at - 8 * 86400)
        assert caplog.text == ""
        tokens.note_use(ci, at - 6 * 86400)
        tokens.note_use(ci, at - 5 * 86400)
        assert caplog.text.count("token 'ci' expires at 2027-01-10T00:00:00Z (in 6 days)") == 1
        AccessTokens({DIGEST_A: ci}).note_use(ci, at - 86400)  # a new read warns again
        assert "(in 24 hours)" in caplog.text


@pytest.mark.parametrize(("seconds", "said"), [
    (20 * 86400 + 5, "20 days"), (2 * 86400, "2 days"), (2 * 86400 - 1, "47 hours"),
    (3600, "1 hour"), (3599, "less than an hour")])
def test_how_soon_a_token_expires_is_rounded_down(seconds: float, said: str) -> None:
    assert time_left(seconds) == said
