"""Walking an SNMP subtree with pysnmp (SNMPv2c), as plain Python values.

pysnmp rather than Net-SNMP's ``snmpwalk``: the engine host needs no extra binary,
values arrive typed (a MAC chassis id is bytes, not a wrapped ``Hex-STRING`` line to
re-parse), timeouts and retries are parameters, and failures are exceptions rather
than text on stderr. The rest of discovery only sees ``(oid tuple, value)`` pairs,
so the LLDP-MIB reader is tested without any SNMP at all.
"""

from __future__ import annotations

import asyncio
from typing import Any

from topology.discovery.base import SourceUnreachable

SnmpValue = int | bytes | tuple[int, ...] | None
Varbind = tuple[tuple[int, ...], SnmpValue]
MAX_ROWS = 1_000_000  # a broken agent that never ends its subtree must not hang us


def _plain(value: Any) -> SnmpValue:
    """pysnmp value → int, bytes or OID tuple (None for noSuchObject and the like)."""
    from pysnmp.proto import rfc1902

    if isinstance(value, rfc1902.OctetString):
        return bytes(value.asOctets())
    if isinstance(value, rfc1902.ObjectIdentifier):
        return tuple(value)
    if isinstance(value, rfc1902.IpAddress):
        return bytes(value.asOctets())
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


async def _walk(host: str, port: int, community: str, roots: list[tuple[int, ...]],
                timeout: float, retries: int) -> list[Varbind]:
    from pysnmp.hlapi.v3arch.asyncio import (
        CommunityData,
        ContextData,
        ObjectIdentity,
        ObjectType,
        SnmpEngine,
        UdpTransportTarget,
        bulk_walk_cmd,
    )

    engine = SnmpEngine()
    try:
        target = await UdpTransportTarget.create((host, port), timeout=timeout,
                                                 retries=retries)
        rows: list[Varbind] = []
        for root in roots:
            walk = bulk_walk_cmd(engine, CommunityData(community, mpModel=1), target,
                                 ContextData(), 0, 25,
                                 ObjectType(ObjectIdentity(".".join(map(str, root)))),
                                 lexicographicMode=False)
            async for error, status, index, binds in walk:
                if error:
                    raise SourceUnreachable(f"snmp {host}:{port}: {error}")
                if status:
                    raise SourceUnreachable(f"snmp {host}:{port}: agent answered "
                                            f"{status.prettyPrint()} at {index}")
                for name, value in binds:
                    rows.append((tuple(name), _plain(value)))
                if len(rows) > MAX_ROWS:
                    raise SourceUnreachable(f"snmp {host}:{port}: more than {MAX_ROWS} rows")
        return rows
    except OSError as exc:
        raise SourceUnreachable(f"snmp {host}:{port}: {exc}") from None
    finally:
        engine.close_dispatcher()


def walk(host: str, roots: list[tuple[int, ...]], community: str = "public", port: int = 161,
         timeout: float = 2.0, retries: int = 1) -> list[Varbind]:
    """All varbinds under each of ``roots`` on ``host``; SourceUnreachable on failure."""
    return asyncio.run(_walk(host, port, community, roots, timeout, retries))
