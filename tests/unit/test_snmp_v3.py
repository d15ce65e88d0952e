"""SNMPv3 traps as Net-SNMP's snmptrap sends them, read by ``V3Receiver``: every
authentication and privacy protocol, and each way a message must be refused."""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from aiops.errors import InputError
from connectors.snmp_traps import is_snmpv3, v3_trap
from connectors.snmp_v3 import AUTH, PRIV, V3Receiver, V3Refused, V3Settings, V3User, read_v3_users

pytestmark = pytest.mark.skipif(shutil.which("snmptrap") is None,
                                reason="needs Net-SNMP's snmptrap (Debian snmp)")

DEVICE_ENGINE = "0x8000000001020304"
IF_NAME = "1.3.6.1.31.1.1.1.1.3"
LINK_DOWN = "1.3.6.1.6.3.1.1.5.3"


def snmptrap(*security: str, engine: str = DEVICE_ENGINE) -> bytes:
    """The datagram Net-SNMP's snmptrap sends for a linkDown with ifName Gi0/3."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver:
        receiver.bind(("127.0.0.1", 0))
        receiver.settimeout(10)
        subprocess.run(["snmptrap", "-v3", *security, "-e", engine,
                        f"127.0.0.1:{receiver.getsockname()[1]}", "", LINK_DOWN,
                        IF_NAME, "s", "Gi0/3"], check=True, timeout=30, capture_output=True)
        return receiver.recvfrom(65535)[0]


def user(auth: str | None = "SHA", priv: str | None = "AES", name: str = "netops",
         engine_ids: frozenset[bytes] | None = None) -> V3User:
    return V3User(name, auth, "authpass123" if auth else None, priv,
                  "privpass123" if priv else None, engine_ids)


def security(auth: str | None = "SHA", priv: str | None = "AES", name: str = "netops",
             auth_pass: str = "authpass123", priv_pass: str = "privpass123") -> list[str]:
    if auth is None:
        return ["-u", name, "-l", "noAuthNoPriv"]
    args = ["-u", name, "-l", "authPriv" if priv else "authNoPriv", "-a", auth, "-A", auth_pass]
    return args + (["-x", priv, "-X", priv_pass] if priv else [])


def receive(receiver: V3Receiver, data: bytes):
    assert is_snmpv3(data)
    return v3_trap(receiver.receive(data, ("192.0.2.7", 50000)), "192.0.2.7")


@pytest.mark.parametrize(("auth", "priv"), [*((a, "AES") for a in AUTH),
                                            *(("SHA", p) for p in PRIV),
                                            ("SHA-256", "AES-256-C"), ("MD5", None)])
def test_every_protocol_net_snmp_sends_is_read(auth: str, priv: str | None) -> None:
    receiver = V3Receiver(V3Settings((user(auth, priv),), None))
    trap = receive(receiver, snmptrap(*security(auth, priv)))
    assert (trap.version, trap.user, trap.oid, trap.device) == ("3", "netops", LINK_DOWN,
                                                                "192.0.2.7")
    assert trap.varbinds[IF_NAME] == "Gi0/3" and trap.answer is None


def test_a_passphrase_beyond_ascii_derives_the_key_net_snmp_does() -> None:
    """Net-SNMP keys a passphrase's bytes as given (UTF-8): the users file's text must
    be read the same way, not as pyasn1's default Latin-1."""
    passphrase = "pässwört-123"
    receiver = V3Receiver(V3Settings((V3User("netops", "SHA", passphrase, "AES", passphrase,
                                             None),), None))
    sent = snmptrap("-u", "netops", "-l", "authPriv", "-a", "SHA", "-A", passphrase,
                    "-x", "AES", "-X", passphrase)
    assert receive(receiver, sent).user == "netops"


def test_wrong_passphrases_unknown_users_and_lower_levels_are_refused_by_reason() -> None:
    receiver = V3Receiver(V3Settings((user(),), None))
    with pytest.raises(V3Refused, match="wrong digest"):
        receive(receiver, snmptrap(*security(auth_pass="another-pass")))
    with pytest.raises(V3Refused, match="decryption error"):
        receive(receiver, snmptrap(*security(priv_pass="another-pass")))
    with pytest.raises(V3Refused, match="unknown user 'intruder'"):
        receive(receiver, snmptrap(*security(name="intruder")))
    # USM alone would let these through: the user is authPriv.
    with pytest.raises(V3Refused, match="noAuthNoPriv message .* who is authPriv"):
        receive(receiver, snmptrap(*security(auth=None)))
    with pytest.raises(V3Refused, match="authNoPriv message .* who is authPriv"):
        receive(receiver, snmptrap(*security(priv=None)))
    assert receive(receiver, snmptrap(*security())).user == "netops"  # still reads


def test_engine_ids_listed_are_the_only_ones_and_learned_ones_are_bounded() -> None:
    listed = V3Receiver(V3Settings((user(engine_ids=frozenset({bytes.fromhex(
        DEVICE_ENGINE[2:])})),), None))
    assert receive(listed, snmptrap(*security())).user == "netops"
    with pytest.raises(V3Refused, match="engine id 0x8000000001020305, not one of its"):
        receive(listed, snmptrap(*security(), engine="0x8000000001020305"))
    bounded = V3Receiver(V3Settings((user(),), None), max_engines=1)
    assert receive(bounded, snmptrap(*security())).user == "netops"
    assert receive(bounded, snmptrap(*security())).user == "netops"  # known: no new one
    with pytest.raises(V3Refused, match="1 already known"):
        receive(bounded, snmptrap(*security(), engine="0x8000000001020305"))


def test_messages_refused_do_not_use_up_the_learned_engine_ids() -> None:
    """User names travel in clear: made-up engine ids with a wrong digest, or below the
    user's level (which USM alone lets through), must not fill the table and shut out
    the next real device."""
    bounded = V3Receiver(V3Settings((user(),), None), max_engines=1)
    with pytest.raises(V3Refused, match="wrong digest"):
        receive(bounded, snmptrap(*security(auth_pass="another-pass"),
                                  engine="0x8000000001020305"))
    with pytest.raises(V3Refused, match="noAuthNoPriv message"):
        receive(bounded, snmptrap(*security(auth=None), engine="0x8000000001020306"))
    assert receive(bounded, snmptrap(*security())).user == "netops"
    with pytest.raises(V3Refused, match="1 already known"):  # the bound still holds
        receive(bounded, snmptrap(*security(), engine="0x8000000001020305"))
    again = V3Receiver(V3Settings((user(),), None), max_engines=1)
    with pytest.raises(V3Refused, match="wrong digest"):
        receive(again, snmptrap(*security(auth_pass="another-pass")))
    assert receive(again, snmptrap(*security())).user == "netops"  # forgotten, relearned


def test_garbage_that_says_snmpv3_is_refused_as_unreadable() -> None:
    receiver = V3Receiver(V3Settings((user(),), None))
    data = snmptrap(*security())
    with pytest.raises(ValueError, match="cannot be read|refused"):
        receiver.receive(data[:40] + b"\x00" * 10 + data[50:], ("192.0.2.7", 1))


@pytest.mark.parametrize("length", [b"\x40" + bytes(7), bytes(7) + b"\x50",
                                    b"\x80" + bytes(7)])
def test_a_length_past_the_datagram_is_unreadable_not_a_refusal(length: bytes) -> None:
    """The privacy parameters' length made 8 octets long, past the datagram's end.
    pysnmp dropped such a message without a word or a counter below 2^63 (and raised
    OverflowError from 2^63), so it was told as "refused: not a notification", a
    setting to fix; it is line noise, and the same message names it so at any length."""
    receiver = V3Receiver(V3Settings((user(),), None))
    sent = snmptrap(*security())
    auth = sent.index(b"\x04\x06netops\x04\x0c") + 10 + 12
    assert sent[auth:auth + 2] == b"\x04\x08"
    crafted = sent[:auth + 1] + b"\x88" + length + sent[auth + 10:]
    with pytest.raises(ValueError, match="cannot be read") as raised:
        receiver.receive(crafted, ("192.0.2.7", 1))
    assert not isinstance(raised.value, V3Refused)
    assert receive(receiver, snmptrap(*security())).oid == LINK_DOWN  # and the next read


def test_a_long_form_length_that_fits_is_no_overrun() -> None:
    """BER allows a length in more octets than needed (X.690 8.1.3.5); one that fits
    its container is no overrun, one a single octet longer is."""
    from connectors.snmp_ber import v3_overruns

    version = b"\x02\x01\x03"
    assert not v3_overruns(b"\x30\x84\x00\x00\x00\x03" + version)
    assert v3_overruns(b"\x30\x84\x00\x00\x00\x04" + version)
    assert not v3_overruns(snmptrap(*security()))


@pytest.mark.parametrize(("text", "error"), [
    ("users: []", "no users"),
    ("[]", "expected a mapping with a list 'users'"),
    ("users: [{name: a, auth: SHA1, auth_passphrase: longenough}]", "auth 'SHA1' is not one of"),
    ("users: [{name: a, auth: SHA, auth_passphrase: short}]", "at least 8 characters"),
    ("users: [{name: a, priv: AES, priv_passphrase: longenough}]", "priv needs auth"),
    ("users: [{name: a}, {name: a}]", "users named twice: ['a']"),
    ("users: [{name: a, engine_ids: [0xZZ]}]", "is not hex"),
    ("users: [{name: a, engine_ids: ['0x01']}]", "1 octets, not 5-32"),
    ("users: [{name: a, password: x}]", "unknown keys ['password']"),
    ("users: [{name: a}]\nengine_id: 12", "an engine id must be hex text"),
])
def test_a_bad_users_file_is_refused_naming_what(tmp_path: Path, text: str, error: str) -> None:
    path = tmp_path / "v3.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=None) as refused:
        read_v3_users(path)
    assert error in str(refused.value) and "v3.yml" in str(refused.value)


def test_a_users_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "v3.yml"
    path.write_text("engine_id: '0x80001f8880aabbccdd'\nusers:\n"
                    "  - {name: netops, auth: SHA-256, auth_passphrase: authpass123,\n"
                    "     priv: AES, priv_passphrase: privpass123,\n"
                    "     engine_ids: ['80:00:00:00:01:02:03:04']}\n"
                    "  - {name: monitor}\n", encoding="utf-8")
    settings = read_v3_users(path)
    assert settings.engine_id == bytes.fromhex("80001f8880aabbccdd")
    netops, monitor = settings.users
    assert (netops.level, monitor.level) == (3, 1)
    assert netops.engine_ids == frozenset({bytes.fromhex("8000000001020304")})
    assert V3Receiver(settings).engine_id == settings.engine_id


def test_a_no_auth_user_cannot_use_up_the_engine_ids_of_the_authenticated_ones() -> None:
    """Anyone may send as a noAuthNoPriv user (its name travels in clear, and there is
    nothing to pass): made-up engine ids in its name must not fill the table and shut
    out a real device of an authPriv user; its own engine ids give way, oldest first."""
    monitor = V3User("monitor", None, None, None, None, None)
    receiver = V3Receiver(V3Settings((user(), monitor), None), max_engines=2)
    for device in range(3):
        assert receive(receiver, snmptrap(*security(auth=None, name="monitor"),
                                          engine=f"0x80000000010203{device:02x}")
                       ).user == "monitor"
    assert receive(receiver, snmptrap(*security(), engine="0x8000000001020399")
                   ).user == "netops"
    # The first made-up one gave way, and is simply learned again.
    assert receive(receiver, snmptrap(*security(auth=None, name="monitor"),
                                      engine="0x8000000001020300")).user == "monitor"
    assert receive(receiver, snmptrap(*security(), engine="0x8000000001020398")
                   ).user == "netops"
    with pytest.raises(V3Refused, match="2 already known"):  # the bound still holds
        receive(receiver, snmptrap(*security(), engine="0x8000000001020397"))


def test_a_trap_sent_again_later_is_refused_as_a_replay() -> None:
    """RFC 3414 §3.2.7 b: the device is the authoritative engine of its traps, and a
    recorded authPriv trap sent again (a linkUp clearing the alert of a link still
    down) must be refused once the device has rebooted since, or its time has moved on
    by more than 150 s; pysnmp alone read every such copy as new."""
    receiver = V3Receiver(V3Settings((user(),), None))
    first = snmptrap(*security(), "-Z", "5,1000")
    assert receive(receiver, first).user == "netops"
    assert receive(receiver, first).user == "netops"  # within the window: RFC 3414 allows
    assert receive(receiver, snmptrap(*security(), "-Z", "5,1200")).user == "netops"
    with pytest.raises(V3Refused, match="time outside the window"):
        receive(receiver, first)  # 200 s behind the device's time now
    assert receive(receiver, snmptrap(*security(), "-Z", "6,3")).user == "netops"  # rebooted
    later = snmptrap(*security(), "-Z", "6,20")
    assert receive(receiver, later).user == "netops"
    with pytest.raises(V3Refused, match="time outside the window") as refused:
        receive(receiver, snmptrap(*security(), "-Z", "5,1300"))  # from before the reboot
    with pytest.raises(V3Refused) as again:
        receive(receiver, first)
    assert str(again.value) == str(refused.value)  # one text per sender: logged once
    # Unauthenticated messages cannot move the estimate: a wrong digest with a later
    # time changes nothing, and the device's next trap is still read.
    with pytest.raises(V3Refused, match="wrong digest"):
        receive(receiver, snmptrap(*security(auth_pass="another-pass"), "-Z", "9,99999"))
    assert receive(receiver, snmptrap(*security(), "-Z", "6,40")).user == "netops"


def test_a_device_whose_engine_time_does_not_advance_is_still_read() -> None:
    """Some devices send the same time in every trap: as for Net-SNMP's snmptrapd,
    only a time before the latest one read (and 150 s behind the estimate) is a replay."""
    receiver = V3Receiver(V3Settings((user(),), None))
    assert receive(receiver, snmptrap(*security(), "-Z", "3,1")).user == "netops"
    engine = bytes.fromhex(DEVICE_ENGINE[2:])
    boots, clock, seen = receiver._timeline[engine]
    receiver._timeline[engine] = (boots, clock, seen - 1000)  # read 1000 s ago
    assert receive(receiver, snmptrap(*security(), "-Z", "3,1")).user == "netops"
