"""The sealing of a session's refresh token (aiops/api/session_seal.py): only the
session's id opens it, for its own row, and an altered seal does not open."""

from __future__ import annotations

import secrets

import pytest

from aiops.api.session_seal import VERSION, Unsealable, seal, unseal
from aiops.api.session_store import row_id


def test_a_sealed_token_opens_with_its_session_id_only() -> None:
    sid, token = secrets.token_urlsafe(32), "refresh-" + secrets.token_urlsafe(32)
    row = row_id(sid)
    sealed = seal(sid, row, token)
    assert sealed[:1] == VERSION and token.encode() not in sealed
    assert unseal(sid, row, sealed) == token
    assert seal(sid, row, token) != sealed  # a random nonce each time
    with pytest.raises(Unsealable):
        unseal(secrets.token_urlsafe(32), row, sealed)  # another session's id
    with pytest.raises(Unsealable):
        unseal(sid, row_id("another"), sealed)  # moved to another row


@pytest.mark.parametrize("alter", [
    lambda b: b[:-1] + bytes([b[-1] ^ 1]),  # the tag
    lambda b: b[:20] + bytes([b[20] ^ 1]) + b[21:],  # the ciphertext
    lambda b: b"\x02" + b[1:],  # another version
    lambda b: b[:10],  # cut short
    lambda b: b"",
])
def test_an_altered_seal_does_not_open(alter) -> None:
    sid = secrets.token_urlsafe(32)
    sealed = seal(sid, row_id(sid), "refresh-token-value-0123456789")
    with pytest.raises(Unsealable):
        unseal(sid, row_id(sid), alter(sealed))
