"""Receiving SNMP traps and forwarding the alert events their rules make.

The same listener and forwarder as syslog (aiops/syslog_listener.py,
aiops/forwarder.py), on UDP only, to the engine's ``/api/v1/webhooks/snmptrap``.
"""

from __future__ import annotations

import logging
import time

from aiops.forwarder import Forwarder
from aiops.syslog_listener import ListenStats, pass_on
from connectors.snmp_traps import TrapRuleSet, decode_trap

log = logging.getLogger(__name__)


class TrapHandler:
    """Datagram in, event (if a rule says so) to the forwarder. ``communities``: the
    v1/v2c communities accepted (None: any; SNMPv1/v2c communities are sent in clear,
    so this filters mistakes, it does not authenticate)."""

    def __init__(self, rules: TrapRuleSet, forwarder: Forwarder,
                 communities: frozenset[str] | None = None):
        self.rules = rules
        self.forwarder = forwarder
        self.communities = communities
        self.stats = ListenStats()

    def handle(self, data: bytes, peer: str) -> bytes | None:
        """Never raises: one odd datagram must not stop the receiving loop. Returns an
        inform's acknowledgement for the receiver to send back (after the community
        check: an inform of another community is not acknowledged)."""
        try:
            trap = decode_trap(data, peer)
        except ValueError as exc:
            with self.stats.lock:
                self.stats.unreadable += 1
            log.debug("%s", exc)
            return None
        if self.communities is not None and trap.community not in self.communities:
            with self.stats.lock:
                self.stats.refused += 1
            return None
        pass_on(self.stats, self.forwarder, lambda: self.rules.event(trap, time.time()), peer)
        return trap.answer
