"""Grouping free-text resolutions into actions: by wording and by the company they keep.

Engineers describe one action in many ways. Three steps undo that:

1. *Key*: each resolution is split into clauses, each clause reduced to a template
   with device names, numbers and ids dropped ("Replaced the failed PSU on ne-12" →
   "replaced the failed psu").
2. *Boilerplate*: a clause that follows the first clause of at least
   ``boilerplate_heads`` different resolutions ("verified with the customer",
   "monitored, stable") is a stock phrase that says nothing about what was done, and
   is dropped from the key.
3. *Grouping*: keys are clustered by average linkage on
   ``cos(MiniLM embeddings) · (1 + w_context · (cos(contexts) − context_centre))``,
   merged while at least ``threshold``. A key's context is the fault kinds it was
   used for (what the caller passes: the remediation model gives each case's root
   alert types and its fault classes, root type × role of the device): paraphrases fix
   the same faults, while alike wordings of different actions ("replaced the line
   card" / "reseated the line card", text cosine 0.83) are used for partly different
   ones. The context scales the text similarity rather than adding to it, because
   different actions for the same kind of fault share their context: agreement on
   context alone never merges, so true paraphrases with nothing in common ("applied
   QoS policy to the backup job" / "policed the offending flow", 0.06) stay apart.
   The limit the other way: two actions always used for exactly the same faults
   merge once their texts are 0.32 alike ("replaced the failed PSU" / "reset the
   tripped breaker", 0.42). A pair where either key has no context is compared by
   text alone. The settings were chosen on development scenarios (pairwise F1 of the
   grouping against the simulator's actions 0.82, text alone at its best 0.74; counted
   over the history tickets of those scenarios, contexts of root types alone give
   precision 0.85 / recall 0.69, with the fault classes too 0.90 / 0.69: docs/tickets.md).

Average linkage uses the nearest-neighbour-chain algorithm (O(n²) time and memory),
so thousands of distinct wordings group in seconds; above ``max_keys`` distinct keys
the rarest join the group of their nearest frequent key when the text is at least
``threshold`` alike, else stay alone.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from aiops.learning.embeddings import TemplateEmbedder
from aiops.learning.templates import template

_CLAUSE = re.compile(r"[.;:!?](?:\s+|$)|,\s*|\s*[()\[\]]\s*")
_MASKED_WORD = re.compile(r"\S*<[a-z0-9]+>\S*")
_DANGLING = re.compile(r"\s*\b(?:on|at|in|of|for|to|from|with|via|by|and|ref)$")
_EDGE = " ,.;:-"


@dataclass(frozen=True)
class ActionSettings:
    boilerplate_heads: int = 3
    w_context: float = 1.5
    context_centre: float = 0.4
    threshold: float = 0.6
    max_keys: int = 4000


def clauses(text: str) -> list[str]:
    """The clauses of a resolution, each as a template without masked words."""
    out = []
    for part in _CLAUSE.split(text):
        clause = " ".join(_MASKED_WORD.sub(" ", template(part)).split()).strip(_EDGE)
        while (shorter := _DANGLING.sub("", clause).strip(_EDGE)) != clause:
            clause = shorter
        if clause:
            out.append(clause)
    return out


def boilerplate(texts: Sequence[str], heads: int = 3) -> frozenset[str]:
    """Clauses that follow the first clause of at least ``heads`` different texts."""
    follows: dict[str, set[str]] = defaultdict(set)
    for text in set(texts):
        parts = clauses(text)
        for clause in parts[1:]:
            follows[clause].add(parts[0])
    return frozenset(c for c, firsts in follows.items() if len(firsts) >= heads)


def action_key(text: str, stock: frozenset[str] = frozenset()) -> str:
    """What is compared of a resolution: its clauses less the ``stock`` phrases."""
    parts = clauses(text)
    kept = [c for i, c in enumerate(parts) if i == 0 or c not in stock]
    return ", ".join(kept) or template(text)


def average_linkage(similarity: np.ndarray, threshold: float) -> list[int]:
    """Cluster label per row: average-linkage clusters cut where similarity < threshold.

    Nearest-neighbour chain: average linkage is reducible, so merging mutual nearest
    neighbours as they are found gives the same tree as merging the globally closest
    pair each time, and its merge heights are monotone, so the cut keeps exactly the
    merges at or above ``threshold``.
    """
    n = len(similarity)
    sim = np.array(similarity, dtype=np.float64)
    np.fill_diagonal(sim, -np.inf)
    size = np.ones(n)
    active = np.ones(n, dtype=bool)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    chain: list[int] = []
    remaining = n
    while remaining > 1:
        if not chain:
            chain.append(int(np.flatnonzero(active)[0]))
        a = chain[-1]
        row = np.where(active, sim[a], -np.inf)
        row[a] = -np.inf
        b = int(np.argmax(row))
        if len(chain) >= 2 and row[chain[-2]] >= row[b]:
            b = chain[-2]
        if len(chain) < 2 or b != chain[-2]:
            chain.append(b)
            continue
        chain.pop()
        chain.pop()
        if row[b] >= threshold:
            parent[find(b)] = find(a)
        merged = (sim[a] * size[a] + sim[b] * size[b]) / (size[a] + size[b])
        sim[a], sim[:, a] = merged, merged
        sim[a, a] = -np.inf
        sim[b], sim[:, b] = -np.inf, -np.inf
        size[a] += size[b]
        active[b] = False
        remaining -= 1
    roots: dict[int, int] = {}
    return [roots.setdefault(find(i), len(roots)) for i in range(n)]


def _context_matrix(keys: Sequence[Hashable], contexts: Mapping[Hashable, Counter[Hashable]]
                    ) -> np.ndarray:
    """Unit context vectors, one row per key (zero for a key with no context)."""
    features = sorted({f for c in contexts.values() for f in c}, key=repr)
    index = {f: i for i, f in enumerate(features)}
    matrix = np.zeros((len(keys), len(features)))
    for row, key in enumerate(keys):
        for feature, weight in contexts.get(key, Counter()).items():
            matrix[row, index[feature]] = weight
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0)


def group_actions(texts: Sequence[str], contexts: Sequence[Mapping[Hashable, float]],
                  embedder: TemplateEmbedder, settings: ActionSettings | None = None
                  ) -> tuple[list[int], list[str]]:
    """Action id per text, and each action's name (its most frequent wording).

    ``contexts[i]`` says what text ``i`` was used for (root alert type → weight).
    """
    settings = settings or ActionSettings()
    stock = boilerplate(texts, settings.boilerplate_heads)
    key_of = [action_key(t, stock) for t in texts]
    counts = Counter(key_of)
    context: dict[str, Counter[Hashable]] = defaultdict(Counter)
    for key, ctx in zip(key_of, contexts, strict=True):
        context[key].update(ctx)
    keys = sorted(counts, key=lambda k: (-counts[k], k))
    head, tail = keys[:settings.max_keys], keys[settings.max_keys:]
    embedder.prepare(keys)
    vectors = np.array([embedder.vector(k) for k in head], dtype=np.float64)
    text_sim = np.clip(vectors @ vectors.T, 0.0, 1.0)
    ctx = _context_matrix(head, context)
    has = ctx.any(axis=1)
    factor = 1.0 + settings.w_context * (np.clip(ctx @ ctx.T, 0.0, 1.0)
                                         - settings.context_centre)
    combined = text_sim * np.where(np.outer(has, has), factor, 1.0)
    labels = dict(zip(head, average_linkage(combined, settings.threshold), strict=True))
    next_label = max(labels.values(), default=-1) + 1
    for key in tail:
        sims = vectors @ embedder.vector(key)
        best = int(np.argmax(sims))
        if sims[best] >= settings.threshold:
            labels[key] = labels[head[best]]
        else:
            labels[key], next_label = next_label, next_label + 1
    wordings: dict[int, Counter[str]] = defaultdict(Counter)
    for text, key in zip(texts, key_of, strict=True):
        wordings[labels[key]][text.strip()] += 1
    order = sorted(wordings, key=lambda a: (-sum(wordings[a].values()), min(wordings[a])))
    renumber = {old: new for new, old in enumerate(order)}
    names = [min(wordings[a].items(), key=lambda kv: (-kv[1], len(kv[0]), kv[0]))[0]
             for a in order]
    return [renumber[labels[k]] for k in key_of], names
