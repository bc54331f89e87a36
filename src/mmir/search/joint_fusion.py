"""Text queries on a collection built by a joint text–image model: its text tower fused with the concept route.

The query text is embedded by the model's text tower (``float32[E]``, L2-normalised) and compared by dot product
with every stored image descriptor (the image tower's normalised embedding), read in batches so memory stays
bounded. The two evidences are then fused by **reciprocal rank fusion** (Cormack, Clarke & Büttcher 2009):

    score_i = (1 / (K + r_joint_i) + 1 / (K + r_concept_i)) / (2 / (K + 1)),   K = 60,

where ``r`` are 1-based ranks within the collection (tied scores share their average rank) and
``r_concept`` ranks the concept route's fused score (concepts and metadata text, :mod:`mmir.search.text_fusion`).
Ranks, not raw scores, are fused because a cosine between text and image embeddings (typically 0.1–0.35 for
CLIP) and a concept probability live on scales that no calibration set here could align; equal weights and
RRF's usual ``K`` because no real checkpoint ships to tune them on. The score is 1 for an item first in both
routes. When the concept route has nothing to say (no word maps to a concept or occurs in any file's text), the
text tower ranks alone: a joint collection never refuses a query.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Protocol

import numpy as np

from mmir.concepts.mapping import QueryMapping
from mmir.search.cancel import checkpoint
from mmir.search.concept_scoring import explain_many
from mmir.search.keyword_stream import Columns, Rows, block_scores, plan_terms
from mmir.search.sources import ScoredSource
from mmir.search.text_fusion import metadata_matrix, metadata_why

if TYPE_CHECKING:
    from mmir.index.catalog import Catalog
    from mmir.index.concept_columns import ConceptBlock

RRF_K = 60
BATCH = 4096


class TextEmbedder(Protocol):
    """A joint model's text tower (see :class:`mmir.models.joint.TextTower`)."""

    dim: int

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """``float32[N, E]`` L2-normalised embeddings of ``texts``."""
        ...


def joint_similarities(catalog: Catalog, ids: np.ndarray, query: np.ndarray) -> np.ndarray:
    """``float32[N]``: the dot product of ``query`` (``float32[E]``) with the stored descriptor of each of ``ids``.

    Items without a stored descriptor get ``-1`` (the least possible cosine).
    """
    out = np.full(len(ids), -1.0, np.float32)
    if not len(ids):
        return out
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    vector = np.asarray(query, np.float32).reshape(-1)
    for batch_ids, descriptors in catalog.iter_descriptors(BATCH):
        checkpoint()
        pos = np.clip(np.searchsorted(sorted_ids, batch_ids), 0, len(ids) - 1)
        known = sorted_ids[pos] == batch_ids
        out[order[pos[known]]] = descriptors[known] @ vector
    return out


def average_ranks(scores: np.ndarray) -> np.ndarray:
    """``float64[N]`` 1-based ranks of ``scores`` (higher is better); tied scores share their average rank."""
    _, inverse, counts = np.unique(-np.asarray(scores, np.float64), return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    return ((ends - counts + 1 + ends) / 2.0)[inverse]


def rank_fusion(joint: np.ndarray, concept: np.ndarray | None) -> np.ndarray:
    """``float32[N]`` reciprocal-rank-fused scores in (0, 1] (see the module docstring).

    Args:
        joint: ``float32[N]`` text-tower cosines.
        concept: ``float32[N]`` concept-route scores, or ``None`` when that route did not take part.
    """
    routes = [joint] if concept is None else [joint, concept]
    total = sum(1.0 / (RRF_K + average_ranks(scores)) for scores in routes)
    return (np.asarray(total) * (RRF_K + 1) / len(routes)).astype(np.float32)


def joint_why(cosine: float) -> tuple[str, ...]:
    """The reason shown for an item's text-tower match."""
    return (f"joint model: text–image cosine {cosine:.3f}",)


def joint_source(
    mapping: QueryMapping, blocks: Iterable[ConceptBlock], width: int, columns: Columns, rows: Rows,
    catalog: Catalog, tower: TextEmbedder,
) -> ScoredSource:  # fmt: skip
    """A text query on a joint-model collection as a candidate source: text tower and concept route fused.

    The concept route's score is exactly keyword search's (:mod:`mmir.search.keyword_stream`: concepts fused
    with metadata text), computed block by block; memory is ``O(N)`` scalars (ids, two scores), never ``N × C``.
    Scores are reciprocal-rank-fused, in ``(0, 1]`` (1: first in both routes).

    Args:
        mapping: The query mapped to concepts (importances set).
        blocks: Every segment's concepts, block by block in id order.
        width: Concept columns (model + user).
        columns: Reads a block's requested columns.
        rows: Full concept rows of the hits shown (for ``why``).
        catalog: The collection's catalog (metadata text, descriptors).
        tower: The collection's text tower.
    """
    from mmir.index.metadata_text import term_matches

    stream = iter(blocks)
    first = next(stream, None)  # an empty collection, known without COUNT(*) (a full-table scan)
    if first is None:
        return ScoredSource(np.zeros(0, np.int64), np.zeros(0, np.float32), lambda ids, scores: {})
    matches = term_matches(catalog, [term.term for term in mapping.terms], per_segment=True)
    plan = plan_terms(mapping, width, [bool(found) for found in matches])
    concept_used = bool(plan.active.any())
    id_parts, score_parts = [], []
    for block in itertools.chain([first], stream):
        checkpoint()
        id_parts.append(np.asarray(block.ids, np.int64))
        if concept_used:
            score_parts.append(block_scores(plan, mapping.mode, block, matches, columns)[0])
    ids = np.concatenate(id_parts)
    cosines = joint_similarities(catalog, ids, tower.encode([mapping.text])[0])
    scores = rank_fusion(cosines, np.concatenate(score_parts) if concept_used else None)
    cosine_of = dict(zip(ids.tolist(), cosines.tolist(), strict=True))

    def why(chosen: Sequence[int], _scores: Sequence[float]) -> dict[int, tuple[str, ...]]:
        wanted = np.asarray(list(chosen), np.int64)
        meta_rows = metadata_matrix(wanted, matches)
        concept_why = explain_many(mapping, rows(wanted.tolist()))
        return {
            int(sid): joint_why(cosine_of.get(int(sid), -1.0)) + metadata_why(mapping, meta_rows[n])
            + concept_why.get(int(sid), ())
            for n, sid in enumerate(wanted)
        }  # fmt: skip

    return ScoredSource(ids, scores, why)
