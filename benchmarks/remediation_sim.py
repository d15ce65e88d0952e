"""Resolved tickets for the faults of a simulated scenario, with the true action held back.

Why simulate: no public data set pairs alarm logs with the tickets engineers wrote
about them. The simulation keeps what makes recommending hard:

* a *fault class* is the root alarm type and the role of the root device (core
  router, access switch, host, ...); each class has its own distribution over a
  few plausible actions (most likely ~0.6, then ~0.25, ~0.1, and a generic reboot),
  drawn from the class's category (power, optics, line card, software, config,
  congestion, cooling, carrier), so the same action is right for several classes
  and no class is always fixed the same way;
* titles, descriptions, root-cause notes and resolution texts are free text with
  paraphrases, device names and numbers, so equal actions are worded differently;
* some tickets name no entity, only about half list alert ids (tickets opened by
  hand carry none), and ~10 % record an attempt that did not work (close code
  "Not Solved"), which must not be recommended as if it had.

The canonical action of every ticket is kept aside (``truth``) to score against;
the model only ever sees the canonical ticket (CONTRACTS.md §5).
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from aiops.timeutil import to_rfc3339

# category → (symptom phrases, cause phrases, [(action id, paraphrases)])
CATALOGUE: dict[str, tuple[list[str], list[str], list[tuple[str, list[str]]]]] = {
    "power": (
        ["power failure", "device lost power", "PSU alarm", "power supply fault"],
        ["failed power supply unit", "tripped breaker in the rack", "faulty PDU outlet"],
        [("replace-psu", ["Replaced the failed PSU", "Swapped the faulty power supply unit",
                          "PSU {n} replaced with a spare", "New power supply fitted"]),
         ("reset-breaker", ["Reset the tripped breaker in rack {n}",
                            "Breaker reset by the site engineer", "Re-armed the rack breaker"]),
         ("move-pdu", ["Moved the power feed to another PDU outlet",
                       "Re-cabled power to PDU B", "Changed the PDU socket {n}"])]),
    "optics": (
        ["link down", "optical power low", "CRC errors on uplink", "interface flapping"],
        ["dirty fibre connector", "failing SFP transceiver", "damaged patch cable"],
        [("replace-sfp", ["Replaced the SFP on port {n}", "Swapped the optical transceiver",
                          "New SFP module inserted in slot {n}"]),
         ("clean-fibre", ["Cleaned the fibre connectors", "Fibre ends cleaned and re-seated",
                          "Cleaned optics on both ends"]),
         ("replace-patch", ["Replaced the patch cable", "Swapped the fibre patch lead",
                            "New patch cord between panel {n} and the switch"])]),
    "linecard": (
        ["line card failure", "module offline", "slot {n} not responding"],
        ["faulty line card", "card lost its backplane connection", "card firmware crash"],
        [("replace-card", ["Replaced the line card in slot {n}", "RMA'd and swapped the card",
                           "Faulty module replaced"]),
         ("reseat-card", ["Reseated the line card", "Pulled and re-inserted module {n}",
                          "Card reseated, came back online"]),
         ("card-firmware", ["Upgraded the line card firmware", "Card firmware updated to {n}.2",
                            "Applied firmware fix to the module"])]),
    "software": (
        ["process crashed", "control plane unresponsive", "high CPU", "memory leak"],
        ["software bug in the routing daemon", "memory leak in the agent", "hung process"],
        [("restart-process", ["Restarted the crashed process", "Process restarted by on-call",
                              "Restarted the daemon (pid {n})"]),
         ("upgrade-os", ["Upgraded the OS to the fixed release", "Applied patch {n} and rebooted",
                         "Software upgraded to the vendor's fixed version"]),
         ("clear-memory", ["Cleared the memory leak by restarting the agent",
                           "Freed memory, restarted the monitoring agent",
                           "Agent restarted to release memory"])]),
    "config": (
        ["routing issue", "traffic blackholed", "BGP session down", "VLAN mismatch"],
        ["bad configuration change", "wrong ACL entry", "mistyped VLAN id"],
        [("rollback-config", ["Rolled back the last configuration change",
                              "Reverted config to revision {n}", "Config rollback done"]),
         ("fix-acl", ["Corrected the ACL", "Removed the wrong ACL entry {n}",
                      "Fixed the access list"]),
         ("fix-vlan", ["Fixed the VLAN configuration", "Corrected VLAN id {n} on the trunk",
                       "VLAN mismatch corrected"])]),
    "congestion": (
        ["packet loss", "high latency", "link saturated", "queue drops"],
        ["traffic surge on the uplink", "backup job saturating the link",
         "misrouted bulk traffic"],
        [("reroute", ["Rerouted traffic to the backup path", "Shifted load to link {n}",
                      "Traffic engineering change to move load"]),
         ("add-capacity", ["Added capacity to the uplink", "Upgraded the link to {n}G",
                           "Added a member link to the bundle"]),
         ("rate-limit", ["Rate-limited the bulk traffic", "Applied QoS policy to the backup job",
                         "Policed the offending flow"])]),
    "cooling": (
        ["temperature alarm", "fan failure", "overheating"],
        ["failed fan tray", "blocked air filters", "room cooling failure"],
        [("replace-fan", ["Replaced the fan tray", "Fan module {n} swapped",
                          "New fan tray installed"]),
         ("clean-filters", ["Cleaned the air filters", "Dust filters replaced",
                            "Filters cleaned, temperature back to normal"]),
         ("fix-cooling", ["Facilities fixed the room cooling", "CRAC unit {n} repaired",
                          "Air conditioning restored in the room"])]),
    "carrier": (
        ["WAN circuit down", "provider outage", "remote site unreachable"],
        ["carrier fibre cut", "provider maintenance overran", "circuit fault at the carrier"],
        [("carrier-repair", ["Carrier repaired the circuit", "Provider fixed the fibre cut",
                             "Circuit restored by the carrier (ref {n})"]),
         ("failover", ["Failed over to the backup circuit", "Switched the site to LTE backup",
                       "Traffic moved to the secondary WAN link"]),
         ("escalate-carrier", ["Escalated to the carrier, they reset their equipment",
                               "Carrier reset the NTU", "Provider power-cycled the CPE"])]),
}
GENERIC = ("reboot", ["Rebooted the device", "Power-cycled the box", "Reload fixed it"])
CLASS_WEIGHTS = (0.6, 0.25, 0.1, 0.05)  # the class's actions in its own order, then reboot
TITLES = ("{symptom} at {entity}", "{entity}: {symptom}", "Multiple alarms on {entity}",
          "{Symptom} reported for {entity}", "Users report outage near {entity}")
GENERIC_SYMPTOMS = ("service degradation", "alarm storm", "network problem")
FAILED_CODE = "Not Solved (Not Reproducible)"


@dataclass(frozen=True)
class TicketSimConfig:
    p_ticket: float = 0.9  # faults that get a ticket at all
    p_alert_ids: float = 0.5  # tickets that list the fault's alert ids
    p_entity: float = 0.9  # tickets that name the root device
    p_root_cause: float = 0.7  # tickets with a root-cause note
    p_failed: float = 0.1  # tickets recording an action that did not work
    p_category_symptom: float = 0.7  # titles that name the kind of problem


@dataclass
class SimulatedTickets:
    """Canonical ticket dicts, and what is held back for scoring."""

    tickets: list[dict[str, Any]] = field(default_factory=list)
    action_of: dict[str, str] = field(default_factory=dict)  # ticket id → canonical action
    worked: dict[str, bool] = field(default_factory=dict)
    group_of: dict[str, str] = field(default_factory=dict)  # ticket id → fault group
    fault_class: dict[str, tuple[str, str]] = field(default_factory=dict)  # group → class


class TicketSimulator:
    """Deterministic per seed: the class → category and class → actions maps are fixed
    by the seed, so history and eval periods share them."""

    def __init__(self, seed: int, config: TicketSimConfig | None = None):
        self.seed = seed
        self.config = config or TicketSimConfig()
        self.categories = sorted(CATALOGUE)
        self._class_actions: dict[tuple[str, str], list[str]] = {}

    def category(self, root_type: str) -> str:
        return random.Random(f"cat-{self.seed}-{root_type}").choice(self.categories)

    def class_actions(self, root_type: str, role: str) -> list[str]:
        """The class's actions, most likely first (then the generic reboot)."""
        key = (root_type, role)
        if key not in self._class_actions:
            rng = random.Random(f"class-{self.seed}-{root_type}-{role}")
            ids = [a for a, _ in CATALOGUE[self.category(root_type)][2]]
            rng.shuffle(ids)
            self._class_actions[key] = [*ids, GENERIC[0]]
        return self._class_actions[key]

    def simulate(self, period: Any, roles: dict[str, str], prefix: str) -> SimulatedTickets:
        """Tickets for the faults of a scenario period (``benchmarks.correlation.scenario``)."""
        rng = random.Random(f"tickets-{self.seed}-{prefix}")
        cfg = self.config
        members: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for alert in period.alerts:
            members[period.alert_group[alert["id"]]].append(alert)
        out = SimulatedTickets()
        faults = sorted((g, info) for g, info in period.groups.items() if info["kind"] == "fault")
        for n, (group, info) in enumerate(faults):
            if rng.random() >= cfg.p_ticket or not members[group]:
                continue
            role = roles.get(info["root_entity"], "device")
            ticket_id = f"{prefix}{n + 1:05d}"
            action, worked = self._action(rng, info["root_type"], role)
            out.tickets.append(self._ticket(rng, ticket_id, info, members[group], action,
                                            worked))
            out.action_of[ticket_id] = action
            out.worked[ticket_id] = worked
            out.group_of[ticket_id] = group
            out.fault_class[group] = (info["root_type"], role)
        return out

    def _action(self, rng: random.Random, root_type: str, role: str) -> tuple[str, bool]:
        actions = self.class_actions(root_type, role)
        if rng.random() < self.config.p_failed:
            # A wrong attempt: anything but the class's most likely fix, recorded as failed.
            return rng.choice(actions[1:]), False
        return rng.choices(actions, weights=CLASS_WEIGHTS)[0], True

    def _ticket(self, rng: random.Random, ticket_id: str, info: dict[str, Any],
                alerts: list[dict[str, Any]], action: str, worked: bool) -> dict[str, Any]:
        cfg = self.config
        symptoms, causes, _ = CATALOGUE[self.category(info["root_type"])]
        entity = info["root_entity"]
        first = min(a["starts_at"] for a in alerts)
        opened = max(info["onset"], first) + rng.uniform(120, 1200)
        last_end = max((a["ends_at"] or a["starts_at"]) for a in alerts)
        symptom = _fill(rng, rng.choice(symptoms)) if rng.random() < cfg.p_category_symptom \
            else rng.choice(GENERIC_SYMPTOMS)
        title = rng.choice(TITLES).format(symptom=symptom, Symptom=symptom.capitalize(),
                                          entity=entity)
        types = sorted({a["name"] for a in alerts})
        impact = rng.choice(["Customer impact confirmed.", "No customer impact yet.", ""])
        description = f"NOC saw {len(alerts)} alarms ({', '.join(types[:4])}). {impact}".strip()
        ticket: dict[str, Any] = {
            "id": ticket_id, "opened_at": to_rfc3339(opened),
            "resolved_at": to_rfc3339(max(opened + 300, last_end)),
            "title": title, "description": description,
            "resolution": self._wording(rng, action, entity),
            "labels": {"category": "network", "resolution_code":
                       "Solved (Permanently)" if worked else FAILED_CODE},
        }
        if rng.random() < cfg.p_entity:
            ticket["entity"] = entity
        if rng.random() < cfg.p_root_cause:
            ticket["root_cause"] = _fill(rng, rng.choice(causes)).capitalize()
        if rng.random() < cfg.p_alert_ids:
            ticket["alert_ids"] = [a["id"] for a in sorted(alerts, key=lambda a: a["starts_at"])
                                   ][:rng.randint(1, 5)]
        return ticket

    def _wording(self, rng: random.Random, action: str, entity: str) -> str:
        variants = GENERIC[1] if action == GENERIC[0] else next(
            v for c in CATALOGUE.values() for a, v in c[2] if a == action)
        text = _fill(rng, rng.choice(variants))
        tail = rng.choice(["", f" on {entity}", ". Monitored for {n} min, stable",
                           ", verified with the customer", f" ({entity})"])
        return text + _fill(rng, tail)


def _fill(rng: random.Random, text: str) -> str:
    return text.replace("{n}", str(rng.randint(1, 48)))
