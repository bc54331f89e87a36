"""Group a source's segments to the unit asked for — files or shots — until ``k`` distinct units are found.

One rule for every query kind (it replaces four fixed over-fetch formulas): ask the source for
``K_FACTOR · k`` segments (plus the excluded ones), keep each unit's best segment, and while fewer than ``k``
units came out and the source has more, ask for ``GROWTH`` times as many. The models are faiss ``IndexRefine``'s
``k_factor``, Milvus ``group_by_field`` and sentence-transformers' doubling loop. A video of many shots can no
longer fill the window and leave one file where ``k`` were asked for.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mmir.search.cancel import checkpoint
from mmir.search.queries import Per

if TYPE_CHECKING:
    from mmir.index.catalog import Catalog
    from mmir.search.sources import Ranked, Source
    from mmir.types import MediaRef, Segment

K_FACTOR = 2  # first depth: 2k segments (most queries then need one round)
GROWTH = 4  # each further round asks for 4x as many (a 40-shot video needs at most two more rounds)


@dataclass(frozen=True)
class Grouped:
    """One unit's best segment.

    Attributes:
        media: Its file.
        segment: The segment that scored best for the unit.
        score: That segment's score.
    """

    media: MediaRef
    segment: Segment
    score: float


def group(
    source: Source, catalog: Catalog, k: int, per: Per = Per.FILE,
    exclude_media: Collection[int] = (), exclude_segments: Collection[int] = (),
) -> list[Grouped]:  # fmt: skip
    """The ``k`` best units of ``source`` (fewer only when it is exhausted), best first.

    Args:
        source: Ranks segments.
        catalog: Maps segment ids to their file and time span.
        k: Units wanted.
        per: ``FILE`` (each file's best segment) or ``SHOT`` (every segment is its own unit).
        exclude_media: Files never returned (the query file of "similar").
        exclude_segments: Segments never returned (the query shot).
    """
    if k <= 0:
        return []
    depth = K_FACTOR * k + len(exclude_segments)
    while True:
        checkpoint()  # each round may stream the whole collection again
        ranked = source.top(depth)
        chosen = _pick(ranked, catalog, k, per, exclude_media, exclude_segments)
        if len(chosen) >= k or ranked.exhausted or len(ranked.ids) < depth:
            return chosen
        depth *= GROWTH


def _pick(
    ranked: Ranked, catalog: Catalog, k: int, per: Per, exclude_media: Collection[int],
    exclude_segments: Collection[int],
) -> list[Grouped]:  # fmt: skip
    """The first ``k`` distinct units of ``ranked`` (segments unknown to the catalog are skipped).

    Catalog rows are read for the first ``2k`` candidates, then for twice as many more while units are missing: a
    "similar" query on a 40-shot video over-fetches 60 candidates, of which the first 20 usually give k files.
    """
    ids, scores = ranked.ids.tolist(), ranked.scores.tolist()
    seen: set[int] = set()
    chosen: list[Grouped] = []
    start, chunk = 0, max(K_FACTOR * k, 16)
    while start < len(ids):
        batch = ids[start : start + chunk]
        rows = catalog.hits_rows([int(i) for i in batch])
        for sid, score in zip(batch, scores[start : start + chunk], strict=True):
            row = rows.get(int(sid))
            if row is None or sid in exclude_segments or row[0].id in exclude_media:
                continue
            unit = row[0].id if per is Per.FILE else int(sid)
            if unit in seen:
                continue
            seen.add(unit)
            chosen.append(Grouped(row[0], row[1], float(score)))
            if len(chosen) == k:
                return chosen
        start, chunk = start + chunk, chunk * GROWTH
    return chosen
