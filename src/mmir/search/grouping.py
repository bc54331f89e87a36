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

from mmir.index.segment_files import media_of
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
    reads = _Reads(catalog)  # what the catalog said, kept across rounds (a deeper round re-reads nothing)
    while True:
        checkpoint()  # each round may stream the whole collection again
        ranked = source.top(depth)
        chosen = _pick(ranked, reads, k, per, exclude_media, exclude_segments)
        if len(chosen) >= k or ranked.exhausted or len(ranked.ids) < depth:
            return chosen
        depth *= GROWTH


class _Reads:
    """The catalog's answers for one grouping: full rows of a few segments, the file of more.

    Full rows (:meth:`~mmir.index.catalog.Catalog.hits_rows`) are built for the first ``k`` candidates at once
    (one query; in a collection of photos they are the ``k`` units); past them only each candidate's file is read
    (:func:`~mmir.index.segment_files.media_of`), and full rows only for the units kept. Building rows for every
    candidate a crowding video makes the grouping look at cost more than the rest of a "similar" query but the
    vector scan.
    """

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.rows: dict[int, tuple[MediaRef, Segment]] = {}
        self.media: dict[int, int] = {}  # segment id → media id
        self.asked: set[int] = set()  # segment ids whose file was asked for (unknown ones stay absent)

    def first(self, ids: list[int]) -> None:
        """Full rows of the first candidates (once)."""
        if not self.asked:
            self.rows.update(self.catalog.hits_rows(ids))
            self.media.update((sid, row[0].id) for sid, row in self.rows.items())
            self.asked.update(ids)

    def files(self, ids: list[int]) -> None:
        """The files of more candidates (those not asked for yet)."""
        new = [sid for sid in ids if sid not in self.asked]
        if new:
            self.media.update(media_of(self.catalog, new))
            self.asked.update(new)

    def full(self, ids: list[int]) -> dict[int, tuple[MediaRef, Segment]]:
        """Full rows of ``ids`` (read now for those past the first candidates)."""
        later = [sid for sid in ids if sid not in self.rows]
        if later:
            self.rows.update(self.catalog.hits_rows(later))
        return self.rows


def _pick(
    ranked: Ranked, reads: _Reads, k: int, per: Per, exclude_media: Collection[int],
    exclude_segments: Collection[int],
) -> list[Grouped]:  # fmt: skip
    """The first ``k`` distinct units of ``ranked`` (segments unknown to the catalog are skipped), looking at the
    first ``k`` candidates, then four times as many more each step while units are missing."""
    ids, scores = ranked.ids.tolist(), ranked.scores.tolist()
    reads.first(ids[:k])
    seen: set[int] = set()
    chosen: list[int] = []  # positions in ``ids``
    start, stop = 0, min(len(ids), k)
    while True:
        reads.files(ids[start:stop])
        for at in range(start, stop):
            sid = ids[at]
            mid = reads.media.get(sid)
            if mid is None or sid in exclude_segments or mid in exclude_media:
                continue
            unit = mid if per is Per.FILE else sid
            if unit not in seen:
                seen.add(unit)
                chosen.append(at)
                if len(chosen) == k:
                    break
        if len(chosen) >= k or stop >= len(ids):
            break
        start, stop = stop, min(len(ids), stop + GROWTH * (stop - start))
    wanted = [ids[at] for at in chosen]
    rows = reads.full(wanted)
    gone = set(wanted) - rows.keys()
    if gone:  # removed since their file was read (a writer committed in between): choose again without them
        return _pick(ranked, reads, k, per, exclude_media, {*exclude_segments, *gone})
    return [Grouped(*rows[ids[at]], float(scores[at])) for at in chosen]
