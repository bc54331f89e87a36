"""Tokenising and base forms of query words."""

from __future__ import annotations

from mmir.concepts.text import base_forms, normalise, tokenise


def test_normalise_strips_punctuation_and_joins_separators() -> None:
    assert normalise("  Jack-o'-Lantern!! ") == "jack o lantern"
    assert normalise("St. Bernard, golden_retriever") == "st bernard golden retriever"


def test_tokenise_lower_cases() -> None:
    assert tokenise("A Dog on the BEACH.") == ["a", "dog", "on", "the", "beach"]


def test_base_forms_rules_and_exceptions() -> None:
    assert "dog" in base_forms("dogs", {})
    assert base_forms("buses", {})[1] == "bus"
    assert "mouse" in base_forms("mice", {"mice": "mouse"})
    assert "sports car" in base_forms("sports cars", {})
    assert base_forms("glass", {}) == ["glass"]
