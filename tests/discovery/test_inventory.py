"""Static inventory files in YAML and CSV."""

from __future__ import annotations

from pathlib import Path

import pytest

from aiops.errors import InputError
from topology.discovery.inventory import InventoryConnector
from topology.discovery.sync import sync

YAML = """
nodes:
  - {id: core-1, kind: device, fqdn: core-1.dc1.example, mgmt_ip: 10.0.0.1,
     serial: FOC1, aliases: [c1]}
  - {id: edge-1, mgmt_ip: 10.0.0.2, attrs: {site: dc1}}
  - {id: app, kind: service}
edges:
  - {source: core-1, target: edge-1}
  - {source: app, target: edge-1, kind: depends_on}
"""

CSV = """id,kind,name,mgmt_ip,serial,aliases,site,connected_to,depends_on
core-1,device,,10.0.0.1,FOC1,c1;core1,dc1,edge-1;edge-2,
edge-1,device,Edge 1,10.0.0.2,,,dc1,core-1,
edge-2,device,,,,,dc1,,
app,service,,,,,,,edge-1;edge-2
"""


def _check(store) -> None:
    g = store.load()
    assert g.nodes["core-1"].attrs["mgmt_ip"] == "10.0.0.1"
    assert g.nodes["core-1"].attrs["serial"] == "FOC1"
    assert g.resolve("c1") == "core-1" and g.resolve("10.0.0.2") == "edge-1"
    assert g.neighbours("core-1") >= {"edge-1"}
    assert g.dependencies.has_edge("app", "edge-1")


def test_yaml(tmp_path: Path, store) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_text(YAML)
    sync(InventoryConnector(str(path)), store)
    _check(store)
    assert store.load().nodes["edge-1"].attrs["site"] == "dc1"


def test_csv(tmp_path: Path, store) -> None:
    path = tmp_path / "inventory.csv"
    path.write_text(CSV)
    sync(InventoryConnector(str(path)), store)
    _check(store)
    g = store.load()
    assert g.nodes["edge-1"].name == "Edge 1" and g.nodes["core-1"].attrs["aliases"] == [
        "c1", "core1"]
    assert store.counts()[1] == 4  # core-1/edge-1 listed on both rows is one edge


@pytest.mark.parametrize(("name", "content", "message"), [
    ("a.yaml", "nodes: [ {id: a", r"a.yaml:1: malformed YAML"),
    ("a.yaml", "- just a list", "expected a mapping with 'nodes'"),
    ("a.yaml", "nodes:\n  - {id: a}\n  - {id: a}\n", "duplicate node ids: 'a'"),
    ("a.yaml", "nodes:\n  - {id: a}\nedges:\n  - {source: a, target: zz}\n",
     "edges refer to unknown nodes"),
    ("a.csv", "name,kind\nx,device\n", r"a.csv:1: the header has no 'id' column"),
    ("a.csv", "id,kind\nx,device\n,device\n", r"a.csv:3: column 'id' is empty"),
    ("a.csv", "id,kind\nx,device,extra\n", r"a.csv:2: more cells than header columns"),
    ("a.txt", "id\nx\n", "unknown inventory format"),
])
def test_bad_files_name_file_and_line(tmp_path: Path, name: str, content: str,
                                      message: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(InputError, match=message):
        InventoryConnector(str(path)).collect()
