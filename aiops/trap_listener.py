"""Receiving SNMP traps and forwarding the alert events their rules make.

The same listener and forwarder as syslog (aiops/syslog_listener.py,
aiops/forwarder.py), on UDP only, to the engine's ``/api/v1/webhooks/snmptrap``.
"""

from __future__ import annotations

import logging
import time

from aiops.forwarder import Forwarder
from aiops.syslog_listener import ListenStats, pass_on
from aiops.warn_limit import WarnLimit
from connectors.snmp_traps import TrapRuleSet, decode_trap, is_snmpv3, v3_trap
from connectors.snmp_v3 import V3Receiver, V3Refused

log = logging.getLogger(__name__)


class TrapHandler:
    """Datagram in, event (if a rule says so) to the forwarder. ``communities``: the
    v1/v2c communities accepted (None: any; SNMPv1/v2c communities are sent in clear,
    so this filters mistakes, it does not authenticate). ``v3``: the SNMPv3 users'
    receiver (None: SNMPv3 datagrams are counted unreadable), which does authenticate."""

    def __init__(self, rules: TrapRuleSet, forwarder: Forwarder,
                 communities: frozenset[str] | None = None, v3: V3Receiver | None = None):
        self.rules = rules
        self.forwarder = forwarder
        self.communities = communities
        self.v3 = v3
        self.stats = ListenStats()
        self._warnings = WarnLimit()

    def handle(self, data: bytes, peer: str) -> bytes | None:
        """Never raises: one odd datagram must not stop the receiving loop. Returns an
        inform's acknowledgement (or an SNMPv3 engine-id Report) for the receiver to send
        back (after the community check: an inform of another community is not
        acknowledged)."""
        try:
            if self.v3 is not None and is_snmpv3(data):
                message = self.v3.receive(data, (peer, 0))
                if message.varbinds is None:  # a sender discovering our engine id
                    return message.answer
                trap = v3_trap(message, peer)
            else:
                trap = decode_trap(data, peer)
        except V3Refused as exc:
            with self.stats.lock:
                self.stats.v3_refused += 1
            # Said once an hour per sender and reason, never a flood (WarnLimit): a
            # device with a wrong passphrase sends every trap so.
            said = self._warnings.check(str(exc))
            if said is not None:
                log.warning("%s", said)
            return None
        except ValueError as exc:
            with self.stats.lock:
                self.stats.unreadable += 1
            log.debug("%s", exc)
            return None
        if trap.version != "3" and self.communities is not None \
                and trap.community not in self.communities:
            with self.stats.lock:
                self.stats.refused += 1
            return None
        pass_on(self.stats, self.forwarder, lambda: self.rules.event(trap, time.time()), peer)
        return trap.answer
