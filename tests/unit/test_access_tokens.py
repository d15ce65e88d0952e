"""The tokens file (aiops/api/access.py): the optional expiry field, the instant a token
stops working, lines of three fields as before, and lines refused naming file, line
and field."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from aiops.api.access import Token, load_tokens, token_line

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
