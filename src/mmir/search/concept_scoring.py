"""Score items by the presence probabilities of the concepts a text query maps to.

Per term the score is the expected relevance ``s_t = Σ_c w_tc · p_c``: ImageNet classes are mutually exclusive
under the softmax, so summing the probabilities of the classes a term covers gives P(any of them). Terms then
combine as independent events: AND = ``Π_t s_t``, OR (noisy-OR) = ``1 − Π_t (1 − s_t)``.
"""

from __future__ import annotations

import numpy as np

from mmir.concepts.mapping import QueryMapping, QueryMode, TermMapping
from mmir.errors import QueryError


def term_weights(terms: tuple[TermMapping, ...], num_concepts: int) -> np.ndarray:
    """The dense weight matrix ``float32[T, C]`` of ``T`` matched terms over ``C`` concepts.

    Raises:
        QueryError: A term points to a concept column ``≥ C`` (mapping made for another vocabulary).
    """
    weights = np.zeros((len(terms), num_concepts), dtype=np.float32)
    for row, term in enumerate(terms):
        for concept in term.concepts:
            if not 0 <= concept.index < num_concepts:
                raise QueryError(f"concept {concept.name!r} (column {concept.index}) is not among {num_concepts}")
            weights[row, concept.index] = max(weights[row, concept.index], concept.weight)
    return weights


def term_scores(mapping: QueryMapping, probs: np.ndarray) -> np.ndarray:
    """Per-term expected relevance ``float32[N, T]`` (matched terms only), clipped to [0, 1].

    Args:
        mapping: The query mapped to concepts.
        probs: ``float32[N, C]`` concept probabilities of ``N`` items.
    """
    probs = np.asarray(probs, dtype=np.float32)
    if probs.ndim != 2:
        raise QueryError(f"concept probabilities must be [N, C], got shape {probs.shape}")
    weights = term_weights(mapping.matched_terms, probs.shape[1])
    return np.clip(probs @ weights.T, 0.0, 1.0).astype(np.float32, copy=False)


def score_concepts(mapping: QueryMapping, probs: np.ndarray) -> np.ndarray:
    """Score ``N`` items for a text query; higher is better.

    Args:
        mapping: The query mapped to concepts; unmatched terms are ignored.
        probs: ``float32[N, C]`` concept probabilities.

    Returns:
        ``float32[N]`` scores in [0, 1]; all zero when no term matched.
    """
    per_term = term_scores(mapping, probs)
    if per_term.shape[1] == 0:
        return np.zeros(per_term.shape[0], dtype=np.float32)
    if mapping.mode is QueryMode.AND:
        combined = np.prod(per_term, axis=1)
    else:
        combined = 1.0 - np.prod(1.0 - per_term, axis=1)
    return np.clip(combined, 0.0, 1.0).astype(np.float32)


def explain(mapping: QueryMapping, probs_row: np.ndarray, top: int = 3) -> tuple[str, ...]:
    """The concepts that contributed most to one item's score, as ``"name probability"`` strings.

    Args:
        mapping: The query mapped to concepts.
        probs_row: ``float32[C]`` concept probabilities of the item.
        top: How many concepts to list.

    Returns:
        Up to ``top`` strings such as ``("tabby cat 0.81", "tiger cat 0.12")``, ranked by weight × probability.
    """
    row = np.asarray(probs_row, dtype=np.float32).reshape(-1)
    best: dict[int, tuple[float, str]] = {}  # column → (contribution, name); a concept counts once
    for term in mapping.matched_terms:
        for concept in term.concepts:
            if concept.index >= row.shape[0]:
                continue
            contribution = concept.weight * float(row[concept.index])
            if contribution > 0 and contribution > best.get(concept.index, (0.0, ""))[0]:
                best[concept.index] = (contribution, concept.name)
    ranked = sorted(best.items(), key=lambda item: (-item[1][0], item[0]))[:top]
    return tuple(f"{name} {row[index]:.2f}" for index, (_, name) in ranked)
