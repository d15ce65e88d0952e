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
from typing import Any

from pyasn1.codec.ber import decoder
from pysnmp.carrier.asyncio.dgram import udp
from pysnmp.entity import config, engine
from pysnmp.entity.rfc3413 import ntfrcv
from pysnmp.proto.mpmod.rfc3412 import SNMPv3Message
from pysnmp.proto.secmod.rfc3414.service import UsmSecurityParameters

from connectors.snmp_ber import v3_overruns, v3_security_parameters
from connectors.snmp_v3_users import AUTH, PRIV, V3Settings, V3User, read_v3_users

# The users file is read by connectors/snmp_v3_users.py; its names stay importable here.
__all__ = ["AUTH", "PRIV", "MAX_ENGINES", "V3Message", "V3Receiver", "V3Refused",
           "V3Settings", "V3User", "read_v3_users"]

MAX_ENGINES = 4096
WINDOW = 150  # seconds: RFC 3414 §2.2.3's time window
MAX_BOOTS = 2147483647  # an engine at its last boot count (RFC 3414 §2.2.2)

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
class V3Message:
    """What one datagram gave: the notification's variables (None when it was a
    discovery probe or was refused), what to send back, and who sent it."""
    varbinds: dict[str, Any] | None
    answer: bytes | None
    user: str
    level: str
    inform: bool


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
            if not user.localized:  # (keys given localised serve their device only)
                self._add(user, self.engine_id)

    def _add(self, user: V3User, engine_id: bytes) -> None:
        config.add_v3_user(
            self.engine, user.name,
            AUTH[user.auth] if user.auth else config.USM_AUTH_NONE,
            privProtocol=PRIV[user.priv] if user.priv else config.USM_PRIV_NONE,
            securityEngineId=engine_id, **user.secrets())
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
        if user is not None and user.localized and engine_id == self.engine_id:
            raise V3Refused(f"an SNMPv3 inform from {who} for user {user_name!r}, whose keys "
                            "are given localised to its device's engine id: informs are "
                            "keyed to ours (give the user's master key or passphrase)")
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
