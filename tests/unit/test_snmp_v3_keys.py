"""SNMPv3 users given by key instead of passphrase, read from traps Net-SNMP's snmptrap
sends with ``-3m``/``-3M`` (master keys) and ``-3k``/``-3K`` (localised keys).

The keys are derived here with RFC 3414's own algorithm (A.2.1: a megabyte of the
passphrase hashed; A.2.2: localised as H(Ku | engine id | Ku)) rather than with pysnmp,
which the receiver uses: the test must not agree with the code under test by
construction."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from aiops.errors import InputError
from connectors.snmp_v3 import AUTH, V3Receiver, V3Refused, V3Settings, V3User, read_v3_users
from tests.unit.test_snmp_v3 import DEVICE_ENGINE, LINK_DOWN, receive, snmptrap

pytestmark = pytest.mark.skipif(shutil.which("snmptrap") is None,
                                reason="needs Net-SNMP's snmptrap (Debian snmp)")

HASHES = {"MD5": "md5", "SHA": "sha1", "SHA-224": "sha224", "SHA-256": "sha256",
          "SHA-384": "sha384", "SHA-512": "sha512"}


def master_key(auth: str, passphrase: bytes) -> bytes:
    """RFC 3414 A.2.1: the digest of 1,048,576 octets of the passphrase repeated."""
    stream = (passphrase * (1048576 // len(passphrase) + 1))[:1048576]
    return hashlib.new(HASHES[auth], stream).digest()


def localised(auth: str, key: bytes, engine_hex: str = DEVICE_ENGINE) -> bytes:
    """RFC 3414 A.2.2: the master key localised to an engine id."""
    return hashlib.new(HASHES[auth], key + bytes.fromhex(engine_hex[2:]) + key).digest()


def keyed(auth: str, priv: str, localized: bool = False) -> tuple[bytes, bytes]:
    auth_key, priv_key = master_key(auth, b"authpass123"), master_key(auth, b"privpass123")
    if localized:
        return localised(auth, auth_key), localised(auth, priv_key)
    return auth_key, priv_key


def sent_with_keys(auth: str, priv: str, auth_key: bytes, priv_key: bytes,
                   localized: bool = False, engine: str = DEVICE_ENGINE) -> bytes:
    flags = ("-3k", "-3K") if localized else ("-3m", "-3M")
    return snmptrap("-u", "netops", "-l", "authPriv", "-a", auth, flags[0],
                    "0x" + auth_key.hex(), "-x", priv, flags[1], "0x" + priv_key.hex(),
                    engine=engine)


@pytest.mark.parametrize("auth", list(AUTH))
@pytest.mark.parametrize("priv", ["AES", "DES", "AES-256", "AES-192-C"])
def test_master_keys_read_what_net_snmp_sends_with_them(auth: str, priv: str) -> None:
    auth_key, priv_key = keyed(auth, priv)
    receiver = V3Receiver(V3Settings((V3User("netops", auth, None, priv, None, None,
                                             auth_key, priv_key),), None))
    trap = receive(receiver, sent_with_keys(auth, priv, auth_key, priv_key))
    assert (trap.user, trap.oid) == ("netops", LINK_DOWN)
    # and a device keyed from the passphrase those keys came from is the same user
    assert receive(receiver, snmptrap("-u", "netops", "-l", "authPriv", "-a", auth, "-A",
                                      "authpass123", "-x", priv, "-X", "privpass123",
                                      engine="0x8000000001020305")).user == "netops"


@pytest.mark.parametrize(("auth", "priv"), [("SHA", "AES"), ("MD5", "DES"),
                                            ("SHA-256", "AES-256"), ("SHA-512", "AES-256-C")])
def test_localised_keys_read_their_one_device(auth: str, priv: str) -> None:
    auth_key, priv_key = keyed(auth, priv, localized=True)
    device = frozenset({bytes.fromhex(DEVICE_ENGINE[2:])})
    receiver = V3Receiver(V3Settings((V3User("netops", auth, None, priv, None, device,
                                             auth_key, priv_key, localized=True),), None))
    trap = receive(receiver, sent_with_keys(auth, priv, auth_key, priv_key, localized=True))
    assert (trap.user, trap.oid) == ("netops", LINK_DOWN)
    with pytest.raises(V3Refused, match="not one of its engine_ids"):
        receive(receiver, sent_with_keys(auth, priv, auth_key, priv_key, localized=True,
                                         engine="0x8000000001020305"))
    # a message keyed to our engine id (an inform's keying) cannot be read with them,
    # and says why rather than "unknown user"
    ours = "0x" + receiver.engine_id.hex()
    with pytest.raises(V3Refused, match="keys are given localised to its device"):
        receive(receiver, sent_with_keys(auth, priv, *keyed(auth, priv), engine=ours))


def test_a_wrong_key_is_refused_as_a_wrong_digest() -> None:
    auth_key, priv_key = keyed("SHA", "AES")
    wrong = master_key("SHA", b"another-pass")
    receiver = V3Receiver(V3Settings((V3User("netops", "SHA", None, "AES", None, None,
                                             wrong, priv_key),), None))
    with pytest.raises(V3Refused, match="wrong digest"):
        receive(receiver, sent_with_keys("SHA", "AES", auth_key, priv_key))


def test_a_users_file_with_keys_is_read(tmp_path: Path) -> None:
    auth_key, priv_key = keyed("SHA-256", "AES")
    local_auth, local_priv = keyed("SHA", "AES", localized=True)
    path = tmp_path / "v3.yml"
    path.write_text(
        "users:\n"
        f"  - {{name: netops, auth: SHA-256, auth_key: '0x{auth_key.hex()}',\n"
        f"     priv: AES, priv_key: '{priv_key.hex()}'}}\n"
        f"  - {{name: edge1, auth: SHA, auth_key: '0x{local_auth.hex()}', priv: AES,\n"
        f"     priv_key: '0x{local_priv.hex()}', localized: true,\n"
        f"     engine_ids: ['{DEVICE_ENGINE}']}}\n", encoding="utf-8")
    netops, edge1 = read_v3_users(path).users
    assert (netops.auth_key, netops.priv_key, netops.localized) == (auth_key, priv_key, False)
    assert (edge1.auth_key, edge1.localized) == (local_auth, True)
    receiver = V3Receiver(read_v3_users(path))
    assert receive(receiver, sent_with_keys("SHA-256", "AES", auth_key, priv_key)).user \
        == "netops"


SHA_KEY = "0x" + "ab" * 20
SHA256_KEY = "0x" + "ab" * 32


@pytest.mark.parametrize(("user", "error"), [
    (f"{{name: a, auth: SHA, auth_key: '{SHA256_KEY}'}}",
     "auth_key is 32 octets; a SHA key is 20"),
    (f"{{name: a, auth: SHA, auth_key: '{SHA_KEY}', auth_passphrase: longenough}}",
     "auth_passphrase and auth_key both given"),
    (f"{{name: a, auth: SHA, auth_key: '{SHA_KEY}', priv: AES, priv_key: '0x{'ab' * 16}'}}",
     "priv_key is 16 octets; a SHA key is 20"),
    ("{name: a, auth: SHA, auth_key: '0xnothex-secret'}", "auth_key: not hex"),
    (f"{{name: a, auth_key: '{SHA_KEY}'}}", "auth_key given without auth"),
    (f"{{name: a, auth: SHA, auth_key: '{SHA_KEY}', localized: true}}",
     "list exactly one in engine_ids"),
    (f"{{name: a, auth: SHA, auth_passphrase: longenough, localized: true, "
     f"engine_ids: ['{DEVICE_ENGINE}']}}", "a passphrase is never localised"),
    (f"{{name: a, auth: SHA, auth_key: '{SHA_KEY}', priv: AES-256, priv_key: '{SHA_KEY}', "
     f"localized: true, engine_ids: ['{DEVICE_ENGINE}']}}", "give the master key"),
    (f"{{name: a, auth: SHA, auth_key: '{SHA_KEY}', localized: yes please}}",
     "localized must be true or false"),
])
def test_a_bad_key_is_refused_naming_the_user_and_field(tmp_path: Path, user: str,
                                                        error: str) -> None:
    path = tmp_path / "v3.yml"
    path.write_text(f"users: [{user}]\n", encoding="utf-8")
    with pytest.raises(InputError) as refused:
        read_v3_users(path)
    message = str(refused.value)
    assert error in message and "v3.yml: user 1 (a)" in message
    assert "secret" not in message and "abab" not in message  # a key is never echoed
