"""The refresh token of a session, sealed so that only the session's cookie opens it.

Why: a refresh token is a standing credential at the provider (it gets new tokens for
the user without them), and the database is copied (backups, a restored staging
copy). So the ``sessions`` row holds it encrypted with AES-256-GCM under a key derived
by HKDF-SHA256 from the session's random id. The row is named by the id's SHA-256
(aiops/api/session_store.py), and only the cookie carries the id itself: the engine
opens the token while a request of that session is in hand, and a copy of the
database alone opens nothing. The row id is the additional authenticated data, so a
sealed token moved to another row does not open. The primitives are ``cryptography``'s.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION = b"\x01"  # the first byte of a sealed token: how it was sealed
_INFO = b"aiops session refresh token v1"
_NONCE = 12  # bytes: AES-GCM's standard nonce; random, one key seals few tokens


class Unsealable(ValueError):
    """The sealed bytes do not open with this session's id (altered, or another's)."""


def _cipher(sid: str) -> AESGCM:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
               info=_INFO).derive(sid.encode("utf-8"))
    return AESGCM(key)


def seal(sid: str, row: str, secret: str) -> bytes:
    """``secret`` encrypted for the session ``sid`` whose row is named ``row``."""
    nonce = os.urandom(_NONCE)
    return VERSION + nonce + _cipher(sid).encrypt(nonce, secret.encode("utf-8"),
                                                  row.encode("ascii"))


def unseal(sid: str, row: str, sealed: bytes) -> str:
    """What :func:`seal` sealed for ``sid`` and ``row``; Unsealable otherwise."""
    if len(sealed) < 1 + _NONCE + 16 or sealed[:1] != VERSION:
        raise Unsealable("not a sealed token of this version")
    nonce, body = sealed[1:1 + _NONCE], sealed[1 + _NONCE:]
    try:
        return _cipher(sid).decrypt(nonce, body, row.encode("ascii")).decode("utf-8")
    except InvalidTag:
        raise Unsealable("the sealed token does not open with this session") from None
