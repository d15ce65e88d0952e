"""Reading lldpd's ``lldpcli -f json`` (and ``-f json0``) output.

lldpcli's ``json`` format folds one-element lists into objects: one neighbour gives
``"interface": {"eth0": {...}}``, two give ``"interface": [{"eth0": {...}}, ...]``;
a chassis with a system name is keyed by it, one without is not; one management
address is a string, two are a list. ``json0`` keeps everything as lists of
``{"value": ...}``. Both are accepted, checked against real lldpd 1.0.16 output.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

from aiops.errors import InputError
from topology.discovery.base import SourceUnreachable
from topology.discovery.lldp_model import Chassis, DeviceView, Neighbour, Port


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _scalar(value: Any) -> str | None:
    """A json0 ``[{"value": x}]`` or a plain ``x``, as text."""
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, dict):
        value = value.get("value")
    return None if value in (None, "") else str(value)


def _chassis_json(raw: Any, where: str) -> Chassis:
    if not isinstance(raw, dict):
        raise InputError(f"{where}: 'chassis' must be an object")
    if isinstance(raw.get("id"), dict) and "type" in raw["id"]:
        name, body = None, raw  # no system name: the chassis is not keyed by one
    elif len(raw) == 1:
        name, body = next(iter(raw.items()))
    else:
        raise InputError(f"{where}: cannot read the chassis (keys {sorted(raw)})")
    if not isinstance(body, dict):
        raise InputError(f"{where}: chassis '{name}' must be an object")
    chassis_id = body.get("id") if isinstance(body.get("id"), dict) else {}
    return Chassis(sysname=name, chassis_id=_scalar(chassis_id.get("value")),
                   mgmt_ips=[str(ip) for ip in _list(body.get("mgmt-ip"))],
                   descr=_scalar(body.get("descr")))


def _chassis_json0(raw: Any, where: str) -> Chassis:
    body = _list(raw)[0] if _list(raw) else None
    if not isinstance(body, dict):
        raise InputError(f"{where}: 'chassis' must be a list of objects")
    ids = _list(body.get("id"))
    chassis_id = _scalar(ids[0].get("value")) if ids and isinstance(ids[0], dict) else None
    return Chassis(sysname=_scalar(body.get("name")), chassis_id=chassis_id,
                   mgmt_ips=[str(_scalar(ip)) for ip in _list(body.get("mgmt-ip"))
                             if _scalar(ip)],
                   descr=_scalar(body.get("descr")))


def _port(raw: Any, where: str) -> Port:
    body = _list(raw)[0] if isinstance(raw, list) and raw else raw
    if not isinstance(body, dict):
        raise InputError(f"{where}: 'port' must be an object")
    ident = _list(body.get("id"))
    first = ident[0] if ident and isinstance(ident[0], dict) else {}
    return Port(id_type=_scalar(first.get("type")), id_value=_scalar(first.get("value")),
                descr=_scalar(body.get("descr")))


def _interfaces(lldp: Any, where: str) -> list[tuple[str, dict[str, Any], bool]]:
    """(local port, neighbour object, is_json0) for every neighbour entry."""
    out: list[tuple[str, dict[str, Any], bool]] = []
    for block in _list(lldp):  # json0: a list of blocks; json: one object
        if not isinstance(block, dict):
            raise InputError(f"{where}: 'lldp' must be an object")
        for entry in _list(block.get("interface")):
            if not isinstance(entry, dict):
                raise InputError(f"{where}: 'interface' entries must be objects")
            if "name" in entry and "chassis" in entry:  # json0
                out.append((str(_scalar(entry["name"])), entry, True))
                continue
            for port, body in entry.items():  # json: {"eth0": {...}}
                if not isinstance(body, dict):
                    raise InputError(f"{where}: interface '{port}' must be an object")
                out.append((str(port), body, False))
    return out


def parse_neighbors(doc: Any, where: str) -> list[Neighbour]:
    """Neighbours in ``lldpcli -f json|json0 show neighbors [details]`` output."""
    if not isinstance(doc, dict) or "lldp" not in doc:
        raise InputError(f"{where}: not lldpcli JSON output (no 'lldp' object)")
    neighbours = []
    for port, body, json0 in _interfaces(doc["lldp"], where):
        here = f"{where}: interface {port}"
        if "chassis" not in body or "port" not in body:
            raise InputError(f"{here}: needs 'chassis' and 'port'")
        chassis = (_chassis_json0 if json0 else _chassis_json)(body["chassis"], here)
        neighbours.append(Neighbour(port, chassis, _port(body["port"], here)))
    return neighbours


def parse_local_chassis(doc: Any, where: str) -> Chassis:
    """The local system in ``lldpcli -f json show chassis`` output."""
    block = doc.get("local-chassis") if isinstance(doc, dict) else None
    block = _list(block)[0] if isinstance(block, list) and block else block
    if not isinstance(block, dict) or "chassis" not in block:
        raise InputError(f"{where}: not 'lldpcli show chassis' JSON (no 'local-chassis')")
    raw = block["chassis"]
    if isinstance(raw, list):
        return _chassis_json0(raw, where)
    return _chassis_json(raw, where)


def run_lldpcli(args: list[str], lldpcli: str, socket: str | None, timeout: float) -> Any:
    """Run lldpcli against the local lldpd and decode its JSON answer."""
    command = [lldpcli, *(["-u", socket] if socket else []), "-f", "json", *args]
    where = " ".join(command)
    try:
        done = subprocess.run(command, capture_output=True, timeout=timeout, check=False)
    except FileNotFoundError:
        raise SourceUnreachable(f"lldp: {lldpcli} not found (install lldpd)") from None
    except subprocess.TimeoutExpired:
        raise SourceUnreachable(f"lldp: '{where}' did not finish within {timeout:g} s") from None
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip().splitlines()
        raise SourceUnreachable(f"lldp: '{where}' failed: {message[-1] if message else ''}")
    try:
        return json.loads(done.stdout)
    except ValueError as exc:
        raise InputError(f"lldp: '{where}' printed invalid JSON: {exc}") from None


def local_view(lldpcli: str = "lldpcli", socket: str | None = None,
               timeout: float = 10.0) -> DeviceView:
    """This host's LLDP view, read from the local lldpd."""
    where = "lldpcli"
    chassis = parse_local_chassis(run_lldpcli(["show", "chassis"], lldpcli, socket, timeout),
                                  where)
    neighbours = parse_neighbors(
        run_lldpcli(["show", "neighbors", "details"], lldpcli, socket, timeout), where)
    return DeviceView(chassis, neighbours)
