"""Concepts: the vocabulary of an encoder (ImageNet synsets + user concepts) and query text → weighted concepts.

``ConceptVocabulary(encoder.concept_names).map_query("dog on a beach")`` gives a :class:`QueryMapping`; the
WordNet hierarchy it uses ships as package data (built by ``scripts/build_concept_hierarchy.py``). Importing
this package loads neither torch nor sentence-transformers.
"""

from __future__ import annotations

from mmir.concepts.mapping import ConceptWeight, MatchSource, QueryMapping, QueryMode, TermMapping
from mmir.concepts.vocabulary import USER_PREFIX, ConceptVocabulary

__all__ = [
    "USER_PREFIX",
    "ConceptVocabulary",
    "ConceptWeight",
    "MatchSource",
    "QueryMapping",
    "QueryMode",
    "TermMapping",
]
