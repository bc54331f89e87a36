"""Grouping reads what it needs: full catalog rows only for the units kept, a file's segments in one query, and the
same answer as an exact reference (issue 18: p50 latency of "similar" no worse than before the one pipeline)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mmir.index.catalog import Catalog, SegmentEncoding
from mmir.index.manifest import Manifest
from mmir.index.segment_files import file_segments, media_at, media_of
from mmir.index.store import SegmentStore
from mmir.search.engine import SearchEngine
from mmir.search.pipeline import search
from mmir.search.queries import ItemQuery, Per, VectorQuery
from mmir.types import MediaKind

DIM, PHOTOS, SHOTS = 12, 30, 25


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


@pytest.fixture
def crowded(tmp_path: Path) -> SegmentStore:
    """30 photos and one video of 25 shots that all lie next to photo 0 (they crowd its neighbours)."""
    rng = np.random.default_rng(0)
    photos = _unit(rng.standard_normal((PHOTOS, DIM)))
    shots = _unit(photos[0] + 0.05 * rng.standard_normal((SHOTS, DIM)))
    directory = tmp_path / "c"
    directory.mkdir()
    manifest = Manifest(model="synthetic", fingerprint="synthetic:1", dim=DIM)
    manifest.save(directory / SegmentStore.MANIFEST)
    store = SegmentStore(directory, manifest)
    for i, vector in enumerate(photos):
        store.put(f"/d/{i:02d}.jpg", MediaKind.IMAGE, 1, 0.0, f"p{i}",
                  [SegmentEncoding(vector, np.zeros(3, np.float32))])  # fmt: skip
    store.put("/d/clip.mp4", MediaKind.VIDEO, 1, 0.0, "v",
              [SegmentEncoding(v, np.zeros(3, np.float32), 2.0 * s, 2.0 * s + 2, 2.0 * s + 1)
               for s, v in enumerate(shots)])  # fmt: skip
    store.flush()
    return store


def _engine(store: SegmentStore) -> SearchEngine:
    return SearchEngine(store, lambda: pytest.fail("no vocabulary"), lambda: pytest.fail("no encoder"))


def _media_id(store: SegmentStore, path: str) -> int:
    record = store.catalog.lookup(path)
    assert record is not None
    return record.id


def _reference(store: SegmentStore, query: np.ndarray, k: int, exclude_media: int | None) -> list[tuple[str, float]]:
    """Exact ranking: every segment's cosine, each file's best segment, the query file left out."""
    ids, raw = store.catalog.all_descriptors()
    rows = store.catalog.hits_rows(ids.tolist())
    best: dict[str, float] = {}
    for sid, score in zip(ids.tolist(), (_unit(raw) @ _unit(query.reshape(-1))).tolist(), strict=True):
        media = rows[sid][0]
        if media.id != exclude_media:
            best[media.path] = max(best.get(media.path, -2.0), score)
    return sorted(best.items(), key=lambda item: -item[1])[:k]


def _rows_built(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record how many ids each ``Catalog.hits_rows`` call builds full rows for."""
    sizes: list[int] = []
    original = Catalog.hits_rows

    def spy(self: Catalog, segment_ids: list[int]) -> dict:
        sizes.append(len(list(segment_ids)))
        return original(self, segment_ids)

    monkeypatch.setattr(Catalog, "hits_rows", spy)
    return sizes


@pytest.mark.parametrize("k", [1, 5, 10])
def test_similar_matches_the_exact_reference_when_a_video_crowds_the_top(crowded: SegmentStore, k: int) -> None:
    engine = _engine(crowded)
    for path in ("/d/00.jpg", "/d/clip.mp4", "/d/07.jpg"):
        media = _media_id(crowded, path)
        query = _unit(file_segments(crowded.catalog, media)[1].sum(axis=0))
        expected = _reference(crowded, query, k, media)
        hits = search(engine, ItemQuery(path), k)
        assert [h.media.path for h in hits] == [p for p, _ in expected]
        np.testing.assert_allclose([h.score for h in hits], [s for _, s in expected], rtol=1e-5, atol=1e-6)


def test_full_rows_are_built_only_for_the_units_kept(crowded: SegmentStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: rows for the first 2k candidates (and 4x more per round while units were missing)."""
    engine = _engine(crowded)
    query = file_segments(crowded.catalog, _media_id(crowded, "/d/00.jpg"))[1][0]
    sizes = _rows_built(monkeypatch)
    hits = search(engine, VectorQuery(query), 5)  # the top 26 candidates are photo 0 and the 25 shots
    assert len({h.media.id for h in hits}) == 5
    assert sum(sizes) <= 5 + 5  # the first k candidates at once, then only the units chosen after them
    ids, raw = crowded.catalog.all_descriptors()
    rows = crowded.catalog.hits_rows(ids.tolist())
    for n in range(1, PHOTOS):  # a photo whose 5 nearest segments are 5 photos: one read of 5 rows, nothing more
        own = ids[n]
        nearest = [int(i) for i in ids[np.argsort(-(raw @ raw[n]), kind="stable")] if i != own][:5]
        if all(rows[i][0].kind is MediaKind.IMAGE for i in nearest):
            break
    sizes.clear()
    hits = search(engine, ItemQuery(rows[int(own)][0].path), 5)
    assert [h.segment.id for h in hits] == nearest and sizes == [5]


def test_a_file_query_reads_its_segments_in_one_query(crowded: SegmentStore, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("segments_of", "descriptors_by_ids", "descriptor_of_media", "lookup", "media_ref"):
        monkeypatch.setattr(Catalog, name, lambda *a, name=name: pytest.fail(f"{name} called"))
    hits = search(_engine(crowded), ItemQuery("/d/clip.mp4"), 3)
    assert len(hits) == 3 and all(h.media.path != "/d/clip.mp4" for h in hits)


def test_a_row_removed_between_reads_is_skipped_and_k_still_come_back(
    crowded: SegmentStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer committing between the file lookup and the row read: the vanished segment is replaced."""
    original = Catalog.hits_rows
    dropped: list[int] = []

    def racing(self: Catalog, segment_ids: list[int]) -> dict:
        rows = original(self, segment_ids)
        if not dropped and rows:
            dropped.append(next(iter(rows)))
            del rows[dropped[0]]
        return rows

    monkeypatch.setattr(Catalog, "hits_rows", racing)
    hits = search(_engine(crowded), ItemQuery("/d/07.jpg"), 5)
    assert len(hits) == 5 and dropped and dropped[0] not in {h.segment.id for h in hits}


def test_per_shot_keeps_every_shot_and_leaves_out_the_query_shot(crowded: SegmentStore) -> None:
    shot = file_segments(crowded.catalog, _media_id(crowded, "/d/clip.mp4"))[0][3]
    hits = search(_engine(crowded), ItemQuery(segment_id=shot), 10, per=Per.SHOT)
    assert len(hits) == 10 and shot not in {h.segment.id for h in hits}
    assert sum(h.media.path == "/d/clip.mp4" for h in hits) >= 8  # its sibling shots are its nearest units


def test_light_reads(crowded: SegmentStore) -> None:
    catalog = crowded.catalog
    clip = media_at(catalog, "/d/clip.mp4")
    assert clip is not None and clip.kind is MediaKind.VIDEO and clip.path == "/d/clip.mp4"
    assert media_at(catalog, "/d/nothing.jpg") is None
    ids, raw = file_segments(catalog, clip.id)
    assert ids == [s.id for s in catalog.segments_of(clip.id)] and raw.shape == (SHOTS, DIM)
    np.testing.assert_array_equal(raw, catalog.descriptor_of_media(clip.id))
    none_ids, none_raw = file_segments(catalog, 10_000)
    assert none_ids == [] and none_raw.shape == (0, 0)
    assert media_of(catalog, [ids[0], 10_000, ids[1], ids[0]]) == {ids[0]: clip.id, ids[1]: clip.id}


def test_similar_to_a_video_asks_the_index_for_few_neighbours(
    crowded: SegmentStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The index is asked for 2 x the grouping's 2k plus the video's own shots, once (before: 4 x (2k + 25) + 25,
    its shots counted twice); a flat index's top-k heap grows with k."""
    asked: list[int] = []
    original = SegmentStore.search

    def spy(self: SegmentStore, descriptors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        asked.append(k)
        return original(self, descriptors, k)

    monkeypatch.setattr(SegmentStore, "search", spy)
    hits = search(_engine(crowded), ItemQuery("/d/clip.mp4"), 5)
    assert len(hits) == 5 and asked == [2 * 2 * 5 + SHOTS]
