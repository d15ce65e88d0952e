"""A static inventory kept by hand, in YAML or CSV.

YAML is the canonical topology document (docs/contracts.md §2) written in YAML,
with the identity fields allowed next to ``id`` for readability::

    nodes:
      - {id: core-1, kind: device, fqdn: core-1.dc1.example, mgmt_ip: 10.0.0.1,
         serial: FOC123, aliases: [c1]}
    edges:
      - {source: core-1, target: edge-1, kind: connected_to}

CSV is one row per node, with relations as ``;``-separated node ids in the columns
named after the edge kind (``connected_to``, ``depends_on``, ``runs_on``,
``part_of``); ``aliases`` and ``ips`` are ``;``-separated too, and any other column
becomes an attribute. Both are validated whole (duplicate ids, unknown ends) by the
same code as ``aiops topology import``, and errors name the file and line.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from aiops.errors import InputError
from topology.discovery.base import Discovered
from topology.graph import TopologyGraph
from topology.model import EDGE_KINDS, parse_topology

NAME = "inventory"
IDENTITY_FIELDS = ("hostname", "fqdn", "mgmt_ip", "ip", "serial", "aliases", "ips")
LIST_FIELDS = ("aliases", "ips")
NODE_COLUMNS = ("id", "kind", "name")


def _lift(raw: Any, where: str) -> Any:
    """Move identity fields written next to ``id`` into ``attrs``."""
    if not isinstance(raw, dict):
        return raw
    node = {k: v for k, v in raw.items() if k not in IDENTITY_FIELDS}
    attrs = dict(raw.get("attrs") or {}) if isinstance(raw.get("attrs") or {}, dict) else None
    if attrs is None:
        raise InputError(f"{where}: field 'attrs' must be a mapping", field="attrs")
    for key in IDENTITY_FIELDS:
        if key in raw:
            attrs[key] = raw[key]
    node["attrs"] = attrs
    return node


def _read_text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", where=str(path)) from None
    except UnicodeDecodeError:
        raise InputError("not valid UTF-8", where=str(path)) from None


def read_yaml_document(path: Path) -> Any:
    """A YAML file's content; errors name the file and line."""
    import yaml

    try:
        return yaml.safe_load(_read_text(path))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise InputError(f"malformed YAML: {getattr(exc, 'problem', None) or exc}",
                         where=where) from None


def read_yaml(path: Path) -> dict[str, Any]:
    doc = read_yaml_document(path)
    if not isinstance(doc, dict):
        raise InputError("expected a mapping with 'nodes' (and 'edges')", where=str(path))
    nodes = doc.get("nodes")
    if isinstance(nodes, list):
        doc = {**doc, "nodes": [_lift(n, f"nodes[{i}]") for i, n in enumerate(nodes)]}
    return doc


def _split(cell: str) -> list[str]:
    return [part.strip() for part in cell.split(";") if part.strip()]


def read_csv(path: Path) -> dict[str, Any]:
    rows = list(csv.DictReader(io.StringIO(_read_text(path), newline="")))
    if not rows:
        raise InputError("no rows; expected a header with 'id' and one row per node",
                         where=str(path))
    if "id" not in rows[0]:
        raise InputError("the header has no 'id' column", where=f"{path}:1")
    nodes: list[dict[str, Any]] = []
    edges: list[dict[str, Any]] = []
    for line, row in enumerate(rows, start=2):
        if None in row:
            raise InputError("more cells than header columns", where=f"{path}:{line}")
        node_id = (row.get("id") or "").strip()
        if not node_id:
            raise InputError("column 'id' is empty", field="id", where=f"{path}:{line}")
        attrs: dict[str, Any] = {}
        for column, cell in row.items():
            cell = (cell or "").strip()
            if column in NODE_COLUMNS or column in EDGE_KINDS or not cell:
                continue
            attrs[column] = _split(cell) if column in LIST_FIELDS else cell
        node: dict[str, Any] = {"id": node_id, "attrs": attrs}
        for column in ("kind", "name"):
            if (row.get(column) or "").strip():
                node[column] = row[column].strip()
        nodes.append(node)
        for kind in EDGE_KINDS:
            for target in _split(row.get(kind) or ""):
                edges.append({"source": node_id, "target": target, "kind": kind})
    return {"nodes": nodes, "edges": edges}


class InventoryConnector:
    """One inventory file; the format follows the extension (.yaml/.yml or .csv)."""

    name = NAME

    def __init__(self, path: str):
        self.path = Path(path)

    def collect(self, current: TopologyGraph | None = None) -> Discovered:
        suffix = self.path.suffix.lower()
        if suffix in (".yaml", ".yml"):
            doc = read_yaml(self.path)
        elif suffix == ".csv":
            doc = read_csv(self.path)
        else:
            raise InputError("unknown inventory format: use .yaml, .yml or .csv",
                             where=str(self.path))
        try:
            nodes, edges = parse_topology(doc)
        except InputError as exc:
            raise exc.located(str(self.path)) from None
        return Discovered(NAME, nodes, edges)
