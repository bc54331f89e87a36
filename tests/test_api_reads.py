"""The reads by id that the faces use instead of the catalog: media, segment, counts, generation, vocabulary."""

from __future__ import annotations

from pathlib import Path

from mmir.api import DEFAULT_K, Collection, TextQuery
from mmir.types import MediaKind


def test_reads_by_id_match_the_hits_and_follow_changes(tmp_path: Path, photo_dir: Path, reuse_lite0) -> None:
    with Collection.open(tmp_path / "c", create=True) as coll:
        before = coll.generation
        coll.index([photo_dir])
        assert coll.generation > before  # committed changes bump it
        assert coll.media_count() == 6
        hits = list(coll.similar(photo_dir / "chelsea.png", k=DEFAULT_K))
        assert len(hits) == 5  # the other five (k is 10 by default: the rest of the collection)
        for hit in hits:
            assert coll.media(hit.media.id) == hit.media
            assert coll.segment(hit.segment.id) == (hit.media, hit.segment)
            assert hit.media.kind is MediaKind.IMAGE and coll.keyframe_jpeg(hit.segment.id) is None  # photos: none
        assert coll.media(10**9) is None and coll.segment(10**9) is None
        assert not coll.vocabulary.is_mapped("tabby cat")
        coll.search(TextQuery("tabby cat"))
        assert coll.vocabulary.is_mapped("tabby cat")  # the search engine's own vocabulary, and its cache
        unchanged = coll.generation
        (photo_dir / "chelsea.png").unlink()
        coll.index([photo_dir])
        assert coll.generation > unchanged and coll.media_count() == 5
        assert sorted(Path(p).name for p in coll.indexed_paths()) == sorted(
            p.name for p in photo_dir.iterdir()
        )
