"""Pure retrieval metrics: AP, mAP, P@k, R@k and inferred AP.

Conventions shared by every function here:

* A *ranking* is given best-first. Where a function takes scores, higher is better and ties are broken
  by position (the lower index ranks first), so results are deterministic; :func:`rank_by_score` is that order.
* AP of a query with no relevant item is undefined: ``nan`` (the one convention of :mod:`mmir.evaluate`, also
  :func:`mmir.evaluate.classification.mean_average_precision`'s for a class with no positive). Means skip
  undefined values, as ``trec_eval`` averages only over queries with a relevant judgement;
  :func:`mean_average_precision` can count them as 0 instead (``skip_empty=False``). P@k and R@k of such a
  query are 0 (nothing relevant was found). A mean over nothing is ``nan``. Inferred AP is an estimate from
  a sample, and is 0 when the sample holds no relevant item.
* Nothing here mutates its inputs or has side effects.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# TRECVID sample_eval / Yilmaz & Aslam use a tiny epsilon so that an empty sample gives a finite ratio.
INFAP_EPSILON = 1e-5


def rank_by_score(scores: np.ndarray) -> np.ndarray:
    """Indices that sort ``scores`` (``float[N]``) best-first; ties keep their original order.

    Returns:
        ``int64[N]`` permutation.
    """
    scores = np.asarray(scores)
    # A stable sort of the negated scores keeps tied items in index order.
    return np.argsort(-scores, kind="stable").astype(np.int64)


def average_precision(ranked_relevant: np.ndarray | Sequence[bool], n_relevant: int | None = None) -> float:
    """Average precision of one ranked list.

    Args:
        ranked_relevant: ``bool[n]``, whether the item at each rank (best first) is relevant.
        n_relevant: Total number of relevant items for the query (``R``), which can exceed those retrieved
            when the ranking is truncated; defaults to ``ranked_relevant.sum()``.

    Returns:
        ``(1/R) Σ_{relevant ranks r} P@r`` (0.0 when none of the ``R`` was retrieved), or ``nan`` when ``R = 0``.
    """
    rel = np.asarray(ranked_relevant, dtype=bool)
    total = int(rel.sum()) if n_relevant is None else int(n_relevant)
    if total <= 0:
        return float("nan")
    if not rel.any():
        return 0.0
    if total < int(rel.sum()):
        raise ValueError(f"n_relevant={total} is smaller than the {int(rel.sum())} relevant items retrieved")
    hits = np.cumsum(rel)
    ranks = np.flatnonzero(rel) + 1
    return float((hits[rel] / ranks).sum() / total)


def average_precision_from_scores(scores: np.ndarray, relevant: np.ndarray) -> float:
    """AP of the full ranking of ``N`` items by ``scores`` (``float[N]``) given ``relevant`` (``bool[N]``).

    Ties keep input order (see :func:`rank_by_score`); ``nan`` when nothing is relevant.
    """
    rel = np.asarray(relevant, dtype=bool)
    return average_precision(rel[rank_by_score(scores)], int(rel.sum()))


def mean_average_precision(
    rankings: Sequence[np.ndarray | Sequence[bool]],
    n_relevant: Sequence[int] | None = None,
    skip_empty: bool = True,
) -> float:
    """Mean of :func:`average_precision` over queries.

    Args:
        rankings: One ``bool[n_q]`` ranked relevance list per query.
        n_relevant: Total relevant items per query (defaults to what each list holds).
        skip_empty: Leave out queries with no relevant item (trec_eval's habit); otherwise they count as 0.

    Returns:
        The mean, or ``nan`` when no query is left.
    """
    values: list[float] = []
    for i, ranking in enumerate(rankings):
        total = int(np.asarray(ranking, dtype=bool).sum()) if n_relevant is None else int(n_relevant[i])
        if total == 0:
            if not skip_empty:
                values.append(0.0)
            continue
        values.append(average_precision(ranking, total))
    return float(np.mean(values)) if values else float("nan")


def precision_at_k(ranked_relevant: np.ndarray | Sequence[bool], k: int) -> float:
    """Fraction of the top ``k`` that is relevant; a list shorter than ``k`` counts the missing ranks as misses.

    Raises:
        ValueError: if ``k < 1``.
    """
    if k < 1:
        raise ValueError(f"k must be ≥ 1, got {k}")
    rel = np.asarray(ranked_relevant, dtype=bool)
    return float(rel[:k].sum() / k)


def recall_at_k(ranked_relevant: np.ndarray | Sequence[bool], k: int, n_relevant: int | None = None) -> float:
    """Fraction of all ``n_relevant`` relevant items found in the top ``k`` (0.0 when there are none).

    Raises:
        ValueError: if ``k < 1``.
    """
    if k < 1:
        raise ValueError(f"k must be ≥ 1, got {k}")
    rel = np.asarray(ranked_relevant, dtype=bool)
    total = int(rel.sum()) if n_relevant is None else int(n_relevant)
    return float(rel[:k].sum() / total) if total > 0 else 0.0


def inferred_average_precision(ranked_judgements: np.ndarray | Sequence[int], epsilon: float = INFAP_EPSILON) -> float:
    """Inferred AP (Yilmaz & Aslam 2006), as TRECVID's ``sample_eval`` computes it for one sample stratum.

    Judgements come from a random sample of a pool: relevant (1), judged non-relevant (0), in the pool but
    not sampled (-1), and not in the pool at all (-2, e.g. absent from the qrels; counted as non-relevant).
    The expected precision at each sampled relevant rank ``k`` is
    ``1/k + (k-1)/k · (|pooled above| / (k-1)) · (rel + ε) / (rel + nonrel + 2ε)``.
    With complete judgements (no -1) this equals :func:`average_precision`.

    Args:
        ranked_judgements: ``int[n]`` judgement of the item at each rank, best first.
        epsilon: Smoothing for ranks with no judged item above.

    Returns:
        Mean expected precision over the sampled relevant items, or 0.0 if none was sampled.
    """
    judged = np.asarray(ranked_judgements, dtype=np.int64)
    n_sampled_rel = int((judged == 1).sum())
    if n_sampled_rel == 0:
        return 0.0
    pooled_above = np.concatenate(([0], np.cumsum(judged >= -1)[:-1]))
    rel_above = np.concatenate(([0], np.cumsum(judged == 1)[:-1]))
    nonrel_above = np.concatenate(([0], np.cumsum(judged == 0)[:-1]))
    total = 0.0
    for index in np.flatnonzero(judged == 1):
        k = index + 1
        if k == 1:
            total += 1.0
            continue
        ratio = (rel_above[index] + epsilon) / (rel_above[index] + nonrel_above[index] + 2 * epsilon)
        total += 1.0 / k + (k - 1) / k * (pooled_above[index] / (k - 1)) * ratio
    return total / n_sampled_rel


def class_retrieval_map(
    query_vectors: np.ndarray,
    query_labels: np.ndarray,
    database_vectors: np.ndarray,
    database_labels: np.ndarray,
    chunk: int = 256,
) -> float:
    """mAP of class-level retrieval over the full ranking of the database (relevant = same label).

    Scores are inner products (cosine for L2-normalised rows), ties broken by database position. Queries whose
    label is absent from the database have no AP and are left out of the mean (``nan`` if no query is left).

    Args:
        query_vectors: ``float32[Q, D]``.
        query_labels: ``int[Q]``.
        database_vectors: ``float32[N, D]``.
        database_labels: ``int[N]``.
        chunk: Queries scored at once (bounds memory to ``chunk × N`` floats).
    """
    db = np.ascontiguousarray(database_vectors, dtype=np.float32)
    db_labels = np.asarray(database_labels)
    aps: list[float] = []
    for start in range(0, len(query_vectors), chunk):
        scores = np.asarray(query_vectors[start : start + chunk], dtype=np.float32) @ db.T
        order = np.argsort(-scores, axis=1, kind="stable")
        for row, label in zip(order, query_labels[start : start + chunk], strict=True):
            rel = db_labels[row] == label
            if rel.any():
                aps.append(average_precision(rel))
    return float(np.mean(aps)) if aps else float("nan")
