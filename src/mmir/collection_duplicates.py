"""Near-duplicate groups over a collection (:meth:`mmir.api.Collection.near_duplicates`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

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
    from mmir.search.duplicates import groups_from_pairs, near_duplicate_groups

    ids, descriptors = store.catalog.all_descriptors()
    ids, descriptors = _without_blank_keyframes(store.catalog, ids, descriptors)
    if not len(ids):
        return []
    if spatial is None:
        groups = near_duplicate_groups(ids, store.project(descriptors), threshold)
    else:
        from mmir.search.spatial import verified_pairs

        load = _segment_image_loader(store, ids, spatial.max_side)
        pairs = verified_pairs(store.project(descriptors), load, threshold, loose, spatial)
        groups = groups_from_pairs(ids, *pairs)
    rows = store.catalog.hits_rows([sid for group in groups for sid in group])
    result = []
    for group in groups:
        media = {rows[sid][0].id: rows[sid][0] for sid in group}  # a file's segments count once
        if len(media) > 1:
            result.append(sorted(media.values(), key=lambda ref: ref.path))
    return result


def _segment_image_loader(store: SegmentStore, ids: np.ndarray, max_side: int) -> Callable[[int], Image.Image | None]:
    """Row ``i`` → the decoded image of segment ``ids[i]``'s file (``None`` if it cannot be read now)."""
    from mmir.media import MediaError, load_image

    rows = store.catalog.hits_rows([int(i) for i in ids])

    def load(row: int) -> Image.Image | None:
        try:
            return load_image(rows[int(ids[row])][0].path, min_side=max_side)
        except (MediaError, KeyError):
            return None

    return load


def _without_blank_keyframes(
    catalog: Catalog, ids: np.ndarray, descriptors: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Drop video segments whose keyframe is uniform: two videos that both open on black are not duplicates."""
    import numpy as np

    from mmir.index.frames import blank_segments

    blank = blank_segments(catalog)
    if not blank:
        return ids, descriptors
    keep = ~np.isin(ids, np.fromiter(blank, np.int64, len(blank)))
    return ids[keep], descriptors[keep]
