"""Search the words photos show and videos say: a field-restricted source and its fusion into keyword search.

* :func:`field_source` answers a :class:`~mmir.search.queries.FieldQuery` (``mmir search --shows "EXIT"`` /
  ``--said "welcome everyone"``) in the one pipeline (:mod:`mmir.search.pipeline`): the query is a phrase; the
  segments whose visible text (``shows``) or speech (``said``) holds it rank by BM25 (normalised by the best, so
  in (0, 1]: :data:`mmir.search.scales.SCALES` ``field``), OCR misreadings match fuzzily with a lower score; the
  shared grouping (:mod:`mmir.search.grouping`) makes them ``k`` distinct files or shots.
* :func:`fused_matches` gives keyword search, per query term, the visible-text/speech relevance of each
  segment, which it fuses with the metadata text (the same ``1 − (1 − s)(1 − w·m)`` evidence as metadata).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from mmir.index import visible_text
from mmir.index.visible_text import TextMatch
from mmir.search.sources import ScoredSource

if TYPE_CHECKING:
    from mmir.index.catalog import Catalog
    from mmir.search.queries import FieldQuery


def field_source(catalog: Catalog, query: FieldQuery) -> ScoredSource:
    """Every segment whose ``query.fields`` hold ``query.text``, scored in (0, 1], with ``why`` lines
    (``text in image: 'STOP'``, ``said at 12.4 s: '…'``).

    FTS5 finds every match in one pass (SQL stays in :mod:`mmir.index.visible_text`); the grouping then ranks
    from these scores as deep as it needs, so no fixed over-fetch can leave fewer than ``k`` files.
    """
    matches = visible_text.term_matches(catalog, [query.text], query.fields, fuzzy=query.fuzzy)[0]
    ids, scores = ranked(matches)

    def explain(shown: Sequence[int], _scores: Sequence[float]) -> dict[int, tuple[str, ...]]:
        return {
            int(sid): tuple(visible_text.explain(catalog, int(sid), [query.text], [matches[int(sid)]]))
            for sid in shown
            if int(sid) in matches
        }

    return ScoredSource(ids, scores, explain, positive_only=True)


def ranked(matches: dict[int, TextMatch]) -> tuple[np.ndarray, np.ndarray]:
    """``(segment ids int64[M], scores float32[M])`` best first (ties: lower id first)."""
    if not matches:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    ids = np.fromiter(matches.keys(), np.int64, len(matches))
    scores = np.fromiter((m.score for m in matches.values()), np.float32, len(matches))
    order = np.lexsort((ids, -scores))
    return ids[order], scores[order]


def fused_matches(
    catalog: Catalog, terms: Sequence[str], metadata: Sequence[dict[int, float]]
) -> tuple[list[dict[int, float]], list[dict[int, TextMatch]]]:
    """Per term, metadata relevance merged with visible-text/speech relevance (both scaled to (0, 1]; the larger
    counts), and the visible-text matches themselves (for ``why``).

    Args:
        catalog: The collection's catalog.
        terms: The query's terms.
        metadata: Per term, ``segment id → BM25`` of the metadata text (:func:`mmir.index.metadata_text.term_matches`).
    """
    text = visible_text.term_matches(catalog, terms)
    merged: list[dict[int, float]] = []
    for found, meta in zip(text, metadata, strict=True):
        if not found:
            merged.append(meta)
            continue
        best = max(meta.values()) if meta else 1.0
        out = {sid: score / best for sid, score in meta.items()}
        for sid, match in found.items():
            out[sid] = max(out.get(sid, 0.0), match.score)
        merged.append(out)
    return merged, text


def why_lines(
    catalog: Catalog, segment_id: int, terms: Sequence[str], text: Sequence[dict[int, TextMatch]]
) -> list[str]:
    """``text in image: …`` / ``said at … s: …`` for the terms whose visible text or speech matched the segment."""
    pairs = [(term, found[segment_id]) for term, found in zip(terms, text, strict=True) if segment_id in found]
    if not pairs:
        return []
    return visible_text.explain(catalog, segment_id, [t for t, _ in pairs], [m for _, m in pairs])
