"""Helpers the quality benchmarks share: scores through the product's one search path, ties counted pessimistically.

- :func:`product_scores` ranks every segment with ``Collection.search(query, k=N, per="shot")`` (the path the CLI
  and the server run) and gives each segment's score (``-inf`` for segments it does not return);
- :func:`pessimistic_ap` / :func:`pessimistic_rank`: a relevant item tied with others counts as ranked after all
  of them (a constant score cannot look good by the input order);
- :func:`index_with_channels`: index folders with engineered descriptor channels, as ``--descriptors`` does;
  :func:`segment_paths`: each segment's file;
- :func:`concept_matrix`: every segment's stored concept probabilities, for the ablation rows that rescore the
  matrix with variants of the formula (the product itself never reads it whole).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def concept_matrix(coll: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(segment ids int64[N], float32[N, C])`` of every segment (model concepts; no user concepts)."""
    return coll.store.catalog.all_concepts()


def product_scores(coll: Any, query: Any, ids: np.ndarray, spatial: Any = None) -> np.ndarray:
    """``float64[N]``: each of ``ids``' score for ``query`` through ``Collection.search`` (``-inf`` if not returned;
    a query the product refuses scores every segment ``-inf``).

    With ``spatial`` (a ``SpatialConfig``) the re-ranked order is what counts, not the cosines the hits keep, so
    each hit scores minus its 1-based position in the product's list (no ties).
    """
    from mmir.errors import QueryError

    out = np.full(len(ids), -np.inf)
    try:
        hits = coll.search(query, k=max(coll.store.catalog.counts()[1], 1), per="shot", spatial=spatial)
    except QueryError:
        return out
    where = {int(i): n for n, i in enumerate(ids)}
    for position, hit in enumerate(hits, 1):
        if hit.segment.id in where:
            out[where[hit.segment.id]] = hit.score if spatial is None else -position
    return out


def index_with_channels(coll: Any, roots: Sequence[Any], channels: Sequence[str]) -> Any:
    """Index ``roots`` into ``coll`` as ``mmir index ROOTS --descriptors CHANNELS`` does (bovw vocabulary learned
    on the roots); returns the index report."""
    from mmir.indexing.pipeline import IndexOptions

    extractors = coll.channel_extractors(list(channels), list(roots))
    options = IndexOptions(progress=False, channels=tuple(extractors))
    return coll.index(list(roots), options, channel_sink=coll.channel_sink())


def segment_paths(coll: Any, ids: np.ndarray) -> list[str]:
    """The file path of each segment of ``ids`` (``int64[N]``), in order."""
    rows = coll.store.catalog.hits_rows([int(i) for i in ids])
    return [rows[int(i)][0].path for i in ids]


def pessimistic_ap(scores: np.ndarray, relevant: np.ndarray) -> float:
    """Average precision with ties broken against the relevant items; ``nan`` when nothing is relevant."""
    relevant = np.asarray(relevant, bool)
    if not relevant.any():
        return float("nan")
    order = np.lexsort((relevant.astype(int), -np.asarray(scores, np.float64)))  # tied: irrelevant first
    hits = relevant[order]
    precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float(precision[hits].mean())


def pessimistic_rank(scores: np.ndarray, target: int) -> int:
    """1-based rank of item ``target``, every item tied with it ranked before it."""
    scores = np.asarray(scores, np.float64)
    return int(np.sum(scores >= scores[target]))
