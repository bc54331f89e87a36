"""The shared tokeniser (NFKC, punctuation and letter/digit splits) and bounded, cached, thread-safe query mapping."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from mmir.concepts import ConceptVocabulary, MatchSource
from mmir.concepts import vocabulary as vocabulary_module
from mmir.concepts.tokens import fold, words


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ｄｏｇ", ["dog"]),  # fullwidth letters: NFKC
        ("flamingo,parade", ["flamingo", "parade"]),  # punctuation separates, never glues
        ("Paris2019.jpg", ["paris", "2019", "jpg"]),  # letter/digit boundaries split
        ("IMG_2031", ["img", "2031"]),
        ("img2031", ["img", "2031"]),
        ("Dad's", ["dads"]),  # an in-word apostrophe joins, as WordNet's lemmas were written
        ("U.S. Mint", ["us", "mint"]),  # a dotted abbreviation joins
        ("🐶 * ✨", []),  # only symbols and emoji: no word
    ],
)
def test_words(text: str, expected: list[str]) -> None:
    assert words(text) == expected


def test_fold_keeps_the_text_readable_and_splits_as_words_do() -> None:
    assert fold("Paris2019.jpg") == "Paris 2019.jpg"
    assert fold("ｄｏｇ on the Beach") == "dog on the Beach"


def test_queries_map_through_the_shared_tokeniser(vocab: ConceptVocabulary) -> None:
    assert [t.term for t in vocab.map_query("flamingo,parade").terms] == ["flamingo", "parade"]
    assert vocab.map_query("ｄｏｇ").terms == vocab.map_query("dog").terms
    (four_wd,) = vocab.map_query("4WD").terms  # WordNet's "4WD" was re-normalised with the same splits
    assert four_wd.term == "4 wd" and four_wd.matched
    assert vocab.map_query("🐶 *").terms == ()


class _CountingEncoder:
    """A stand-in text model: a fixed vector per text, counting texts encoded, optionally slow per call."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.texts: list[str] = []
        self.calls = 0
        self.delay_s = delay_s
        self._lock = threading.Lock()

    def encode(self, texts, normalize_embeddings: bool = True, show_progress_bar: bool = False) -> np.ndarray:
        with self._lock:
            self.calls += 1
            self.texts += list(texts)
        time.sleep(self.delay_s)
        rng = np.random.default_rng([sum(map(ord, text)) for text in texts] or [0])
        vectors = rng.normal(size=(len(texts), 16)).astype(np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _made_up(count: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(list("bcdfgklmnprstvz"), size=7)) + "o" for _ in range(count)]


def _vocab_with(imagenet_names, encoder: _CountingEncoder) -> ConceptVocabulary:
    return ConceptVocabulary(imagenet_names, embedding_loader=lambda: encoder)


def test_a_long_query_is_cut_and_says_so(imagenet_names) -> None:
    encoder = _CountingEncoder()
    vocab = _vocab_with(imagenet_names, encoder)
    vocab.map_query("warmup")  # class names embedded once (not part of the query's cost)
    start = time.monotonic()
    mapping = vocab.map_query(" ".join(_made_up(2000)))
    elapsed = time.monotonic() - start
    content = [t for t in mapping.terms if t.source is not MatchSource.SENTENCE]
    assert len(content) <= vocabulary_module.MAX_QUERY_TERMS
    assert mapping.notes and "2000 words" in mapping.notes[0]
    assert elapsed < 10, elapsed
    # 100 KB of two words repeated: cut to the first words, each word mapped once.
    big = vocab.map_query("dog beach " * 10_000)
    assert {t.term for t in big.terms if t.source is not MatchSource.SENTENCE} <= {"dog", "beach", "beach dog"}
    assert big.notes


def test_words_are_embedded_in_one_batch_and_mappings_cached(imagenet_names) -> None:
    encoder = _CountingEncoder()
    vocab = _vocab_with(imagenet_names, encoder)
    vocab.map_query("warmup")
    calls = encoder.calls
    query = " ".join(_made_up(12, seed=1))
    first = vocab.map_query(query)
    assert encoder.calls - calls <= 3  # 12 words (no pairs in a query this long) in one batch, then the sentence
    calls = encoder.calls
    assert vocab.map_query(query) == first and encoder.calls == calls  # cached: no model call at all


def test_at_most_eight_unplaced_words_a_query_go_to_the_text_model(imagenet_names) -> None:
    encoder = _CountingEncoder()
    vocab = _vocab_with(imagenet_names, encoder)
    vocab.map_query("warmup")
    sent = len(encoder.texts)
    made_up = _made_up(20, seed=3)
    mapping = vocab.map_query("dog " + " ".join(made_up))
    cap = vocabulary_module.MAX_MODEL_WORDS
    assert [t.term for t in mapping.terms if t.source is MatchSource.EMBEDDING] == made_up[:cap]
    assert next(t for t in mapping.terms if t.term == "dog").matched  # words lemmas place are not capped
    assert [t.term for t in mapping.terms if not t.matched] == made_up[cap:]  # they still match file text
    assert not set(made_up[cap:]) & set(encoder.texts[sent:])  # never sent to the model
    assert any(f"at most {cap} words" in note and f"{len(made_up) - cap} word(s)" in note for note in mapping.notes)


def test_the_text_model_budget_bounds_a_query(imagenet_names, monkeypatch: pytest.MonkeyPatch) -> None:
    encoder = _CountingEncoder(delay_s=0.3)
    vocab = _vocab_with(imagenet_names, encoder)
    vocab.map_query("warmup")
    monkeypatch.setattr(vocabulary_module, "TEXT_MODEL_BUDGET_S", 0.2)
    monkeypatch.setattr(vocab, "_prefetch", lambda tokens, pairs: None)  # word by word: the slow path the budget bounds
    start = time.monotonic()
    mapping = vocab.map_query(" ".join(_made_up(20, seed=2)))
    assert time.monotonic() - start < 2.0  # 20 words × 0.3 s would be 6 s and more
    assert any("text model" in note for note in mapping.notes)
    assert any(not t.matched for t in mapping.terms)  # the words it had no time for match file text only


def test_concurrent_queries_map_alike(imagenet_names) -> None:
    encoder = _CountingEncoder(delay_s=0.01)
    vocab = _vocab_with(imagenet_names, encoder)
    queries = [" ".join(_made_up(5, seed=seed)) for seed in range(6)]
    expected = [_vocab_with(imagenet_names, _CountingEncoder()).map_query(q) for q in queries]
    results: dict[int, object] = {}

    def run(i: int) -> None:
        results[i] = vocab.map_query(queries[i % len(queries)])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(results[i] == expected[i % len(queries)] for i in range(12))
