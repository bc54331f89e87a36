"""Near-duplicate groups over a collection (:meth:`mmir.api.Collection.near_duplicates`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from mmir.errors import MmirError

# Segments whose neighbours are asked for at a time. Small, because an approximate index re-ranks ~100
# candidates a query from stored descriptors: 64 × 100 × 5 KB = 33 MB at 1,280-d.
BATCH = 64

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

    from mmir.index.catalog import Catalog
    from mmir.index.store import SegmentStore
    from mmir.search.spatial import SpatialConfig
    from mmir.types import MediaRef


def near_duplicates(
    store: SegmentStore, threshold: float = 0.9, spatial: SpatialConfig | None = None, loose: float = 0.5
) -> list[list[MediaRef]]:
    """Groups of near-identical files (cosine similarity of index vectors ≥ ``threshold``).

    With ``spatial``, pairs from cosine ``loose`` up are also linked when local features verify them
    geometrically (crops, rescales), at the cost of decoding those files (:mod:`mmir.search.spatial`).
    """
    from mmir.search.duplicates import groups_from_pairs

    if not -1.0 <= threshold <= 1.0:
        raise MmirError(f"the near-duplicate threshold is a cosine similarity in [-1, 1], got {threshold}")
    ids = _segment_ids(store.catalog)
    if not len(ids):
        return []
    if spatial is None:
        groups = groups_from_pairs(ids, *_index_pairs(store, ids, threshold)[:2])
    else:
        # Candidates from cosine `loose` up come from the vector index like the plain mode's pairs; only the
        # files of pairs below `threshold` are decoded, to verify them geometrically.
        from mmir.search.spatial import verify_pairs

        candidates = _index_pairs(store, ids, min(loose, threshold))
        load = _segment_image_loader(store, ids, spatial.max_side)
        groups = groups_from_pairs(ids, *verify_pairs(candidates, len(ids), load, threshold, spatial))
    rows = store.catalog.hits_rows([sid for group in groups for sid in group])
    result = []
    for group in groups:
        media = {rows[sid][0].id: rows[sid][0] for sid in group}  # a file's segments count once
        if len(media) > 1:
            result.append(sorted(media.values(), key=lambda ref: ref.path))
    return result


def _segment_ids(catalog: Catalog) -> np.ndarray:
    """``int64[N]`` ascending ids of the segments that take part (blank video keyframes left out)."""
    import numpy as np

    from mmir.index.frames import blank_segments

    ids = catalog.segment_ids()
    blank = blank_segments(catalog)
    return ids[~np.isin(ids, np.fromiter(blank, np.int64, len(blank)))] if blank else ids


def _index_pairs(
    store: SegmentStore, ids: np.ndarray, threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs of positions in ``ids`` with similarity ≥ ``threshold``: each segment's neighbours in the vector
    index, :data:`BATCH` segments at a time (the index re-ranks its candidates exactly)."""
    from mmir.search.duplicates import neighbour_pairs

    return neighbour_pairs(ids, store.source().batches(BATCH), store.vectors.search, threshold)


def _segment_image_loader(store: SegmentStore, ids: np.ndarray, max_side: int) -> Callable[[int], Image.Image | None]:
    """Row ``i`` → the decoded image of segment ``ids[i]``'s file (``None`` if it cannot be read now)."""
    from mmir.media import MediaError, load_image

    def load(row: int) -> Image.Image | None:
        segment = int(ids[row])
        try:  # one catalog row per file decoded: only files with a pair to verify are looked up
            return load_image(store.catalog.hits_rows([segment])[segment][0].path, min_side=max_side)
        except (MediaError, KeyError):
            return None

    return load
