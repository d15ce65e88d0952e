"""Resolution texts grouped into actions; the root alert type of a cascade."""

from __future__ import annotations

import numpy as np

from aiops.learning.actions import action_key, average_linkage, boilerplate, group_actions
from aiops.learning.embeddings import TemplateEmbedder
from aiops.learning.relations import TypeRelations
from aiops.tickets.root_type import CausalOrder


class FakeRelations:
    """POWER → LINK_DOWN → {BGP_DOWN, LOSS}: a chain, with the root's direct effects few."""

    EDGES = {("POWER", "LINK_DOWN"): 0.9, ("LINK_DOWN", "BGP_DOWN"): 0.8,
             ("LINK_DOWN", "LOSS"): 0.8, ("LINK_DOWN", "CRC"): 0.5}

    def strength(self, cause: str, effect: str) -> float:
        return self.EDGES.get((cause, effect), 0.0)

    def edges(self) -> list[dict]:
        return [{"cause": c, "effect": e, "weight": w} for (c, e), w in self.EDGES.items()]


def test_stock_phrases_are_dropped_from_the_key() -> None:
    texts = ["Replaced the PSU, verified with the customer", "Cleaned the fibre on ne-03. "
             "Monitored for 30 min, stable", "Reseated card 4, verified with the customer",
             "Rolled back the config. Monitored for 10 min, stable",
             "Swapped the fan. Verified with the customer", "Fixed the ACL. Monitored for "
             "5 min, stable", "Filters cleaned, temperature back to normal"]
    stock = boilerplate(texts)
    assert stock == {"verified with the customer", "monitored for min", "stable"}
    assert action_key(texts[0], stock) == "replaced the psu"
    assert action_key(texts[1], stock) == "cleaned the fibre"
    # A second clause that belongs to one action only is kept.
    assert action_key(texts[-1], stock) == "filters cleaned, temperature back to normal"


def test_average_linkage_cuts_at_the_threshold() -> None:
    sim = np.array([[1.0, 0.9, 0.2, 0.1], [0.9, 1.0, 0.3, 0.2], [0.2, 0.3, 1.0, 0.65],
                    [0.1, 0.2, 0.65, 1.0]])
    labels = average_linkage(sim, 0.6)
    assert labels[0] == labels[1] and labels[2] == labels[3] and labels[0] != labels[2]
    assert len(set(average_linkage(sim, 0.95))) == 4
    assert len(set(average_linkage(sim, 0.0))) == 1


def test_context_scales_text_similarity_both_ways() -> None:
    embedder = TemplateEmbedder()
    psu, swap = "Replaced the failed PSU", "Swapped the faulty power supply unit on ne-04"
    card, reseat = "Replaced the line card in slot 3", "Reseated the line card"
    qos, police = "Applied QoS policy to the backup job", "Policed the offending flow"
    texts = [psu] * 4 + [swap] * 4 + [card] * 4 + [reseat] * 4 + [qos] * 3 + [police] * 3
    contexts = ([{"POWER": 1.0}] * 8 + [{"CARD_FAIL": 1.0}] * 4 + [{"MODULE_DOWN": 1.0}] * 4
                + [{"CONGESTION": 1.0}] * 6)
    labels, names = group_actions(texts, contexts, embedder)
    by_text = dict(zip(texts, labels, strict=True))
    assert by_text[psu] == by_text[swap]  # alike text, same faults: one action
    assert by_text[card] != by_text[reseat]  # alike text (0.83), different faults: two
    # Same faults but nothing in common in the text (0.06): context alone never merges.
    assert by_text[qos] != by_text[police]
    assert len(names) == len(set(labels)) == 5 and names[by_text[psu]] == psu


def test_the_root_type_is_the_one_that_explains_the_cascade() -> None:
    order = CausalOrder(FakeRelations())
    present = {"POWER", "LINK_DOWN", "BGP_DOWN", "LOSS", "CRC"}
    # LINK_DOWN has more direct effects present, but POWER explains it and them.
    alerts = [("LINK_DOWN", 1.0), ("BGP_DOWN", 2.0), ("POWER", 3.0), ("LOSS", 4.0)]
    assert order.pick(alerts, present) == "POWER"
    assert CausalOrder(None).pick(alerts, present) == "LINK_DOWN"  # no model: earliest
    assert order.pick([], present) is None
    # A dead device raised nothing: its effects point at the type that caused them.
    silent = order.weights({"LINK_DOWN", "BGP_DOWN", "LOSS"}, "LINK_DOWN")
    assert abs(sum(silent.values()) - 1.0) < 1e-9
    ranked = sorted(silent, key=lambda t: -silent[t])
    assert ranked[:2] == ["LINK_DOWN", "POWER"] and silent["POWER"] > 0.05
    assert "CRC" not in ranked[:2]  # an effect explains nothing it did not cause


def test_with_learned_precedence_the_root_type_is_the_one_that_usually_starts_first() -> None:
    # The learned causal edges say LINK_DOWN causes BGP_DOWN and nothing causes
    # LINK_DOWN among these (POWER's edge to it was never learned), so the edge rule
    # names LINK_DOWN; precedence says POWER usually starts before both nearby.
    relations = TypeRelations()
    relations.edges_ = {("LINK_DOWN", "BGP_DOWN"): 0.8}
    alerts = [("LINK_DOWN", 1.0), ("POWER", 2.0), ("BGP_DOWN", 3.0)]
    present = {name for name, _ in alerts}
    assert CausalOrder(relations).pick(alerts, present) == "LINK_DOWN"
    relations.precedence_ = {("POWER", "LINK_DOWN"): 30, ("LINK_DOWN", "POWER"): 4,
                             ("POWER", "BGP_DOWN"): 25, ("BGP_DOWN", "POWER"): 2,
                             ("LINK_DOWN", "BGP_DOWN"): 40, ("BGP_DOWN", "LINK_DOWN"): 5}
    assert relations.rootness("POWER", present) > relations.rootness("LINK_DOWN", present)
    assert CausalOrder(relations).pick(alerts, present) == "POWER"
