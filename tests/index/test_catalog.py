from __future__ import annotations

import os
import sqlite3

import numpy as np
import pytest

from mmir.errors import CollectionError
from mmir.index.catalog import Catalog, SegmentEncoding
from mmir.types import MediaKind


def _seg(value: float, d: int = 4, c: int = 3) -> SegmentEncoding:
    return SegmentEncoding(np.full(d, value, np.float32), np.full(c, value / 10, np.float32))


def test_put_lookup_replace_and_generation(tmp_path) -> None:
    catalog = Catalog(tmp_path / "c.sqlite")
    g0 = catalog.generation
    with catalog.transaction():
        media_id, seg_ids, removed = catalog.put_media("/p/a.jpg", MediaKind.IMAGE, 10, 1.5, "aa", [_seg(1.0)])
    assert removed == [] and len(seg_ids) == 1
    assert catalog.generation == g0 + 1
    record = catalog.lookup("/p/a.jpg")
    assert record is not None and (record.id, record.size, record.mtime, record.sha1) == (media_id, 10, 1.5, "aa")
    with catalog.transaction():
        same_id, new_ids, removed = catalog.put_media("/p/a.jpg", MediaKind.IMAGE, 11, 2.0, "bb", [_seg(2.0)])
    assert same_id == media_id and removed == seg_ids and new_ids != seg_ids
    ids, descriptors = catalog.all_descriptors()
    assert ids.tolist() == new_ids and np.allclose(descriptors, 2.0)
    _, concepts = catalog.all_concepts()
    assert np.allclose(concepts, 0.2, atol=1e-3)


def test_failed_transaction_rolls_back(tmp_path) -> None:
    catalog = Catalog(tmp_path / "c.sqlite")
    with pytest.raises(RuntimeError), catalog.transaction():
        catalog.put_media("/p/a.jpg", MediaKind.IMAGE, 1, 1.0, "aa", [_seg(1.0)])
        raise RuntimeError("boom")
    assert catalog.lookup("/p/a.jpg") is None
    assert catalog.counts() == (0, 0)


def test_non_utf8_paths_round_trip_and_media_under(tmp_path) -> None:
    catalog = Catalog(tmp_path / "c.sqlite")
    odd = os.fsdecode(b"/photos/caf\xe9 au lait.jpg")
    with catalog.transaction():
        catalog.put_media(odd, MediaKind.IMAGE, 1, 1.0, "aa", [_seg(1.0)])
        catalog.put_media("/photos2/x.jpg", MediaKind.IMAGE, 1, 1.0, "bb", [_seg(1.0)])
    assert catalog.lookup(odd) is not None
    under = catalog.media_under("/photos")
    assert [path for _, path in under] == [odd]
    (seg_id,) = catalog.all_descriptors()[0][:1]
    media, _ = catalog.hits_rows([int(seg_id)])[int(seg_id)]
    assert media.path == odd


def test_remove_media_cascades_to_segments(tmp_path) -> None:
    catalog = Catalog(tmp_path / "c.sqlite")
    with catalog.transaction():
        media_id, seg_ids, _ = catalog.put_media("/a.jpg", MediaKind.IMAGE, 1, 1.0, "aa", [_seg(1.0), _seg(2.0)])
    with catalog.transaction():
        assert sorted(catalog.remove_media(media_id)) == sorted(seg_ids)
    assert catalog.counts() == (0, 0)


def test_newer_schema_and_garbage_file_are_refused(tmp_path) -> None:
    path = tmp_path / "c.sqlite"
    Catalog(path).close()
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version=99")
    db.commit()
    db.close()
    with pytest.raises(CollectionError, match="newer"):
        Catalog(path)
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(CollectionError, match="junk.sqlite"):
        Catalog(junk)


def test_readers_by_id_keep_order_and_span_bound_variable_chunks(tmp_path) -> None:
    # More ids than one SQL IN-list chunk (10,000), most unknown: the rows found are the same as read one by one.
    catalog = Catalog(tmp_path / "c.sqlite")
    with catalog.transaction():
        first, (a,), _ = catalog.put_media("/p/a.jpg", MediaKind.IMAGE, 1, 1.0, "aa", [_seg(1.0)])
        second, (b, c), _ = catalog.put_media("/p/v.mp4", MediaKind.VIDEO, 1, 1.0, "bb", [_seg(2.0), _seg(3.0)])
    asked = [c, *range(1_000, 26_000), a]  # the known ids at both ends, in separate chunks
    ids, descriptors = catalog.descriptors_by_ids(asked)
    assert ids.tolist() == [c, a] and descriptors[:, 0].tolist() == [3.0, 1.0]
    concepts = catalog.concepts_by_ids(asked)
    assert sorted(concepts) == [a, c] and np.allclose(concepts[c], 0.3, atol=1e-3)
    assert sorted(catalog.hits_rows(asked)) == [a, c] and catalog.hits_rows([]) == {}
    media, first_descriptors = catalog.media_descriptors_by_ids([second, *range(1_000, 21_000), first])
    assert media.tolist() == [second, first] and first_descriptors[:, 0].tolist() == [2.0, 1.0]
    assert catalog.media_ids().tolist() == sorted([first, second]) and catalog.count_segments_up_to(b) == 2
    chunks = [ids.tolist() for ids, _ in catalog.iter_concepts(2, after=a)]
    assert chunks == [[b, c]] and [ids.tolist() for ids, _ in catalog.iter_descriptors(2)] == [[a, b], [c]]
