"""Why an alert is in its incident: the placement record kept with each alert.

Root causes carry readable evidence; grouping did not. An operator who sees a wrong
grouping could not tell which member an alert linked through, how close it was in
time and hops, what text similarity counted, what the runner-up was, or that a
hindsight split, an absorb or another operator moved it later, and so could not give
good feedback. So at placement the engine keeps one small JSON record per alert
(``alerts.placement``, migration 0026) and later moves append a short entry to it.

The record is built from what the correlator computed anyway (no second scoring
pass): ``decision`` (``joined``, ``opened``, ``merged``), ``incident``, ``score`` and
``threshold``, the parts (``link``, ``text``, ``relation``), ``via`` (the member alert
linked through, of that node's the one whose start is nearest the alert's
(``IncidentProfile.nearest``): its id, name, node, signed time gap in seconds and hops), the
``runner_up`` incident (its score; ``bound`` when only the upper bound of an unscored
candidate is known), ``merged`` (the incidents the alert merged), and ``moves``.
Rows stored before migration 0026 hold NULL and read "not recorded".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from json.encoder import encode_basestring_ascii as _str
from typing import Any

from aiops.store.json_column import JsonText

JOINED, OPENED, MERGED = "joined", "opened", "merged"
MAX_MOVES = 10  # the latest moves kept per alert (an alert moved more is rare)
NOT_RECORDED = "not recorded (placed before migration 0026)"


@dataclass(slots=True)
class Why:
    """What a correlator knows of one placement, unencoded (``Correlator.explain``).

    ``score`` is None for an alert that opened an incident; ``via_*`` describe the
    member the best incident's link went through; ``runner`` is the best incident not
    taken (``runner_bound``: only the bound its link puts on its score is known)."""

    threshold: float
    score: float | None = None
    link: float = 0.0
    text: float = 0.0
    relation: float = 0.0
    via_node: str | None = None
    via_hops: int | None = None
    via_alert: str | None = None
    via_name: str | None = None
    via_gap: float | None = None
    # what the alert's node and ``via_node`` both run on (or depend on), with the edge
    # kind, when that is what put them one hop apart (``TopologyGraph.reach``)
    via_shared: tuple[str, str] | None = None
    # the kind of edge (``runs_on``, ``depends_on``) from the alert's node to
    # ``via_node`` when the link was that a need of the node still fails: the via
    # alert started before it and still fired (``ScoredCorrelator._failing_needs``)
    via_needs: str | None = None
    # the port of ``via_node`` (as its alert wrote it) whose link leads to the alert's
    # node, when the link was that this port's alert started before and still fired
    via_facing: str | None = None
    runner: str | None = None
    runner_score: float = 0.0
    runner_bound: bool = False


def encode(why: Why | None, decision: str, incident: str, merged: list[str],
           moves: list[dict[str, Any]] | None = None) -> JsonText:
    """The record as stored, written as JSON text directly (it runs for every new
    alert: one string, no dict to encode, and re-sent or cleared alerts store the
    same text again without encoding it anew)."""
    if why is None:
        text = _HEAD % (_str(decision), _str(incident))
    elif why.score is None:
        text = _OPENED % (_str(decision), _str(incident), why.threshold)
    else:
        node, alert, name, gap = why.via_node, why.via_alert, why.via_name, why.via_gap
        text = _SCORED % (
            _str(decision), _str(incident), why.threshold, why.score, why.link, why.text,
            why.relation, "null" if node is None else _str(node),
            "null" if why.via_hops is None else why.via_hops,
            "null" if alert is None else _str(alert), "null" if name is None else _str(name),
            "null" if gap is None else f"{gap:.4g}")
        if why.via_shared is not None:
            text = text[:-1] + _SHARED % (_str(why.via_shared[0]), _str(why.via_shared[1]))
        elif why.via_needs is not None:
            text = text[:-1] + _NEEDS % _str(why.via_needs)
        elif why.via_facing is not None:
            text = text[:-1] + _FACING % _str(why.via_facing)
    if why is not None and why.runner is not None:
        text += (_RUNNER_BOUND if why.runner_bound else _RUNNER) % (
            _str(why.runner), why.runner_score)
    if merged:
        text += ',"merged":[' + ",".join(_str(m) for m in merged) + "]"
    if moves:
        text += ',"moves":' + json.dumps(moves, separators=(",", ":"))
    return JsonText(text + "}")


_HEAD = '{"decision":%s,"incident":%s'
_OPENED = _HEAD + ',"threshold":%r'
_SCORED = _OPENED + (',"score":%.3g,"link":%.3g,"text":%.3g,"relation":%.3g,'
           '"via":{"node":%s,"hops":%s,"alert":%s,"name":%s,"gap_s":%s}')
_SHARED = ',"shared":{"node":%s,"kind":%s}}'
_NEEDS = ',"needs":%s}'
_FACING = ',"facing_port":%s}'
_RUNNER = ',"runner_up":{"incident":%s,"score":%.3g}'
_RUNNER_BOUND = ',"runner_up":{"incident":%s,"score":%.3g,"bound":true}'


def as_dict(placement: dict[str, Any] | str | None) -> dict[str, Any] | None:
    """A placement as kept in memory (encoded text, or a dict read back from the
    store) as a dict."""
    if placement is None or isinstance(placement, dict):
        return placement
    return json.loads(placement)  # type: ignore[no-any-return]


def add_move(record: Any, move: dict[str, Any]) -> None:
    """Append ``move`` to ``record``'s (an ``AlertRecord``) placement, keeping the
    latest ``MAX_MOVES``; an alert placed before migration 0026 starts a record that
    holds only its moves. Moves are rare: the record is decoded and kept as a dict."""
    placement = as_dict(record.placement)
    if placement is None:
        placement = {"decision": None}
    moves = placement.get("moves") or []
    placement["moves"] = [*moves, move][-MAX_MOVES:]
    record.placement = placement


def _num(value: Any) -> str:
    return f"{value:.2f}"


def _gap(seconds: float) -> str:
    whole = round(abs(seconds))
    return f"{whole} s {'after' if seconds >= 0 else 'before'}"


def _hops(hops: int | None) -> str:
    if hops is None:
        return "by entity name"
    if hops == 0:
        return "same device"
    return f"{hops} hop{'s' if hops != 1 else ''} away"


def _shared(shared: dict[str, Any] | None) -> str:
    if not shared:
        return ""
    verb = "run on" if shared.get("kind") == "runs_on" else "depend on"
    return f", both {verb} {shared.get('node')}"


def _still_failing(via: dict[str, Any]) -> str:
    kind, port = via.get("needs"), via.get("facing_port")
    if port:
        return f", on its {port}, which leads here and still alarms"
    if not kind:
        return ""
    verb = "runs on" if kind == "runs_on" else "depends on"
    return f", which it {verb} and whose alert still fires"


def _runner(runner: dict[str, Any] | None) -> str:
    if not runner:
        return ""
    bound = "≤ " if runner.get("bound") else ""
    return f"{runner['incident']} at {bound}{_num(runner['score'])}"


def describe_decision(placement: dict[str, Any]) -> str:
    """The placement decision as one sentence (without the later moves)."""
    decision = placement.get("decision")
    threshold = placement.get("threshold")
    runner = placement.get("runner_up")
    if decision is None:
        return NOT_RECORDED
    if decision == OPENED:
        if runner:
            return (f"opened: no open incident within reach (best {_runner(runner)} < "
                    f"{_num(threshold)})")
        return "opened: no open incident within reach"
    via = placement.get("via") or {}
    where = via.get("node") or "?"
    parts = [f"closeness {_num(placement['link'])}"]
    if placement.get("text"):
        parts.append(f"text {_num(placement['text'])}")
    if placement.get("relation"):
        parts.append(f"relation {_num(placement['relation'])}")
    parts.append(f"score {_num(placement['score'])}")
    parts.append(f"threshold {_num(threshold)}")
    if runner:
        parts.append(f"next best {_runner(runner)}")
    head = (f"{decision} {placement['incident']}: "
            f"{_gap(via.get('gap_s', 0.0))} {via.get('name', '?')} on {where}, "
            f"{_hops(via.get('hops'))}{_shared(via.get('shared'))}{_still_failing(via)} "
            f"({'; '.join(parts)})")
    if placement.get("merged"):
        head += f"; merged {', '.join(placement['merged'])} into it"
    return head


def describe_move(move: dict[str, Any]) -> str:
    kind, by = move.get("move"), move.get("by")
    who = f" by {move['author']}" if move.get("author") else ""
    if kind == "absorbed":
        return (f"its incident {move['from']} was absorbed into {move['into']} "
                f"(its alarms most likely followed it, p={_num(move['share'])})")
    if kind == "merged" and by == "operator":
        return f"operator merge{who}: {move['from']} into {move['into']}"
    if kind == "merged":
        return (f"its incident {move['from']} was merged into {move['into']} "
                f"(alert {move.get('alert')} linked both)")
    if kind == "split" and by == "operator":
        return f"operator split{who}: moved from {move['from']} to {move['into']}"
    if kind == "split":
        return f"hindsight split: moved from {move['from']} to {move['into']}"
    return str(move)


def describe(placement: dict[str, Any] | None) -> str:
    """Why an alert is where it is: its decision, then each later move."""
    if placement is None:
        return NOT_RECORDED
    lines = [describe_decision(placement)]
    lines += [describe_move(m) for m in placement.get("moves") or ()]
    return "; then ".join(lines)
