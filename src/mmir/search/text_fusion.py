"""Fusing the two evidences a text query has about an item: its concepts and the words its metadata carries.

Per query term ``t`` and item ``i``:

- the concept relevance ``s_ti = Σ_c w_tc · p_ic`` (:mod:`mmir.search.concept_scoring`);
- the metadata relevance ``m_ti`` = the term's BM25 score on the item's file/folder names, embedded metadata and
  sidecars (:mod:`mmir.index.metadata_text`), divided by the best BM25 of that term in the collection, so in
  (0, 1] where the text contains the term and 0 elsewhere;
- fused as two independent chances of the term being right: ``f_ti = 1 − (1 − s_ti)(1 − META_WEIGHT · m_ti)``.

The terms are then combined with their importances exactly as concepts alone are (soft AND / noisy-OR). A term
that maps to no concept but occurs in some item's metadata ("holiday", "2019", a place name) takes part with
importance ``META_IMPORTANCE``; a term with neither is left out (it cannot tell items apart).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mmir.concepts.mapping import QueryMapping
from mmir.search.concept_scoring import combine_terms, term_weights

# A metadata match alone makes a term META_WEIGHT "present". 0.9 let a folder name outrank the photos that show
# the thing ("train" → every photo of COCO's train2017/ at 0.90, above any photo of a train). Chosen on validation
# categories by benchmarks/one_search_latency.py part 3 (COCO-mini in train2017/ + val2017/, 30 % of photos tagged
# by a sidecar): validation mAP 0.467 with no text, 0.620 at 0.5, 0.624 from 0.6 up (the smallest of those taken);
# test half 0.640. No weight or specificity tried changes COCO's own "train" query there (AP 0.82 with no text,
# 0.52 with any weight): the train2017/ folder still costs it, which the benchmark prints.
META_WEIGHT = 0.6
# A term's metadata relevance is scaled by its specificity (see specificity()), so a word most file names carry
# (a folder name) counts for little: "share" 1 − df/N, or "idf" log(N/df)/log(N); "" for none. On the validation
# categories all three tie at their best weight (0.624); "share" is kept for the folder that covers nearly all of a
# collection (tests/search/test_one_search.py: 20 unrelated photos in train2017/ and one train).
META_SPECIFICITY = "share"
META_IMPORTANCE = 0.75


@dataclass(frozen=True)
class FusedScores:
    """Scores of ``N`` items and the per-term metadata relevance that went into them.

    Attributes:
        scores: ``float32[N]`` fused scores in [0, 1].
        metadata: ``float32[N, T]`` normalised metadata relevance of each of the mapping's ``T`` terms.
        used: Whether any term took part (some concept or metadata match).
    """

    scores: np.ndarray
    metadata: np.ndarray
    used: bool


def metadata_matrix(ids: np.ndarray, matches: Sequence[dict[int, float]]) -> np.ndarray:
    """``float32[N, T]``: per term, each item's BM25 relevance divided by the term's best, 0 where absent.

    Args:
        ids: ``int64[N]`` item (segment) ids in row order.
        matches: Per term, ``item id → BM25 relevance > 0`` (ids not in ``ids`` are ignored).
    """
    out = np.zeros((len(ids), len(matches)), dtype=np.float32)
    if not len(ids):
        return out
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    for col, found in enumerate(matches):
        if not found:
            continue
        keys = np.fromiter(found.keys(), dtype=np.int64, count=len(found))
        values = np.fromiter(found.values(), dtype=np.float64, count=len(found))
        pos = np.clip(np.searchsorted(sorted_ids, keys), 0, len(ids) - 1)
        known = sorted_ids[pos] == keys
        out[order[pos[known]], col] = values[known] / values.max()
    return out


def fuse(mapping: QueryMapping, probs: np.ndarray, metadata: np.ndarray | None = None) -> FusedScores:
    """Score ``N`` items for a text query from concept probabilities and (optionally) metadata relevance.

    Args:
        mapping: The query mapped to concepts, every term kept (matched or not), importances set.
        probs: ``float32[N, C]`` concept probabilities.
        metadata: ``float32[N, T]`` from :func:`metadata_matrix` over ``mapping.terms``, or ``None``.
    """
    terms = mapping.terms
    n = probs.shape[0]
    meta = np.zeros((n, len(terms)), np.float32) if metadata is None else np.asarray(metadata, np.float32)
    concept = np.clip(probs @ term_weights(terms, probs.shape[1]).T, 0.0, 1.0) if terms else meta
    fused = 1.0 - (1.0 - concept) * (1.0 - META_WEIGHT * meta)
    importance = np.array(
        [t.importance if t.matched else (META_IMPORTANCE if meta[:, j].any() else 0.0) for j, t in enumerate(terms)]
    )
    active = np.array([t.matched or bool(meta[:, j].any()) for j, t in enumerate(terms)], dtype=bool)
    if not active.any():
        return FusedScores(np.zeros(n, np.float32), meta, used=False)
    scores = combine_terms(fused[:, active], importance[active], mapping.mode)
    return FusedScores(scores, meta, used=True)


def metadata_why(mapping: QueryMapping, metadata_row: np.ndarray) -> tuple[str, ...]:
    """``("text: 'beach'",)``-style reasons for one item's metadata matches (``metadata_row``: ``float[T]``)."""
    words = [term.term for term, m in zip(mapping.terms, metadata_row, strict=True) if m > 0]
    return (f"text: {', '.join(repr(w) for w in words)}",) if words else ()


def specificity(counts: Sequence[int], total: int) -> np.ndarray:
    """``float32[T]`` factor on each term's metadata relevance given how many of ``total`` segments match it
    (:data:`META_SPECIFICITY`: ``share`` → ``1 − df/N``, ``idf`` → ``log(N/df) / log(N)``, else 1)."""
    df = np.maximum(np.asarray(counts, np.float64), 1.0)
    n = max(float(total), 2.0)
    if META_SPECIFICITY == "idf":
        return np.clip(np.log(n / df) / np.log(n), 0.0, 1.0).astype(np.float32)
    if META_SPECIFICITY == "share":
        return np.clip(1.0 - df / n, 0.0, 1.0).astype(np.float32)
    return np.ones(len(df), np.float32)
