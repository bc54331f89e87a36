"""Keyword search streamed over concept blocks: bounded memory at any collection size.

The scores are those of :func:`mmir.search.text_fusion.fuse` (concepts fused with metadata text, terms combined
by soft AND / noisy-OR) over a full matrix; only the order of work differs. Instead of a ``float32[N, C]`` matrix
of every segment's concepts, each block of segments (:mod:`mmir.index.concept_columns`) gives just the ``K`` concept
columns the query's terms use, is scored, and leaves its best rows in a running top list. Two things are
global and so are settled before the first block: the metadata matches (one FTS5 query per term, normalised by
the term's best BM25 over the collection, as before) and which terms take part (a term with no concept counts
only if *some* segment's text holds it). Ties rank the lower segment id first, as the full sort did.
:class:`KeywordSource` is keyword search's candidate source in the one pipeline (:mod:`mmir.search.pipeline`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from mmir.concepts.mapping import QueryMapping, QueryMode
from mmir.errors import QueryError
from mmir.search import text_fusion
from mmir.search.cancel import checkpoint
from mmir.search.concept_scoring import combine_terms, explain_many
from mmir.search.scales import query_confidence
from mmir.search.sources import Ranked, ranked_from_arrays
from mmir.search.text_fusion import META_IMPORTANCE, metadata_matrix, metadata_why
from mmir.search.visible_text_search import fused_matches, why_lines

if TYPE_CHECKING:
    from mmir.index.catalog import Catalog
    from mmir.index.concept_columns import ConceptBlock
    from mmir.index.visible_text import TextMatch

# Block → float32[B, K] values of the requested concept columns (model columns, then user concepts after them).
Columns = Callable[["ConceptBlock", np.ndarray], np.ndarray]
# Segment ids → their full concept rows float32[M, C + U], for the ``why`` of the few hits shown.
Rows = Callable[[Sequence[int]], dict[int, np.ndarray]]


@dataclass(frozen=True)
class TermPlan:
    """What a mapped query needs from each block.

    Attributes:
        concepts: ``int64[K]`` the concept columns any term uses (ascending).
        weights: ``float32[T, K]`` each term's weight on them (a concept listed twice in a term keeps its max).
        importance: ``float64[T]`` term importances (:data:`META_IMPORTANCE` for a metadata-only term).
        active: ``bool[T]`` terms that take part (a concept, or a metadata match somewhere).
        specificity: ``float32[T]`` factor on each term's metadata relevance, ``1 − (share of segments whose text
            holds the term)``: a word in every file name (a folder ``train2017/`` over half the collection) tells
            the files apart no more than no word; ``None``: 1 for every term.
    """

    concepts: np.ndarray
    weights: np.ndarray
    importance: np.ndarray
    active: np.ndarray
    specificity: np.ndarray | None = None


def plan_terms(mapping: QueryMapping, width: int, metadata_any: Sequence[bool]) -> TermPlan:
    """The :class:`TermPlan` of ``mapping`` over ``width`` concept columns.

    Args:
        mapping: The query mapped to concepts, every term kept (matched or not).
        width: Concept columns available (model + user concepts).
        metadata_any: Per term, whether any segment's metadata text contains it.

    Raises:
        QueryError: a term points to a column ``≥ width`` (a mapping made for another vocabulary).
    """
    terms = mapping.terms
    used = sorted({c.index for t in terms for c in t.concepts})
    if used and not (used[0] >= 0 and used[-1] < width):
        bad = next(c for t in terms for c in t.concepts if not 0 <= c.index < width)
        raise QueryError(f"concept {bad.name!r} (column {bad.index}) is not among {width}")
    position = {column: j for j, column in enumerate(used)}
    weights = np.zeros((len(terms), len(used)), np.float32)
    for row, term in enumerate(terms):
        for concept in term.concepts:
            j = position[concept.index]
            weights[row, j] = max(weights[row, j], concept.weight)
    importance = np.array(
        [
            t.importance if t.matched else (META_IMPORTANCE if m else 0.0)
            for t, m in zip(terms, metadata_any, strict=True)
        ]
    )
    active = np.array([t.matched or bool(m) for t, m in zip(terms, metadata_any, strict=True)], dtype=bool)
    return TermPlan(np.asarray(used, np.int64), weights, importance, active)


def score_block(plan: TermPlan, mode: QueryMode, probs: np.ndarray, metadata: np.ndarray) -> np.ndarray:
    """Fused scores ``float32[B]`` of one block from its ``float32[B, K]`` columns and ``float32[B, T]`` metadata."""
    concept = np.clip(probs @ plan.weights.T, 0.0, 1.0)
    if plan.specificity is not None and metadata.shape[1]:
        metadata = metadata * plan.specificity
    fused = 1.0 - (1.0 - concept) * (1.0 - text_fusion.META_WEIGHT * metadata)  # read now: benchmarks vary it
    return combine_terms(fused[:, plan.active], plan.importance[plan.active], mode)


def block_scores(
    plan: TermPlan, mode: QueryMode, block: ConceptBlock, matches: Sequence[dict[int, float]], columns: Columns
) -> tuple[np.ndarray, np.ndarray]:
    """One block's fused scores ``float32[B]`` and its metadata matrix ``float32[B, T]``.

    ``matches`` is :func:`mmir.index.metadata_text.term_matches` per segment for the query's ``T`` terms.
    """
    if matches:
        meta = np.asarray(metadata_matrix(block.ids, matches), np.float32)
    else:
        meta = np.zeros((len(block.ids), 0), np.float32)
    probs = columns(block, plan.concepts) if len(plan.concepts) else np.zeros((len(block.ids), 0), np.float32)
    return score_block(plan, mode, probs, meta), meta


class KeywordSource:
    """Keyword search as a candidate source (:mod:`mmir.search.sources`), one block of segments at a time.

    Settled once: the metadata matches (one FTS5 query per term) and which terms take part. The first :meth:`top`
    streams the blocks once and keeps every segment's score (12 bytes a segment, never ``N × C``); deeper rounds of
    grouping (:mod:`mmir.search.grouping`) read them again instead of streaming again.

    Args:
        mapping: The query mapped to concepts (importances set).
        blocks: Returns every segment's concepts, block by block in id order (a fresh iterator each call).
        width: Concept columns (model + user).
        columns: Reads a block's requested columns.
        rows: Full concept rows of the hits shown (for ``why``).
        catalog: The collection's catalog (metadata text).
        calibrated: Multiply every score by the query's mapping confidence in ``[0, 1]``
            (:func:`mmir.search.scales.query_confidence`): the same factor for every segment, so no order
            changes, but scores of different queries become comparable.

    Raises:
        QueryError: no term of the query maps to a concept or occurs in any file's text.
    """

    def __init__(
        self, mapping: QueryMapping, blocks: Callable[[], Iterable[ConceptBlock]], width: int, columns: Columns,
        rows: Rows, catalog: Catalog, calibrated: bool = True,
    ) -> None:  # fmt: skip
        from mmir.index.metadata_text import term_matches

        self.mapping, self._blocks, self.width, self._columns, self._rows = mapping, blocks, width, columns, rows
        self.confidence = 1.0
        self._scored: tuple[np.ndarray, np.ndarray] | None = None  # every segment's (ids, scores), once computed
        self.empty = next(iter(blocks()), None) is None  # no COUNT(*): it scans the whole table
        if self.empty:  # an empty collection (width 0): no hits, and no columns to check the terms against
            if not any(term.matched for term in mapping.terms):
                raise _nothing_matches(mapping)
            self.matches: list[dict[int, float]] = []
            self.metadata: list[dict[int, float]] = []
            self.visible: list[dict[int, TextMatch]] = []
            return
        terms = [term.term for term in mapping.terms]
        self.metadata = term_matches(catalog, terms, per_segment=True)
        # Words the photos show and the videos say count as text evidence too (mmir.search.visible_text_search).
        self.matches, self.visible = fused_matches(catalog, terms, self.metadata)
        self._catalog = catalog
        self.plan = plan_terms(mapping, width, [bool(found) for found in self.matches])
        if not self.plan.active.any():  # a matched term is always active: nothing matched at all
            raise _nothing_matches(mapping)
        if text_fusion.META_SPECIFICITY and any(self.matches):  # read now: benchmarks vary it
            total = max(catalog.counts()[1], 1)
            counts = [len(found) for found in self.matches]
            self.plan = replace(self.plan, specificity=text_fusion.specificity(counts, total))
        if calibrated:
            self.confidence = query_confidence(mapping, self.plan.active.tolist(), self.plan.importance)

    def top(self, n: int) -> Ranked:
        if self.empty:
            return Ranked(np.zeros(0, np.int64), np.zeros(0, np.float32), exhausted=True)
        if self._scored is None:  # one pass over the blocks; deeper rounds of grouping reuse it (12 bytes a segment)
            ids, scores = [], []
            for block in self._blocks():
                checkpoint()  # a client gone or over budget stops here, between blocks
                ids.append(np.asarray(block.ids, np.int64))
                scores.append(block_scores(self.plan, self.mapping.mode, block, self.matches, self._columns)[0])
            scaled = np.concatenate(scores).astype(np.float32) * np.float32(self.confidence)
            self._scored = (np.concatenate(ids), scaled)
        ids_all, scores_all = self._scored
        return ranked_from_arrays(ids_all, scores_all, n, positive_only=True)

    def explain(self, ids: Sequence[int], scores: Sequence[float]) -> dict[int, tuple[str, ...]]:
        chosen = np.asarray(list(ids), np.int64)
        meta = metadata_matrix(chosen, self.metadata) if self.metadata else np.zeros((len(chosen), 0), np.float32)
        concept_rows = self._rows(chosen.tolist())
        terms = [term.term for term in self.mapping.terms]
        concept_why = explain_many(self.mapping, concept_rows)
        return {
            int(sid): (metadata_why(self.mapping, meta[n]) if self.metadata else ())
            + tuple(why_lines(self._catalog, int(sid), terms, self.visible) if self.visible else ())
            + concept_why.get(int(sid), ())
            for n, sid in enumerate(chosen)
        }


def concept_scores(
    mapping: QueryMapping, blocks: Iterable[ConceptBlock], width: int, columns: Columns
) -> tuple[np.ndarray, np.ndarray]:
    """Concept-only scores of every segment, terms combined by :func:`~mmir.search.concept_scoring.combine_terms`.

    Returns:
        ``(ids int64[N], scores float32[N])``: 12 bytes a segment, whatever the number of concepts.
    """
    stream = iter(blocks)
    first = next(stream, None)
    if first is None:  # an empty collection (width 0): no columns to check the terms against
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    matched = QueryMapping(mapping.text, mapping.mode, mapping.matched_terms)
    plan = plan_terms(matched, width, [False] * len(matched.terms))
    ids, scores = [], []
    for block in itertools.chain([first], stream):
        checkpoint()
        per_term = np.clip(columns(block, plan.concepts) @ plan.weights.T, 0.0, 1.0)
        ids.append(block.ids)
        scores.append(combine_terms(per_term, plan.importance, mapping.mode))
    return np.concatenate(ids).astype(np.int64), np.concatenate(scores).astype(np.float32)


def _nothing_matches(mapping: QueryMapping) -> QueryError:
    return QueryError(f"no concept or file text matches {mapping.text!r}; try other words (see `mmir concepts`)")
