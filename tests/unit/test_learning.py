"""Templates, text embeddings, learned type relations and the model registry."""

from __future__ import annotations

import random

import pytest

from aiops.learning.embeddings import TemplateEmbedder
from aiops.learning.registry import ModelRegistry
from aiops.learning.relations import TypeRelations
from aiops.learning.templates import alert_text, template
from aiops.models import Alert
from topology.graph import TopologyGraph
from topology.model import Edge, Node


def test_templates_mask_variable_parts() -> None:
    a = template("Link down on port 1/1/7 of 10.2.3.4:161 (ifIndex 10107) mac 00:1b:44:11:3a:b7")
    b = template("Link down on port 2/0/1 of 10.9.8.7:161 (ifIndex 3) mac 00:1b:44:11:3a:c8")
    assert a == b == ("link down on port <num>/<num>/<num> of <ip> (ifindex <num>) mac <mac>")
    assert template("job 3f2a9c1e77 failed") == "job <hex> failed"
    assert alert_text("LINK_DOWN", "on ne-07") == "link down: on ne-<num>"
    assert alert_text("ALM_12", "x") != alert_text("ALM_13", "x")



def test_skipping_a_mask_the_text_cannot_match_changes_no_template() -> None:
    """``template`` skips a pattern when the text lacks its separators; every text
    must come out as running all patterns in turn would make it."""
    import re

    from aiops.learning import templates

    def every_pattern(text: str) -> str:
        out = text.lower()
        for pattern, mask, _, _ in templates._MASKS:
            out = pattern.sub(mask, out)
        return re.sub(r"\s+", " ", out).strip()

    rng = random.Random(7)
    pieces = ["0", "7", "12", "255", "a", "f", "3f2a9c1e", "-", ":", ".", "/", " ", "x",
              "ne", "ge", "00:1b:44:11:3a:b7", "00-1b-44-11-3a-b7", "10.2.3.4", "fe80::1",
              "123e4567-e89b-12d3-a456-426614174000", "2001:db8:0:0:8:800:200c:417a",
              "\u0661\u0662", "Ünï", "\t", "cart-7d9f8b6c4-x2k9p", "bcdfg", "22222", "x2k9p"]
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 12)))
             for _ in range(5000)]
    texts += ["ber_high on ne-08 ge-0/0/12", "ab:cd:ef", "1.2.3", "1.2.3.4", "a-b-c-d"]
    for text in texts:
        assert template.__wrapped__(text) == every_pattern(text), text


def test_a_storm_costs_one_embedding_and_similarity_means_something() -> None:
    embedder = TemplateEmbedder()
    storm = [alert_text("LINK_DOWN", f"Interface Gi0/{i} down on sw-{i}") for i in range(500)]
    embedder.prepare(storm)
    assert embedder.encoded == 1
    link = alert_text("LINK_DOWN", "interface down on sw-1")
    related = alert_text("PORT_FLAP", "interface flapping on sw-1")
    unrelated = alert_text("DISK_FULL", "filesystem /var is 98% full on db-3")
    assert embedder.similarity(link, related) > embedder.similarity(link, unrelated)
    assert embedder.similarity(link, link) == 1.0


def planted_history(seed: int = 1) -> tuple[list[Alert], TopologyGraph]:
    """POWER_FAIL on a device is followed within a minute by LINK_DOWN on a neighbour;
    NOISE happens anywhere at random."""
    rng = random.Random(seed)
    nodes = [Node(f"d{i}", "device", f"d{i}") for i in range(20)]
    edges = [Edge(f"d{i}", f"d{(i + 1) % 20}") for i in range(20)]
    topo = TopologyGraph(nodes, edges)
    alerts: list[Alert] = []
    t = 0.0
    for k in range(200):
        t += rng.uniform(600, 1200)
        d = rng.randrange(20)
        alerts.append(Alert(f"p{k}", "s", "POWER_FAIL", f"d{d}", "critical", "", t))
        alerts.append(Alert(f"l{k}", "s", "LINK_DOWN", f"d{(d + 1) % 20}", "major", "",
                            t + rng.uniform(1, 60)))
        alerts.append(Alert(f"n{k}", "s", "NOISE", f"d{rng.randrange(20)}", "info", "",
                            t + rng.uniform(0, 600)))
    return alerts, topo


def test_relations_find_the_planted_cause_and_not_the_noise() -> None:
    alerts, topo = planted_history()
    model = TypeRelations().fit(alerts, topo)
    assert model.strength("POWER_FAIL", "LINK_DOWN") > 0.9
    assert model.strength("LINK_DOWN", "POWER_FAIL") == 0.0
    assert [(e["cause"], e["effect"]) for e in model.edges()] == [("POWER_FAIL", "LINK_DOWN")]
    assert model.related("LINK_DOWN", "POWER_FAIL") > 0.0
    assert model.related("NOISE", "POWER_FAIL") == 0.0
    again = TypeRelations.from_dict(model.to_dict())
    assert again.edges() == model.edges() and again.cooccur_ == model.cooccur_


def test_registry_versions_and_promotion(tmp_path) -> None:
    registry = ModelRegistry(tmp_path / "models")
    assert registry.load("m") is None
    v1 = registry.save("m", {"x": 1}, {"alerts": 3})
    v2 = registry.save("m", {"x": 2}, {"alerts": 4})
    assert (v1, v2) == (1, 2) and registry.load("m") is None
    registry.promote("m", v1)
    assert registry.load("m")["model"] == {"x": 1}
    registry.promote("m", v2)
    assert registry.load("m")["model"] == {"x": 2} and registry.load("m", 1)["version"] == 1
    with pytest.raises(KeyError, match="no version 7"):
        registry.promote("m", 7)


def test_embedding_cache_survives_the_process(tmp_path) -> None:
    path = tmp_path / "cache" / "embeddings.npz"
    first = TemplateEmbedder(cache_file=path)
    first.prepare(["link down: on ne-<num>", "fan failure: tray <num>"])
    first.save()
    again = TemplateEmbedder(cache_file=path)
    again.prepare(["link down: on ne-<num>"])
    assert again.encoded == 0  # found on disk, the model was not asked
    assert again.similarity("link down: on ne-<num>", "fan failure: tray <num>") == \
        first.similarity("link down: on ne-<num>", "fan failure: tray <num>")
    path.write_bytes(b"not an npz file")
    assert TemplateEmbedder(cache_file=path).encoded == 0  # a damaged cache is ignored


def test_precedence_orders_types_and_names_the_root() -> None:
    from aiops.engine.rank import CausalTopologyRanker
    from aiops.engine.state import AlertRecord, IncidentRecord

    alerts, topo = planted_history()
    model = TypeRelations().fit(alerts, topo)
    first, seen = model.precedes("POWER_FAIL", "LINK_DOWN")
    assert seen >= 150 and first > 0.95
    assert model.precedes("LINK_DOWN", "POWER_FAIL")[0] < 0.05
    assert model.precedes("POWER_FAIL", "NEVER_SEEN") == (0.5, 0)
    again = TypeRelations.from_dict(model.to_dict())
    assert again.precedence_ == model.precedence_

    # LINK_DOWN is stamped first (a skewed clock) on two devices, POWER_FAIL later on
    # the device between them: learned precedence still names the power failure.
    incident = IncidentRecord(id="inc-1", seq=1, started_at=0.0, updated_at=0.0)
    for k, (name, node, t) in enumerate([("LINK_DOWN", "d4", 100.0),
                                         ("LINK_DOWN", "d6", 101.0),
                                         ("POWER_FAIL", "d5", 110.0)]):
        event = Alert(f"x{k}", "s", name, node, "major", "", t)
        incident.alerts[k] = AlertRecord(id=k, fingerprint=str(k), event=event, node_id=node,
                                         starts_at=t)
    ranked = CausalTopologyRanker(topo, relations=model).rank(incident)
    assert ranked[0].entity == "d5"
    assert any("started before LINK_DOWN nearby in" in line for line in ranked[0].evidence)
