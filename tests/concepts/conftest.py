"""Fixtures for concept tests: a vocabulary over the 1000 ImageNet classes plus one user concept."""

from __future__ import annotations

import pytest

from mmir.concepts import ConceptVocabulary
from mmir.concepts.hierarchy import load_hierarchy


@pytest.fixture(scope="session")
def imagenet_names() -> tuple[str, ...]:
    """The 1000 ImageNet synset ids in class order, plus a user concept in column 1000."""
    return (*load_hierarchy().class_synsets, "user:my-dog")


@pytest.fixture(scope="session")
def vocab(imagenet_names: tuple[str, ...]) -> ConceptVocabulary:
    """WordNet-only vocabulary (the embedding fallback is tested separately)."""
    return ConceptVocabulary(imagenet_names, use_embeddings=False)
