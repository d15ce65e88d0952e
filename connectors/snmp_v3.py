"""SNMPv3 traps and informs (RFC 3414 USM): authenticated, optionally encrypted.

Why pysnmp's engine and not our BER reader: a v3 message is authenticated with a key
localised to an engine id and may be encrypted; pysnmp's message processing and USM
do that. We keep our own socket (aiops/syslog_listener.py) and hand pysnmp each
datagram; what pysnmp would send back (an inform's response, the Report that tells a
sender our engine id) is collected by ``_Outbox`` and returned for the receiver to
send, as a v2c inform's acknowledgement is.

Which engine id a key is localised to (RFC 3414 §2.6): a trap is sent by its device
as the authoritative engine, so its keys are localised to the *device's* engine id;
an inform is sent to us as the authoritative engine, so to *ours*. Listing every
device's engine id, as snmptrapd's ``createUser -e`` asks, is what operators get
wrong; here a user may list ``engine_ids`` (only those are accepted), or list none,
and then the keys are localised to each engine id the first time a message names it
(from the master key derived once from the passphrase; at most ``MAX_ENGINES``, so a
flood of made-up engine ids cannot grow the table without bound). A message must
pass authentication either way: a made-up engine id only costs a localisation, undone
when its message is refused (user names travel in clear, so refused messages must not
use up the bound). A ``noAuthNoPriv`` user has nothing to pass, so anyone may send
as it: its engine ids are kept apart, the oldest giving way to a new one (localising
them derives nothing), and never use up the authenticated users' bound.

The security level a user is configured with is the least accepted: USM itself
lets a message of a lower level through (RFC 3414 §3.2.5 refuses only higher), and a
trap receiver has no VACM behind it, so a ``noAuthNoPriv`` trap naming an ``authPriv``
user would otherwise be read.

Replays: an inform's time is checked by pysnmp against ours; a trap's, against the
sender's latest authenticated time, is checked here (``V3Receiver._timely``): pysnmp
takes every authenticated trap's time as the sender's latest, so it refuses none.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyasn1.codec.ber import decoder
from pysnmp.carrier.asyncio.dgram import udp
from pysnmp.entity import config, engine
from pysnmp.entity.rfc3413 import ntfrcv
from pysnmp.proto.mpmod.rfc3412 import SNMPv3Message
from pysnmp.proto.secmod.rfc3414.service import UsmSecurityParameters

from aiops.errors import InputError
from aiops.yamlfile import read_yaml
from connectors.snmp_ber import v3_overruns, v3_security_parameters

MAX_ENGINES = 4096
MAX_FILE_BYTES = 256 * 1024
WINDOW = 150  # seconds: RFC 3414 §2.2.3's time window
MAX_BOOTS = 2147483647  # an engine at its last boot count (RFC 3414 §2.2.2)
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
LEVELS = {1: "noAuthNoPriv", 2: "authNoPriv", 3: "authPriv"}
# USM's counters (SNMP-USER-BASED-SM-MIB), read to say why a message was not taken.
_REASONS = {"usmStatsUnknownUserNames": "an unknown user",
            "usmStatsWrongDigests": "a wrong digest (another auth passphrase or protocol)",
            "usmStatsDecryptionErrors": "a decryption error (another privacy passphrase "
                                        "or protocol)",
            "usmStatsNotInTimeWindows": "a time outside the window (a replay, or the "
                                        "sender's clock restarted)",
            "usmStatsUnsupportedSecLevels": "a security level the user does not have",
            "usmStatsUnknownEngineIDs": "an engine id unknown to us"}


class V3Refused(ValueError):
    """An SNMPv3 message USM or the user's settings refused: a configuration to fix
    (a passphrase, a protocol, an engine id), not line noise."""


@dataclass(frozen=True, slots=True)
class V3User:
    name: str
    auth: str | None  # a key of AUTH, None: noAuthNoPriv
    auth_passphrase: str | None
    priv: str | None  # a key of PRIV
    priv_passphrase: str | None
    engine_ids: frozenset[bytes] | None  # None: any, localised on first sight

    @property
    def level(self) -> int:
        return 3 if self.priv else 2 if self.auth else 1


@dataclass(frozen=True, slots=True)
class V3Settings:
    users: tuple[V3User, ...]
    engine_id: bytes | None  # ours (what informs are localised to); None: pysnmp's


@dataclass(frozen=True, slots=True)
class V3Message:
    """What one datagram gave: the notification's variables (None when it was a
    discovery probe or was refused), what to send back, and who sent it."""
    varbinds: dict[str, Any] | None
    answer: bytes | None
    user: str
    level: str
    inform: bool


def read_v3_users(path: Path) -> V3Settings:
    """The ``--v3-users`` YAML file; ``InputError`` naming the file, user and field."""
    document = read_yaml(path, MAX_FILE_BYTES)
    where = path.name
    if not isinstance(document, dict) or not isinstance(document.get("users"), list):
        raise InputError(f"{where}: expected a mapping with a list 'users'")
    unknown = set(document) - {"users", "engine_id"}
    if unknown:
        raise InputError(f"{where}: unknown keys {sorted(unknown)} (users, engine_id)")
    ours = _engine_id(document.get("engine_id"), f"{where}: engine_id") \
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
    unknown = set(raw) - {"name", "auth", "auth_passphrase", "priv", "priv_passphrase",
                          "engine_ids"}
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
    passphrases = {}
    for field, wanted in (("auth_passphrase", auth), ("priv_passphrase", priv)):
        value = raw.get(field)
        if wanted is None:
            if value is not None:
                raise InputError(f"{where}: {field} given without {field[:4]}")
            continue
        if not isinstance(value, str) or len(value) < MIN_PASSPHRASE:
            raise InputError(f"{where}: {field} must be text of at least "
                             f"{MIN_PASSPHRASE} characters")
        passphrases[field] = value
    engine_ids = raw.get("engine_ids")
    if engine_ids is not None:
        if not isinstance(engine_ids, list) or not engine_ids:
            raise InputError(f"{where}: engine_ids must be a list of hex engine ids")
        engine_ids = frozenset(_engine_id(e, f"{where}: engine_ids") for e in engine_ids)
    return V3User(name, auth, passphrases.get("auth_passphrase"), priv,
                  passphrases.get("priv_passphrase"), engine_ids)


def _engine_id(text: Any, where: str) -> bytes:
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


class _Outbox:
    """The transport pysnmp sends through: it keeps what would be sent (a Report, an
    inform's Response) for our receiver to send from its own socket."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def register_recv_callback(self, *args: Any, **kwargs: Any) -> None:
        pass

    def unregister_recv_callback(self, *args: Any, **kwargs: Any) -> None:
        pass

    def register_timer_callback(self, *args: Any, **kwargs: Any) -> None:
        pass

    def unregister_timer_callback(self, *args: Any, **kwargs: Any) -> None:
        pass

    def send_message(self, message: Any, domain: Any, address: Any) -> None:
        self.sent.append(bytes(message))

    def get_timer_ticks(self) -> int:
        return int(time.monotonic() * 2)

    def get_timer_resolution(self) -> float:
        return 0.5


class V3Receiver:
    """Reads SNMPv3 notifications for the users configured. Not thread-safe: the
    trap listener reads all datagrams on one thread."""

    def __init__(self, settings: V3Settings, max_engines: int = MAX_ENGINES):
        self.settings = settings
        self.users = {user.name: user for user in settings.users}
        self.max_engines = max_engines
        self.engine = (engine.SnmpEngine(snmpEngineID=settings.engine_id)
                       if settings.engine_id else engine.SnmpEngine())
        self._outbox = _Outbox()
        self.engine.register_transport_dispatcher(self._outbox)
        self.engine_id = bytes(self.engine.snmpEngineID)
        self._localised: set[tuple[str, bytes]] = set()
        # The learned engine ids of noAuthNoPriv users, oldest first (see the module's
        # docstring): at most max_engines, apart from the bound of the others.
        self._unauthenticated: dict[tuple[str, bytes], None] = {}
        # Senders' (boots, time, when received) by engine id, from authenticated traps.
        self._timeline: dict[bytes, tuple[int, int, float]] = {}
        self._received: list[tuple[Any, int, str, bool]] = []
        ntfrcv.NotificationReceiver(self.engine, self._notification)
        self._seen = self._counters()
        for user in settings.users:  # informs: keys localised to our engine id
            self._add(user, self.engine_id)

    def _add(self, user: V3User, engine_id: bytes) -> None:
        # As bytes in UTF-8, as Net-SNMP and devices take a passphrase: given text,
        # pyasn1 would encode it in Latin-1, and a passphrase with an "ä" would derive
        # another key (every message refused as "a wrong digest").
        config.add_v3_user(
            self.engine, user.name,
            AUTH[user.auth] if user.auth else config.USM_AUTH_NONE, _utf8(user.auth_passphrase),
            PRIV[user.priv] if user.priv else config.USM_PRIV_NONE, _utf8(user.priv_passphrase),
            securityEngineId=engine_id)
        self._localised.add((user.name, engine_id))
        if user.auth is None and engine_id != self.engine_id:
            self._unauthenticated[(user.name, engine_id)] = None

    def _notification(self, snmp_engine: Any, state: Any, context_engine: Any,
                      context_name: Any, varbinds: Any, callback: Any) -> None:
        context = snmp_engine.observer.get_execution_context(
            "rfc3412.receiveMessage:request")
        pdu = context.get("pdu")
        inform = pdu is not None and type(pdu).__name__ == "InformRequestPDU"
        self._received.append((varbinds, int(context.get("securityLevel", 0)),
                               str(context.get("securityName", "")), inform))

    def receive(self, data: bytes, peer: tuple[str, int]) -> V3Message:
        """One datagram; ``ValueError`` naming the sender and why, for one that is not
        an SNMPv3 notification of a configured user at its level."""
        who = peer[0]
        if v3_overruns(data):
            raise ValueError(f"an SNMPv3 message from {who} that cannot be read")
        engine_id, boots, clock, raw_name = (v3_security_parameters(data)
                                             or _security_parameters(data, who))
        user_name = raw_name.decode("utf-8", "replace")
        user = self.users.get(user_name)
        if user_name and user is None:
            raise V3Refused(f"an SNMPv3 message from {who} for unknown user {user_name!r}")
        if user is not None and engine_id and engine_id != self.engine_id \
                and (user.name, engine_id) not in self._localised:
            self._learn(user, engine_id, who)
            try:
                message = self._read(data, peer, who, user, user_name)
            except Exception:
                # Kept only for a message it let through: user names travel in clear,
                # and messages that fail authentication (or come below the user's
                # level, which USM alone accepts) must not fill the table of learned
                # engine ids, which would shut out the devices that come next.
                self._forget(user, engine_id)
                raise
        else:
            message = self._read(data, peer, who, user, user_name)
        if message.varbinds is not None and message.level != LEVELS[1] \
                and engine_id != self.engine_id:
            self._timely(engine_id, boots, clock, who, user_name)
        return message

    def _timely(self, engine_id: bytes, boots: int, clock: int, who: str,
                user_name: str) -> None:
        """RFC 3414 §3.2.7 b for an authenticated trap (its sender is the authoritative
        engine), which pysnmp skips: it takes each authenticated message's boots and
        time as the sender's latest, so a trap recorded and sent again later (a linkUp
        that clears an alert of a link still down) was read as new. Refused, as Net-SNMP's
        snmptrapd refuses it: a trap from fewer boots than the sender's latest (from
        before a reboot), or from the same boots with a time before the latest one's and
        more than 150 s behind what we estimate the sender's time to be now. A time that
        does not advance (devices that send 0) is not refused. The estimate is kept only
        from authenticated messages, so at most one per engine id we hold keys for."""
        now = time.monotonic()
        latest = self._timeline.get(engine_id)
        if latest is None or boots > latest[0] or (boots == latest[0]
                                                   and clock > latest[1]):
            self._timeline[engine_id] = (boots, clock, now)
        if latest is None:
            return
        latest_boots, latest_clock, seen = latest
        if latest_boots == MAX_BOOTS or boots < latest_boots or (
                boots == latest_boots and clock < latest_clock
                and latest_clock + (now - seen) - clock > WINDOW):
            # The same text for every such trap of a sender: it is logged once.
            raise V3Refused(f"an SNMPv3 message from {who} (user {user_name!r}) refused: "
                            f"{_REASONS['usmStatsNotInTimeWindows']}: its engine boots "
                            "and time are behind those of a trap already read")

    def _read(self, data: bytes, peer: tuple[str, int], who: str, user: V3User | None,
              user_name: str) -> V3Message:
        self._received.clear()
        self._outbox.sent.clear()
        try:
            self.engine.message_dispatcher.receive_message(self.engine, udp.DOMAIN_NAME,
                                                           peer, data)
        except Exception:  # noqa: BLE001 - pysnmp/pyasn1 raise many kinds on crafted BER
            # (a length of 2^63 in the privacy parameters: OverflowError), which would
            # otherwise leave the receiver's loop as something other than ValueError.
            raise ValueError(f"an SNMPv3 message from {who} that cannot be read") from None
        answer = b"".join(self._outbox.sent[-1:]) or None
        if not self._received:
            why = self._why()
            if not user_name and answer:  # a sender asking our engine id (RFC 3414 §4)
                return V3Message(None, answer, "", LEVELS[1], True)
            raise V3Refused(f"an SNMPv3 message from {who} (user {user_name!r}) refused: "
                            f"{why}")
        varbinds, level, name, inform = self._received[-1]
        if user is None or level < user.level:
            raise V3Refused(f"an SNMPv3 {LEVELS.get(level, level)} message from {who} "
                             f"for user {user_name!r}, who is {LEVELS[user.level]}"
                             if user else f"an SNMPv3 message from {who} without a user")
        return V3Message({str(o): v for o, v in
                          ((oid.prettyPrint(), value) for oid, value in varbinds)},
                         answer if inform else None, name, LEVELS[level], inform)

    def _learn(self, user: V3User, engine_id: bytes, who: str) -> None:
        if user.engine_ids is not None:
            if engine_id not in user.engine_ids:
                raise V3Refused(f"an SNMPv3 message from {who} for user {user.name!r} "
                                 f"from engine id 0x{engine_id.hex()}, not one of its "
                                 "engine_ids")
        elif user.auth is None:  # anyone may send as this user: the oldest gives way
            if len(self._unauthenticated) >= self.max_engines:
                name, oldest = next(iter(self._unauthenticated))
                self._forget(self.users[name], oldest)
        elif len(self._localised) - len(self._unauthenticated) \
                >= self.max_engines + len(self.users):
            raise V3Refused(f"an SNMPv3 message from {who} from a new engine id "
                             f"0x{engine_id.hex()}: {self.max_engines} already known")
        self._add(user, engine_id)

    def _forget(self, user: V3User, engine_id: bytes) -> None:
        config.delete_v3_user(self.engine, user.name, securityEngineId=engine_id)
        self._localised.discard((user.name, engine_id))
        self._unauthenticated.pop((user.name, engine_id), None)

    def _counters(self) -> dict[str, int]:
        builder = self.engine.get_mib_builder()
        return {name: int(builder.import_symbols("__SNMP-USER-BASED-SM-MIB", name)[0].syntax)
                for name in _REASONS}

    def _why(self) -> str:
        """Which of USM's counters grew since the last message that was not read (they
        grow only then, so a message that was read costs no look at them)."""
        before, after = self._seen, self._counters()
        self._seen = after
        reasons = [text for name, text in _REASONS.items() if after[name] > before[name]]
        return "; ".join(reasons) or "not a notification"


def _utf8(passphrase: str | None) -> bytes | None:
    return passphrase.encode("utf-8") if passphrase is not None else None


def _security_parameters(data: bytes, who: str) -> tuple[bytes, int, int, bytes]:
    """The slow way of ``v3_security_parameters``, through pyasn1, for what it is unsure
    of."""
    try:
        message, _ = decoder.decode(data, asn1Spec=SNMPv3Message())
        security, _ = decoder.decode(bytes(message.getComponentByPosition(2)),
                                     asn1Spec=UsmSecurityParameters())
        return (bytes(security.getComponentByPosition(0)),
                int(security.getComponentByPosition(1)),
                int(security.getComponentByPosition(2)),
                bytes(security.getComponentByPosition(3)))
    except Exception:  # noqa: BLE001 - pyasn1 raises many kinds on crafted BER
        raise ValueError(f"an SNMPv3 message from {who} that cannot be read") from None
