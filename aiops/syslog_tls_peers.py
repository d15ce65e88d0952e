"""Which client certificate may send syslog over TLS, and for which hosts.

Why: a CA signs certificates for many devices, and RFC 5425 §5.2 has the receiver
authorise a sender by the names its certificate holds, not only by its issuer
(rsyslog's ``PermittedPeer`` with ``x509/name``). So ``--tls-permitted-peer`` patterns
are matched against a certificate's names, and with ``--tls-bind-hostname`` a message
is kept only when the host it names is one of its certificate's names: one device's
certificate cannot raise alarms for another device. A relay (an rsyslog forwarding
many hosts) matches ``--tls-relay-peer`` and may send for any host.

A certificate's names are its subjectAltName DNS names or, when it has none, its
subject common names (RFC 5425 §5.2, RFC 6125 §6.4.4 order). Names and patterns are
compared without case and without a trailing dot; ``*`` as a pattern's whole left-most
label stands for exactly one label.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Sequence
from typing import Any

from aiops.errors import InputError
from aiops.warn_limit import WarnLimit
from connectors.syslog import sender_address

log = logging.getLogger("aiops.syslog_listener")

_LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?$")


class NotPermitted(Exception):
    """The certificate's names match no permitted pattern; the text says which names."""


def certificate_names(certificate: dict[str, Any]) -> tuple[str, ...]:
    """The DNS names a certificate (``SSLSocket.getpeercert()``) stands for: its
    subjectAltName DNS entries, else its subject common names."""
    dns = tuple(str(value) for kind, value in certificate.get("subjectAltName", ())
                if kind == "DNS")
    if dns:
        return dns
    return tuple(str(value) for rdn in certificate.get("subject", ())
                 for name, value in rdn if name == "commonName")


def certificate_addresses(certificate: dict[str, Any]) -> frozenset[str]:
    """The subjectAltName IP addresses, written as ``ipaddress`` writes them."""
    out = set()
    for kind, value in certificate.get("subjectAltName", ()):
        if kind == "IP Address":
            try:
                out.add(str(ipaddress.ip_address(str(value).strip())))
            except ValueError:
                continue
    return frozenset(out)


def _plain(name: str) -> str:
    return name.strip().lower().rstrip(".")


def checked_pattern(pattern: str, option: str) -> str:
    """The pattern as matched (lower case), or ``InputError`` naming ``option``: a
    pattern is a DNS name whose left-most label may be ``*``."""
    plain = _plain(pattern)
    labels = plain.split(".")
    if labels[0] == "*":
        labels = labels[1:]
        if not labels:
            raise InputError(f"{option} {pattern!r}: a wildcard needs a domain after it "
                             "(*.example.net)")
    if not all(_LABEL.match(label) for label in labels):
        raise InputError(f"{option} {pattern!r}: not a DNS name ('*' may only be the "
                         "whole left-most label, as in *.example.net)")
    return plain


def matches(pattern: str, name: str) -> bool:
    """``pattern`` (from ``checked_pattern``) matches the certificate name ``name``."""
    name = _plain(name)
    if pattern.startswith("*."):
        first, _, rest = name.partition(".")
        return bool(first) and rest == pattern[2:]
    return name == pattern


class PeerPolicy:
    """``--tls-permitted-peer``, ``--tls-relay-peer`` and ``--tls-bind-hostname``:
    ``admit`` judges a certificate once per connection, after its handshake."""

    def __init__(self, permitted: Sequence[str] = (), relays: Sequence[str] = (),
                 bind_hostname: bool = False):
        self.permitted = [checked_pattern(p, "--tls-permitted-peer") for p in permitted]
        self.relays = [checked_pattern(p, "--tls-relay-peer") for p in relays]
        self.bind_hostname = bind_hostname
        self.warnings = WarnLimit()  # once an hour per certificate and host, at most 30/min

    def admit(self, certificate: dict[str, Any], peer: str) -> HostBinding | None:
        """The hosts this connection may send for (None: any), or ``NotPermitted``."""
        names = certificate_names(certificate)
        relay = any(matches(p, n) for p in self.relays for n in names)
        if self.permitted and not relay and not any(
                matches(p, n) for p in self.permitted for n in names):
            raise NotPermitted(f"its certificate names {_listed(names)}, which no "
                               "--tls-permitted-peer matches")
        if not self.bind_hostname or relay:
            return None
        return HostBinding(names, certificate_addresses(certificate), peer, self.warnings)


class HostBinding:
    """The hosts one connection's certificate may send for: each of its names, the
    first label of each (a device that names itself by its short host name), what a
    ``*.`` name covers, its IP addresses, and the connection's own address (the host
    of a message that names none)."""

    def __init__(self, names: Sequence[str], addresses: frozenset[str], peer: str,
                 warnings: WarnLimit):
        plain = [_plain(n) for n in names]
        self.names = tuple(names)
        self._exact = {n for n in plain if not n.startswith("*.")}
        self._short = {n.partition(".")[0] for n in self._exact}
        self._domains = {n[2:] for n in plain if n.startswith("*.")}
        self._addresses = addresses | {_address(sender_address(peer)) or peer}
        self._peer = peer
        self._warnings = warnings

    def allows(self, host: str) -> bool:
        plain = _plain(host)
        if plain in self._exact:
            return True
        first, dot, rest = plain.partition(".")
        if not dot:
            if first in self._short:
                return True
        elif rest in self._domains and first:
            return True
        return _address(plain) in self._addresses

    def dropped(self, host: str) -> None:
        """Log a dropped message, once an hour per certificate and host."""
        said = self._warnings.check(
            f"dropped syslog for host {host!r} sent with a certificate naming "
            f"{_listed(self.names)}, which does not name that host (--tls-bind-hostname)")
        if said is not None:
            log.warning("%s; from %s", said, self._peer)


def _address(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def _listed(names: Sequence[str]) -> str:
    return ", ".join(repr(n) for n in names) if names else "no name"
