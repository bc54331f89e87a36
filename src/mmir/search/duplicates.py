"""Near-duplicate groups: items whose descriptors are almost identical, found by a FAISS range search.

Two items are linked when the inner product of their L2-normalised descriptors (cosine similarity) is at
least ``threshold``; groups are the connected components of these links (SciPy's ``connected_components``), so
a chain of near-identical edits ends up in one group even if its ends are further apart than the threshold.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from mmir.errors import MmirError


def similar_pairs(vectors: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All pairs ``i < j`` with ``vectors[i] · vectors[j] >= threshold`` (exact, FAISS range search).

    Args:
        vectors: ``float32[N, D]`` L2-normalised descriptors.
        threshold: Minimum inner product (cosine similarity for unit vectors).

    Returns:
        ``(i int64[M], j int64[M], similarity float32[M])`` row positions and their similarity.
    """
    import faiss

    x = np.ascontiguousarray(vectors, dtype=np.float32)
    if x.ndim != 2:
        raise MmirError(f"near-duplicate search needs vectors shaped [N, D], got {x.shape}")
    if len(x) == 0:
        empty = np.zeros(0, np.int64)
        return empty, empty, np.zeros(0, np.float32)
    index = faiss.IndexFlatIP(x.shape[1])
    index.add(x)
    # FAISS keeps inner products strictly above the radius; nudge it down so ">= threshold" holds.
    lims, sims, neighbours = index.range_search(x, float(np.nextafter(np.float32(threshold), np.float32(-np.inf))))
    limits = np.asarray(lims, dtype=np.int64)  # FAISS gives uint64 limits
    rows = np.repeat(np.arange(len(x)), (limits[1:] - limits[:-1]).astype(np.int64))
    keep = rows < neighbours
    return rows[keep], neighbours[keep].astype(np.int64), sims[keep]


Search = Callable[[np.ndarray, int], tuple[np.ndarray, np.ndarray]]


def neighbour_pairs(
    ids: np.ndarray, batches: Iterable[tuple[np.ndarray, np.ndarray]], search: Search, threshold: float,
    first_k: int = 32,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """The pairs of :func:`similar_pairs`, found by asking a vector index for each item's neighbours.

    Memory is bounded by one batch and the pairs found: no ``[N, D]`` matrix is built. Each item asks for its
    ``first_k`` nearest; an item whose ``k``-th neighbour is still at or above ``threshold`` asks again for
    four times as many, so every neighbour above the threshold is found (all of them with an exact index; as
    many as the index's recall finds with an approximate one).

    Args:
        ids: ``int64[N]`` ascending ids of the items that take part (others returned by ``search`` are ignored).
        batches: ``(ids int64[B], vectors float32[B, D])`` of the items, in any order, each batch bounded.
        search: ``(float32[Q, D], k) → (scores float32[Q, k], ids int64[Q, k])``, best first, ``-1`` for none.
        threshold: Minimum similarity.
        first_k: Neighbours asked for at first.

    Returns:
        ``(i int64[M], j int64[M], similarity float32[M])`` positions in ``ids`` with ``i < j``, each pair once.
    """
    found: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for batch_ids, vectors in batches:
        rows, member = _find(ids, batch_ids)
        rows, pending = rows[member], np.ascontiguousarray(vectors[member], np.float32)
        k = min(first_k, len(ids))
        while len(rows):
            scores, neighbours = search(pending, k)
            more = (scores[:, -1] >= threshold) & (k < len(ids))  # the k-th is still close: there may be more
            done = ~more
            found.append(_pairs_of(ids, rows[done], scores[done], neighbours[done], threshold))
            rows, pending, k = rows[more], pending[more], min(k * 4, len(ids))
    if not found:
        empty = np.zeros(0, np.int64)
        return empty, empty, np.zeros(0, np.float32)
    first, second, sims = (np.concatenate(part) for part in zip(*found, strict=True))
    # A pair is usually found from both ends (with an approximate index, maybe from one): keep it once.
    _, once = np.unique(first * len(ids) + second, return_index=True)
    return first[once], second[once], sims[once].astype(np.float32)


def _pairs_of(
    ids: np.ndarray, rows: np.ndarray, scores: np.ndarray, neighbours: np.ndarray, threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs of positions ``(lower, higher)`` of each row and its neighbours with similarity ≥ threshold."""
    positions, valid = _find(ids, neighbours)
    valid &= (neighbours >= 0) & (scores >= threshold)
    row_of = np.broadcast_to(rows[:, None], neighbours.shape)
    keep = valid & (row_of != positions)
    a, b = row_of[keep].astype(np.int64), positions[keep].astype(np.int64)
    return np.minimum(a, b), np.maximum(a, b), scores[keep]


def _find(ids: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions of ``values`` (any shape) in the ascending ``ids int64[N]``, and whether each is there."""
    positions = np.searchsorted(ids, values)
    return positions, (positions < len(ids)) & (ids[np.minimum(positions, len(ids) - 1)] == values)


def near_duplicate_groups(ids: np.ndarray, vectors: np.ndarray, threshold: float = 0.9) -> list[list[int]]:
    """Groups of near-identical items (connected components of ``similarity >= threshold``).

    Args:
        ids: ``int64[N]`` item ids (e.g. catalog segment ids).
        vectors: ``float32[N, D]`` L2-normalised descriptors, row ``i`` belonging to ``ids[i]``.
        threshold: Cosine similarity from which two items count as near-duplicates; higher is stricter.

    Returns:
        Groups of two or more ids, each sorted ascending; groups ordered by size (largest first), then by
        their smallest id.

    Raises:
        MmirError: if ``ids`` and ``vectors`` disagree in length or ``threshold`` is outside ``[-1, 1]``.
    """
    ids = np.asarray(ids, dtype=np.int64)
    if len(ids) != len(vectors):
        raise MmirError(f"{len(ids)} ids but {len(vectors)} vectors")
    if not -1.0 <= threshold <= 1.0:
        raise MmirError(f"the near-duplicate threshold is a cosine similarity in [-1, 1], got {threshold}")
    first, second, _ = similar_pairs(vectors, threshold)
    return groups_from_pairs(ids, first, second)


def groups_from_pairs(ids: np.ndarray, first: np.ndarray, second: np.ndarray) -> list[list[int]]:
    """Connected components of linked row pairs ``(first[m], second[m])``, as sorted lists of ``ids``.

    Groups of two or more ids, ordered by size (largest first), then by their smallest id.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    links = coo_matrix((np.ones(len(first), np.int8), (first, second)), shape=(len(ids), len(ids)))
    _, component = connected_components(links, directed=False)
    members: dict[int, list[int]] = {}
    for row in np.unique(np.concatenate([first, second])).tolist():
        members.setdefault(int(component[row]), []).append(int(ids[row]))
    groups = [sorted(group) for group in members.values() if len(group) > 1]
    return sorted(groups, key=lambda group: (-len(group), group[0]))
