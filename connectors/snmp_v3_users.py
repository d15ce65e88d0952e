"""The SNMPv3 users file (``aiops traps listen --v3-users FILE``): who may send, with
which protocols, and the secret each user's keys come from.

A user's secrets are given either as passphrases, from which the keys are derived
(RFC 3414 A.2: the master key Ku hashed from a megabyte of the passphrase, then
localised to an engine id), or as keys, for the shops whose devices are configured
with keys and that keep no passphrase anywhere:

- ``auth_key`` / ``priv_key``: the master key Ku in hex, as Net-SNMP's ``-3m`` / ``-3M``
  and snmptrapd's ``createUser -m`` take it. It is localised to each engine id as a
  passphrase is, so it serves any device and informs.
- the same fields with ``localized: true``: the key already localised (Kul, Net-SNMP's
  ``-3k`` / ``-3K``). Such a key works for one engine id only, so the user must list
  exactly one in ``engine_ids``, and its informs (localised to *our* engine id) cannot
  be read. A leaked localised key gives away one device's traffic, not every device's.

Why the lengths are checked here: a key of the wrong length is not refused by pysnmp
but would make every message of that user fail as "a wrong digest", which reads as a
device misconfigured rather than a typo in this file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pysnmp.entity import config

from aiops.errors import InputError
from aiops.yamlfile import read_yaml

MAX_FILE_BYTES = 256 * 1024
MIN_PASSPHRASE = 8  # RFC 3414 §11.2: shorter ones are refused by agents too

AUTH = {"MD5": config.USM_AUTH_HMAC96_MD5, "SHA": config.USM_AUTH_HMAC96_SHA,
        "SHA-224": config.USM_AUTH_HMAC128_SHA224, "SHA-256": config.USM_AUTH_HMAC192_SHA256,
        "SHA-384": config.USM_AUTH_HMAC256_SHA384, "SHA-512": config.USM_AUTH_HMAC384_SHA512}
# Net-SNMP's names. AES-192/AES-256 extend the key as draft-blumenthal-aes-usm does;
# the "-C" ones as Cisco does (draft-reeder-snmpv3-usm-3desede). Checked against
# Net-SNMP's snmptrap with every auth protocol (tests/unit/test_snmp_v3.py).
PRIV = {"DES": config.USM_PRIV_CBC56_DES, "AES": config.USM_PRIV_CFB128_AES,
        "AES-192": config.USM_PRIV_CFB192_AES_BLUMENTHAL,
        "AES-256": config.USM_PRIV_CFB256_AES_BLUMENTHAL,
        "AES-192-C": config.USM_PRIV_CFB192_AES, "AES-256-C": config.USM_PRIV_CFB256_AES}
# Octets of a key: a master or localised key is a digest of the auth protocol's hash
# (the privacy key too: RFC 3414 derives it with the same hash).
DIGEST_OCTETS = {"MD5": 16, "SHA": 20, "SHA-224": 28, "SHA-256": 32, "SHA-384": 48,
                 "SHA-512": 64}
# Octets of key material each privacy protocol uses (DES: key and pre-IV). A localised
# key shorter than this would need the key extension, which implementations apply to
# the master key's localisation and disagree on for a key given ready-localised
# (Net-SNMP's -3K and pysnmp differ): such a user must give the master key.
CIPHER_OCTETS = {"DES": 16, "AES": 16, "AES-192": 24, "AES-256": 32, "AES-192-C": 24,
                 "AES-256-C": 32}
_FIELDS = ("name", "auth", "auth_passphrase", "auth_key", "priv", "priv_passphrase",
           "priv_key", "localized", "engine_ids")


@dataclass(frozen=True, slots=True)
class V3User:
    name: str
    auth: str | None  # a key of AUTH, None: noAuthNoPriv
    auth_passphrase: str | None
    priv: str | None  # a key of PRIV
    priv_passphrase: str | None
    engine_ids: frozenset[bytes] | None  # None: any, localised on first sight
    auth_key: bytes | None = None  # given instead of auth_passphrase
    priv_key: bytes | None = None  # given instead of priv_passphrase
    localized: bool = False  # the keys are localised to the one engine id listed

    @property
    def level(self) -> int:
        return 3 if self.priv else 2 if self.auth else 1

    def secrets(self) -> dict[str, Any]:
        """What pysnmp's ``add_v3_user`` takes for this user's keys: the passphrase as
        UTF-8 bytes, as Net-SNMP and devices key it (given text, pyasn1 would encode it
        in Latin-1, and a passphrase with an "ä" would derive another key), or the key
        with its kind."""
        kind = config.USM_KEY_TYPE_LOCALIZED if self.localized else config.USM_KEY_TYPE_MASTER
        found: dict[str, Any] = {}
        for role, key, passphrase in (("auth", self.auth_key, self.auth_passphrase),
                                      ("priv", self.priv_key, self.priv_passphrase)):
            found[f"{role}Key"] = key if key is not None else _utf8(passphrase)
            found[f"{role}KeyType"] = kind if key is not None else config.USM_KEY_TYPE_PASSPHRASE
        return found


@dataclass(frozen=True, slots=True)
class V3Settings:
    users: tuple[V3User, ...]
    engine_id: bytes | None  # ours (what informs are localised to); None: pysnmp's


def read_v3_users(path: Path) -> V3Settings:
    """The ``--v3-users`` YAML file; ``InputError`` naming the file, user and field."""
    document = read_yaml(path, MAX_FILE_BYTES)
    where = path.name
    if not isinstance(document, dict) or not isinstance(document.get("users"), list):
        raise InputError(f"{where}: expected a mapping with a list 'users'")
    unknown = set(document) - {"users", "engine_id"}
    if unknown:
        raise InputError(f"{where}: unknown keys {sorted(unknown)} (users, engine_id)")
    ours = engine_id_of(document.get("engine_id"), f"{where}: engine_id") \
        if document.get("engine_id") is not None else None
    users: list[V3User] = []
    for number, raw in enumerate(document["users"], start=1):
        users.append(_user(raw, f"{where}: user {number}"))
    names = [u.name for u in users]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise InputError(f"{where}: users named twice: {twice}")
    if not users:
        raise InputError(f"{where}: no users")
    return V3Settings(tuple(users), ours)


def _user(raw: Any, where: str) -> V3User:
    if not isinstance(raw, dict):
        raise InputError(f"{where}: expected a mapping")
    unknown = set(raw) - set(_FIELDS)
    if unknown:
        raise InputError(f"{where}: unknown keys {sorted(unknown)}")
    name = raw.get("name")
    if not isinstance(name, str) or not 1 <= len(name) <= 32:
        raise InputError(f"{where}: 'name' must be text of 1-32 characters")
    where = f"{where} ({name})"
    auth, priv = raw.get("auth"), raw.get("priv")
    if auth is not None and auth not in AUTH:
        raise InputError(f"{where}: auth {auth!r} is not one of {', '.join(AUTH)}")
    if priv is not None and priv not in PRIV:
        raise InputError(f"{where}: priv {priv!r} is not one of {', '.join(PRIV)}")
    if priv is not None and auth is None:
        raise InputError(f"{where}: priv needs auth (SNMPv3 has no privacy without it)")
    localized = raw.get("localized", False)
    if not isinstance(localized, bool):
        raise InputError(f"{where}: localized must be true or false")
    engine_ids = raw.get("engine_ids")
    if engine_ids is not None:
        if not isinstance(engine_ids, list) or not engine_ids:
            raise InputError(f"{where}: engine_ids must be a list of hex engine ids")
        engine_ids = frozenset(engine_id_of(e, f"{where}: engine_ids") for e in engine_ids)
    secrets: dict[str, Any] = {}
    for role, protocol in (("auth", auth), ("priv", priv)):
        passphrase, key = _secret(raw, role, protocol, where)
        if key is not None:
            _check_key(key, role, auth, priv, localized, where)
        secrets[f"{role}_passphrase"], secrets[f"{role}_key"] = passphrase, key
    if localized:
        if secrets["auth_key"] is None or (priv is not None and secrets["priv_key"] is None):
            raise InputError(f"{where}: localized: true needs auth_key (and priv_key with "
                             "priv): a passphrase is never localised")
        if engine_ids is None or len(engine_ids) != 1:
            raise InputError(f"{where}: localized keys work for one engine id: list exactly "
                             "one in engine_ids")
    return V3User(name, auth, secrets["auth_passphrase"], priv, secrets["priv_passphrase"],
                  engine_ids, secrets["auth_key"], secrets["priv_key"], localized)


def _secret(raw: dict[str, Any], role: str, protocol: str | None,
            where: str) -> tuple[str | None, bytes | None]:
    """The passphrase or the key of ``role`` (auth or priv): exactly one when the user
    has that protocol, neither when not."""
    passphrase, key = raw.get(f"{role}_passphrase"), raw.get(f"{role}_key")
    if protocol is None:
        for field, value in ((f"{role}_passphrase", passphrase), (f"{role}_key", key)):
            if value is not None:
                raise InputError(f"{where}: {field} given without {role}")
        return None, None
    if passphrase is not None and key is not None:
        raise InputError(f"{where}: {role}_passphrase and {role}_key both given: one of them")
    if key is not None:
        return None, _hex_key(key, f"{where}: {role}_key")
    if not isinstance(passphrase, str) or len(passphrase) < MIN_PASSPHRASE:
        raise InputError(f"{where}: {role}_passphrase must be text of at least "
                         f"{MIN_PASSPHRASE} characters (or give {role}_key)")
    return passphrase, None


def _check_key(key: bytes, role: str, auth: str | None, priv: str | None, localized: bool,
               where: str) -> None:
    assert auth is not None  # priv needs auth, checked before
    wanted = DIGEST_OCTETS[auth]
    if len(key) != wanted:
        raise InputError(f"{where}: {role}_key is {len(key)} octets; a {auth} key is "
                         f"{wanted} (the digest of its hash)")
    if role == "priv" and localized and priv is not None and wanted < CIPHER_OCTETS[priv]:
        raise InputError(f"{where}: a localized {priv} key with {auth} would need the key "
                         f"extension ({CIPHER_OCTETS[priv]} octets from a {wanted}-octet "
                         "key), which implementations apply differently to a key given "
                         "ready-localised: give the master key (localized: false)")


def _hex_key(text: Any, where: str) -> bytes:
    """A key as Net-SNMP writes it: hex, with or without ``0x`` (``:`` allowed)."""
    if not isinstance(text, str):
        raise InputError(f"{where}: a key must be hex text, got {type(text).__name__}")
    digits = text[2:] if text.lower().startswith("0x") else text
    try:
        return bytes.fromhex(digits.replace(":", ""))
    except ValueError:
        raise InputError(f"{where}: not hex") from None


def engine_id_of(text: Any, where: str) -> bytes:
    """An engine id as Net-SNMP writes it: hex, with or without ``0x``, 5-32 octets."""
    if not isinstance(text, str):
        raise InputError(f"{where}: an engine id must be hex text, got {text!r}")
    digits = text[2:] if text.lower().startswith("0x") else text
    try:
        octets = bytes.fromhex(digits.replace(":", ""))
    except ValueError:
        raise InputError(f"{where}: {text!r} is not hex") from None
    if not 5 <= len(octets) <= 32:
        raise InputError(f"{where}: {text!r} is {len(octets)} octets, not 5-32 (RFC 3411)")
    return octets


def _utf8(passphrase: str | None) -> bytes | None:
    return passphrase.encode("utf-8") if passphrase is not None else None
