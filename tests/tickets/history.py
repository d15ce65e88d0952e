"""A small planted history for remediation tests: two kinds of fault, their tickets."""

from __future__ import annotations

import random
from typing import Any

T0 = 1_800_000_000
DEVICES = [f"ne-{i:02d}" for i in range(12)]
KINDS = {
    "power": ("POWER_FAIL", "LINK_DOWN", "Power failure at {d}", "failed power supply",
              ["Replaced the failed PSU", "Replaced the failed PSU on {d}",
               "replaced failed PSU 2"]),
    "fibre": ("LOS", "CRC_ERRORS", "Uplink flapping on {d}", "dirty fibre connector",
              ["Cleaned the fibre connectors", "Cleaned the fibre connectors on {d}",
               "cleaned fibre connectors, monitored 30 min"]),
}


def topology() -> dict[str, Any]:
    nodes = [{"id": d, "kind": "router", "attrs": {"role": "core"}} for d in DEVICES]
    edges = [{"source": DEVICES[i], "target": DEVICES[(i + 1) % 12]} for i in range(12)]
    return {"nodes": nodes, "edges": edges}


def fault(kind: str, n: int, at: float, device: str, prefix: str) -> list[dict[str, Any]]:
    """The root alarm on ``device`` and its effect on both neighbours, a few seconds later."""
    root, effect = KINDS[kind][0], KINDS[kind][1]
    i = DEVICES.index(device)
    out = [{"id": f"{prefix}{n}-0", "source": "nms", "name": root, "entity": device,
            "severity": "critical", "summary": f"{root.replace('_', ' ').lower()} on {device}",
            "starts_at": at, "ends_at": at + 600}]
    for k, other in enumerate((DEVICES[i - 1], DEVICES[(i + 1) % 12]), start=1):
        out.append({"id": f"{prefix}{n}-{k}", "source": "nms", "name": effect,
                    "entity": other, "severity": "major",
                    "summary": f"{effect.replace('_', ' ').lower()} towards {device}",
                    "starts_at": at + 5 + k, "ends_at": at + 600})
    return out


def history(faults: int = 24, seed: int = 3) -> tuple[list[dict], list[dict]]:
    """Alerts and resolved tickets: kinds alternate; one power ticket records a failed try."""
    rng = random.Random(seed)
    alerts, tickets = [], []
    for n in range(faults):
        kind = ("power", "fibre")[n % 2]
        device = rng.choice(DEVICES)
        at = T0 + n * 7200
        items = fault(kind, n, at, device, "h")
        alerts.extend(items)
        _, _, title, cause, wordings = KINDS[kind]
        ticket = {"id": f"INC{n:04d}", "opened_at": at + 300, "resolved_at": at + 3000,
                  "title": title.format(d=device), "entity": device, "root_cause": cause,
                  "resolution": rng.choice(wordings).format(d=device),
                  "labels": {"resolution_code": "Solved (Permanently)"}}
        if n % 3 == 0:
            ticket["alert_ids"] = [items[0]["id"]]
        tickets.append(ticket)
    tickets[0]["resolution"] = "Rebooted the router"
    tickets[0]["labels"]["resolution_code"] = "Not Solved (Not Reproducible)"
    return alerts, tickets
