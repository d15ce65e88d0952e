"""NetBox power cabling: what each device draws its power from.

A connected cable from a device's power port to a power outlet makes the device
``depends_on`` the outlet's device (a PDU); one to a power feed makes it ``depends_on``
the feed, and the feed ``depends_on`` its power panel. Why: a PDU or a feed that trips
takes every device on it down at once and reports nothing itself (what watches a PDU
goes down with it). As what those devices depend on, they are siblings for grouping
(``TopologyGraph.reach``: one hop apart, however they are cabled for data), and the PDU
is a silent candidate whose dependents alarm (the ranker's dependency share). A device
with two power supplies on two PDUs depends on both: a dependency is a path a failure
can take, not a promise that it takes down what depends on it.

The shapes are NetBox's documented ones: a cable's terminations carry ``object_type``
``dcim.powerport``, ``dcim.poweroutlet`` or ``dcim.powerfeed`` and the brief object,
whose ``device`` names the device of a port or an outlet; a feed's brief object has no
panel, so ``/api/dcim/power-feeds/`` is read once, and only when a cable ends at a feed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from topology.discovery.base import GraphBuilder
from topology.discovery.http import HttpRefused
from topology.discovery.netbox_refs import ref_id, ref_name

POWER_PORT, POWER_OUTLET, POWER_FEED = "dcim.powerport", "dcim.poweroutlet", "dcim.powerfeed"
POWER_TYPES = frozenset({POWER_PORT, POWER_OUTLET, POWER_FEED})


def is_power_cable(ends: list[dict[str, Any]]) -> bool:
    """Whether any termination of a cable is a power port, outlet or feed."""
    return any(end.get("object_type") in POWER_TYPES for end in ends)


class PowerCabling:
    """Adds the power dependencies of a NetBox inventory's cables to a graph.

    ``list_feeds`` reads ``/api/dcim/power-feeds/`` (all pages); it is called at most
    once, the first time a cable ends at a feed.
    """

    def __init__(self, builder: GraphBuilder, device_ids: dict[int, str],
                 list_feeds: Callable[[], list[dict[str, Any]]]):
        self.builder = builder
        self.device_ids = device_ids
        self._list_feeds = list_feeds
        self._feeds: dict[int, dict[str, Any]] | None = None

    def cable(self, cable: dict[str, Any], a_ends: list[dict[str, Any]],
              b_ends: list[dict[str, Any]]) -> None:
        """The dependencies one connected power cable gives, or a warning saying why
        it gives none."""
        label = f"cable #{cable['id']}"
        ports = [e for e in (*a_ends, *b_ends) if e.get("object_type") == POWER_PORT]
        sources = [e for e in (*a_ends, *b_ends) if e.get("object_type") != POWER_PORT]
        if (len(ports) != 1 or len(sources) != 1 or len(a_ends) != 1 or len(b_ends) != 1
                or sources[0].get("object_type") not in (POWER_OUTLET, POWER_FEED)):
            self.builder.warnings.append(
                f"{label} skipped: not between a power port and an outlet or a feed")
            return
        device = self._device_of(ports[0])
        source = self._source(sources[0])
        if device is None or source is None:
            self.builder.warnings.append(f"{label} skipped: an end names no known device "
                                         "or feed")
            return
        self.builder.edge(device, source, "depends_on", netbox_cable=cable["id"],
                          via="power")

    def _device_of(self, end: dict[str, Any]) -> str | None:
        obj = end.get("object")
        device = ref_id(obj.get("device")) if isinstance(obj, dict) else None
        return None if device is None else self.device_ids.get(device)

    def _source(self, end: dict[str, Any]) -> str | None:
        if end.get("object_type") == POWER_OUTLET:
            return self._device_of(end)
        feed_id = end.get("object_id")
        if not isinstance(feed_id, int):
            feed_id = ref_id(end.get("object"))
        if feed_id is None:
            return None
        feed = self.feeds().get(feed_id) or end.get("object") or {}
        node_id = f"power-feed/{feed_id}"
        panel = feed.get("power_panel") if isinstance(feed, dict) else None
        panel_id, panel_name = ref_id(panel), ref_name(panel)
        feed_name = ref_name(feed) or str(feed_id)
        self.builder.node(node_id, "power_feed",
                          f"{panel_name} {feed_name}" if panel_name else feed_name,
                          netbox_id=feed_id, panel=panel_name)
        if panel_id is not None:
            panel_node = f"power-panel/{panel_id}"
            self.builder.node(panel_node, "power_panel", panel_name or str(panel_id),
                              netbox_id=panel_id)
            self.builder.edge(node_id, panel_node, "depends_on", via="power")
        return node_id

    def feeds(self) -> dict[int, dict[str, Any]]:
        """The power feeds by id, read once; a token that may not read them leaves the
        feeds without their panels, said in a warning."""
        if self._feeds is None:
            try:
                listed = self._list_feeds()
            except HttpRefused as exc:
                if exc.status not in (401, 403):
                    raise
                self.builder.warnings.append(
                    f"{exc}: power feeds are stored without their power panels")
                listed = []
            self._feeds = {fid: f for f in listed if (fid := ref_id(f)) is not None}
        return self._feeds
