"""The result types of mapping query text onto concepts (columns of the concept-probability matrix)."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class MatchSource(str, enum.Enum):
    """How a query term found its concepts."""

    LEMMA = "lemma"  # a WordNet lemma (or ImageNet class name) whose senses cover classes
    HYPERNYM = "hypernym"  # the term's senses cover no class; a near, narrow hypernym's classes stand in
    EMBEDDING = "embedding"  # no usable lemma; nearest class names by sentence-embedding similarity
    SENTENCE = "sentence"  # the whole query (a sentence or caption): nearest classes by sentence embedding
    USER = "user"  # the exact name of a user concept


# Below this best cosine similarity (MiniLM, class lemma or gloss) an embedding match is reported as weak: related
# words score ~0.55–0.8 ("kitten" → tiger cat 0.66), while a rare word that MiniLM splits into word pieces reaches
# ~0.45 with arbitrary classes ("menorah" → mantis 0.50, "quokka" → mask 0.43; measured).
WEAK_SIMILARITY = 0.55


class QueryMode(str, enum.Enum):
    """How the terms of a query combine: all must be present (AND) or any (OR)."""

    AND = "and"
    OR = "or"


@dataclass(frozen=True)
class ConceptWeight:
    """One concept a term points to.

    Attributes:
        index: Column of the concept in the probability matrix ``probs[N, C]``.
        name: Display name (``"tabby cat"``, ``"user:my-dog"``).
        weight: Roughly P(term relevant | concept present), in [0, 1].
    """

    index: int
    name: str
    weight: float


@dataclass(frozen=True)
class TermMapping:
    """One query term and its weighted concepts; empty ``concepts`` (and ``source=None``) means unmatched.

    Attributes:
        term: The normalised word or multi-word lemma as found in the query.
        source: How it matched, or ``None``.
        concepts: Weighted concepts, strongest first.
        senses: The WordNet synsets that contributed (``"dog.n.01"``), strongest first; empty for other sources.
        similarity: For :attr:`MatchSource.EMBEDDING`, the best cosine similarity to a class text, else ``None``.
        importance: The term's weight among the query's terms (informativeness × confidence, see
            :mod:`mmir.concepts.term_weights`); 1.0 unless set.
    """

    term: str
    source: MatchSource | None
    concepts: tuple[ConceptWeight, ...]
    senses: tuple[str, ...] = ()
    similarity: float | None = None
    importance: float = 1.0

    @property
    def weak(self) -> bool:
        """An embedding match whose nearest class is not close (``why`` says so)."""
        return self.similarity is not None and self.similarity < WEAK_SIMILARITY

    @property
    def matched(self) -> bool:
        """Whether the term points to any concept."""
        return bool(self.concepts)


@dataclass(frozen=True)
class QueryMapping:
    """A whole text query mapped to concepts, term by term.

    Attributes:
        text: The query as given.
        mode: How its terms combine.
        terms: Its terms, in query order.
        notes: What was left out and why (a long query cut to its first words, words the text model had no
            time for), one short sentence each; shown with the mapping and in the hits' ``why``.
    """

    text: str
    mode: QueryMode
    terms: tuple[TermMapping, ...]
    notes: tuple[str, ...] = ()

    @property
    def matched_terms(self) -> tuple[TermMapping, ...]:
        """The terms that point to at least one concept (the others are ignored in scoring)."""
        return tuple(t for t in self.terms if t.matched)
