"""How much each query term should count: informativeness (IDF over the class texts) × mapping confidence.

A sentence such as "a man riding a wave on a surfboard" has words that name things well ("surfboard"), words
that say little about what is visible ("riding"), and words the vocabulary only reaches approximately. Each
matched term gets an importance ``a_t = confidence_t · (FLOOR + (1 − FLOOR) · idf_t)``:

- ``idf_t`` is the inverse document frequency of the term's words over the ImageNet classes' lemmas and WordNet
  glosses (1000 short documents), scaled to [0, 1]: words that appear in many class descriptions ("black",
  "large", "used") are less informative than rare ones. Nothing is fitted to any benchmark.
- ``confidence_t`` is 1 for a lemma or user concept, for the whole-sentence term its similarity mapped from
  [:data:`SENTENCE_ZERO`, :data:`SENTENCE_FULL`], :data:`HYPERNYM_CONFIDENCE` for classes borrowed from a
  hypernym, and for a text-model match its best cosine similarity mapped linearly from
  [:data:`EMBEDDING_ZERO`, :data:`EMBEDDING_FULL`] to [:data:`MIN_CONFIDENCE`, 1] (visualness: a word whose
  nearest class is far away is probably not something a photo shows).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import replace

from mmir.concepts.hierarchy import ConceptHierarchy
from mmir.concepts.mapping import MatchSource, QueryMapping, TermMapping
from mmir.concepts.text import STOP_WORDS, plural_forms, tokenise

IDF_FLOOR = 0.5  # the most common word still keeps half its weight: IDF refines, it does not veto
HYPERNYM_CONFIDENCE = 0.6
EMBEDDING_ZERO = 0.4
EMBEDDING_FULL = 0.7
MIN_CONFIDENCE = 0.05
# A whole sentence is compared with short class names and glosses, so its similarities run lower than a single
# word's (~0.4–0.5 for a fitting caption, e.g. "an airport filled with … jets" → airliner 0.50): a lower span.
SENTENCE_ZERO = 0.25
SENTENCE_FULL = 0.55


_FREQUENCIES: dict[int, tuple[ConceptHierarchy, Counter[str], int]] = {}  # id → (kept alive, counts, N)


def class_document_frequencies(hierarchy: ConceptHierarchy) -> tuple[Counter[str], int]:
    """``(word → number of classes whose lemmas or gloss contain it, number of classes)``, computed once.

    Words are counted as written, once per class; :func:`idf` merges a word's plural forms at lookup.
    """
    cached = _FREQUENCIES.get(id(hierarchy))
    if cached is not None and cached[0] is hierarchy:  # the hierarchy holds dicts, so it cannot be a cache key
        return cached[1], cached[2]
    counts: Counter[str] = Counter()
    for lemmas, gloss in zip(hierarchy.class_lemmas, hierarchy.class_definitions, strict=True):
        counts.update(set(tokenise(f"{lemmas} {gloss}")))
    _FREQUENCIES[id(hierarchy)] = (hierarchy, counts, len(hierarchy.class_lemmas))
    return counts, len(hierarchy.class_lemmas)


def _frequency(word: str, counts: Counter[str]) -> int:
    """Classes mentioning ``word`` or a plural of it (an upper bound when a class has both forms)."""
    return counts.get(word, 0) + sum(counts.get(form, 0) for form in plural_forms(word))


def idf(term: str, hierarchy: ConceptHierarchy) -> float:
    """Scaled IDF in [0, 1] of a (possibly multi-word) term: its rarest content word decides."""
    counts, total = class_document_frequencies(hierarchy)
    words = [w for w in term.split() if w not in STOP_WORDS] or term.split()
    if not words:
        return 0.0
    rarest = min(min(_frequency(word, counts), total) for word in words)
    return math.log((1 + total) / (1 + rarest)) / math.log(1 + total)


def confidence(term: TermMapping) -> float:
    """How surely the term's concepts stand for it, in [0, 1] (0 when it has none)."""
    if not term.matched:
        return 0.0
    if term.source is MatchSource.HYPERNYM:
        return HYPERNYM_CONFIDENCE
    if term.source is MatchSource.SENTENCE and term.similarity is not None:
        span = (term.similarity - SENTENCE_ZERO) / (SENTENCE_FULL - SENTENCE_ZERO)
        return MIN_CONFIDENCE + (1.0 - MIN_CONFIDENCE) * min(max(span, 0.0), 1.0)
    if term.source is MatchSource.EMBEDDING and term.similarity is not None:
        span = (term.similarity - EMBEDDING_ZERO) / (EMBEDDING_FULL - EMBEDDING_ZERO)
        return MIN_CONFIDENCE + (1.0 - MIN_CONFIDENCE) * min(max(span, 0.0), 1.0)
    return 1.0


def with_importance(mapping: QueryMapping, hierarchy: ConceptHierarchy) -> QueryMapping:
    """The same mapping with every term's :attr:`TermMapping.importance` set (see the module docstring)."""
    terms = tuple(
        replace(t, importance=round(confidence(t) * (IDF_FLOOR + (1 - IDF_FLOOR) * idf(t.term, hierarchy)), 4))
        for t in mapping.terms
    )
    return replace(mapping, terms=terms)
