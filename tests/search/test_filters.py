"""Search filters (photos or videos only, a folder, a date range, a file name) inside the one search pipeline.

A synthetic collection as in ``test_one_search`` (no model runs): one 40-shot video whose shots crowd the top of
every query, a 5-shot video named ``clip_cat.mp4``, and 30 photos in two folders, modified one a day in January
2024, every third named ``CatNN.jpg``. A filter must hold for every query kind and still fill ``k`` distinct files.
"""

from __future__ import annotations

import fnmatch
import os
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from tests.search.test_one_search import CONCEPTS, DIM, SHOT_S, FakeEncoder, _jpeg, _png, _probs, _unit

from mmir.api import Collection
from mmir.errors import QueryError
from mmir.index.catalog import SegmentEncoding
from mmir.index.channels import CatalogChannelSink
from mmir.index.frames import SegmentExtras
from mmir.index.manifest import Manifest
from mmir.index.metadata_text import sync_metadata
from mmir.index.store import FileToStore, SegmentStore
from mmir.index.visible_text import TextField as FieldText
from mmir.media.metadata import MetadataText, TextField, name_words
from mmir.models.engineered import extractors
from mmir.search import filters
from mmir.search.filters import SearchFilter
from mmir.search.queries import (
    ChannelQuery,
    ExampleQuery,
    FeedbackMethod,
    FeedbackQuery,
    FieldQuery,
    Fusion,
    ItemQuery,
    TemporalQuery,
    TextQuery,
)  # fmt: skip
from mmir.types import MediaKind

SHOTS, PHOTOS, CLIP_SHOTS = 40, 30, 5
VIDEO_MTIME = datetime(2024, 6, 15, 12).timestamp()
CLIP_MTIME = datetime(2023, 1, 10, 12).timestamp()


def photo_name(i: int) -> str:
    return f"Cat{i:02d}.jpg" if i % 3 == 0 else f"p{i:02d}.jpg"


def photo_mtime(i: int) -> float:
    return datetime(2024, 1, i + 1, 12).timestamp()  # photo i: noon on 1 + i January 2024 (local time)


def _shots(rng: np.random.Generator, a: np.ndarray, b: np.ndarray, count: int) -> tuple[SegmentEncoding, ...]:
    shots = []
    for i in range(count):
        first_half = i < count // 2 or count < SHOTS
        shots.append(SegmentEncoding(
            descriptor=_unit((a if first_half else b) + 0.05 * rng.standard_normal(DIM)),
            concepts=_probs(0 if first_half else 1, 0.9), start_s=i * SHOT_S, end_s=(i + 1) * SHOT_S,
            keyframe_s=i * SHOT_S + 1.0,
            extras=SegmentExtras(np.zeros(0), np.zeros((0, DIM), np.float32),
                                 thumbnail=_jpeg((200 + i, 120, 20) if first_half else (20, 60, 200 + i))),
        ))  # fmt: skip
    return tuple(shots)


def build(directory: Path, media: Path) -> Collection:
    """The collection described in the module docstring (opened; the encoder answers with the zebra direction)."""
    rng = np.random.default_rng(0)
    a, b = _unit(rng.standard_normal(DIM)), _unit(rng.standard_normal(DIM))
    directory.mkdir(parents=True)
    manifest = Manifest(model="synthetic", fingerprint="synthetic:1", dim=DIM, concept_names=list(CONCEPTS))
    manifest.save(directory / SegmentStore.MANIFEST)
    store = SegmentStore(directory, manifest)
    files = [
        FileToStore(str(media / "safari.mp4"), MediaKind.VIDEO, 1000, VIDEO_MTIME, "video", _shots(rng, a, b, SHOTS)),
        FileToStore(str(media / "set_a" / "clip_cat.mp4"), MediaKind.VIDEO, 500, CLIP_MTIME, "clip",
                    _shots(rng, a, b, CLIP_SHOTS)),
    ]  # fmt: skip
    for i in range(PHOTOS):
        segment = SegmentEncoding(
            descriptor=_unit((a if i % 2 == 0 else b) + 0.4 * rng.standard_normal(DIM)),
            concepts=_probs(i % 2, 0.3 + 0.01 * i),
        )
        path = media / ("set_a" if i % 2 == 0 else "set_b") / photo_name(i)
        files.append(FileToStore(str(path), MediaKind.IMAGE, 10, photo_mtime(i), f"sha{i}", (segment,)))
    store.put_many(files)
    store.flush()
    sink = CatalogChannelSink(store.catalog)
    (colour,) = extractors(["colour"], None)
    for media_id, path in store.catalog.media_under("/"):
        if path.endswith(".jpg"):
            pixels = rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)
            from PIL import Image

            sink.store(media_id, {"colour": colour.extract(Image.fromarray(pixels))})
    sync_metadata(store.catalog, lambda path: MetadataText({TextField.NAME: name_words(path)}))
    store.close()
    collection = Collection.open(directory)
    collection._encoder = FakeEncoder(a)  # type: ignore[assignment]
    return collection


@pytest.fixture()
def zoo(tmp_path: Path):
    collection = build(tmp_path / "coll", tmp_path / "media")
    yield collection, tmp_path / "media"
    collection.close()


def _queries(media: Path) -> dict[str, object]:
    photo = str(media / "set_a" / "Cat00.jpg")
    video = str(media / "safari.mp4")
    return {
        "keyword": TextQuery("zebra"),
        "example": ExampleQuery(_png(), "query.png"),
        "similar shot": ItemQuery(video, at_s=8.0),
        "similar photo": ItemQuery(photo),
        "feedback": FeedbackQuery((ItemQuery(video, at_s=3.0), ItemQuery(photo))),
        "rocchio": FeedbackQuery((ItemQuery(photo),), method=FeedbackMethod.ROCCHIO),
        "channel": ChannelQuery(ItemQuery(photo), "colour"),
        "fused": ChannelQuery(ExampleQuery(_png(), "query.png"), "fused", {"cnn": 1.0, "colour": 0.5}),
        "fused early": ChannelQuery(ItemQuery(photo), "fused", fusion=Fusion.EARLY),
    }


def _allowed(hit, flt: SearchFilter) -> bool:
    media = hit.media
    name = Path(media.path).name.lower()
    return (
        (flt.kind is None or media.kind is flt.kind)
        and (flt.under is None or f"/{flt.under}/" in media.path or media.path.startswith(flt.under + "/"))
        and (flt.after is None or media.mtime >= flt.after)
        and (flt.before is None or media.mtime < flt.before)
        and (flt.name_glob is None or fnmatch.fnmatchcase(name, flt.name_glob.lower()))
    )


def test_photos_only_fills_k_with_photos_for_every_query_kind(zoo) -> None:
    collection, media = zoo
    photos = SearchFilter(kind=MediaKind.IMAGE)
    for name, query in _queries(media).items():
        result = collection.search(query, k=10, filter=photos)  # type: ignore[arg-type]
        assert len(result) == 10 and len({h.media.id for h in result}) == 10, name
        assert all(h.media.kind is MediaKind.IMAGE for h in result), name
        scores = [h.score for h in result]
        assert scores == sorted(scores, reverse=True), name


@pytest.mark.parametrize("vectors", ["exact", "over-fetch"])
def test_a_filter_keeps_the_unfiltered_order_of_the_files_it_allows(zoo, monkeypatch, vectors: str) -> None:
    """Filtered hits are exactly the unfiltered ranking with the disallowed files taken out (the exact reference),
    whether the vector index is over-fetched or the allowed segments are scored from their stored vectors."""
    collection, media = zoo
    monkeypatch.setattr(filters, "EXACT_SHARE", 1.0 if vectors == "exact" else 0.0)
    flt = SearchFilter.parse(kind="photo", under="set_b")
    for name, query in _queries(media).items():
        everything = [h.media.id for h in collection.search(query, k=100) if _allowed(h, flt)]  # type: ignore[arg-type]
        filtered = [h.media.id for h in collection.search(query, k=10, filter=flt)]  # type: ignore[arg-type]
        assert len(filtered) == 10 and filtered == everything[:10], name


def test_under_a_folder_relative_or_absolute(zoo) -> None:
    collection, media = zoo
    for under in ("set_a", str(media / "set_a"), "media/set_a/", "./set_a"):
        hits = collection.search(TextQuery("zebra"), k=10, filter=SearchFilter.parse(under=under))
        assert len({h.media.id for h in hits}) == 10, under
        assert all(Path(h.media.path).parent.name == "set_a" for h in hits), under
    everything = collection.search(TextQuery("zebra"), k=100, filter=SearchFilter.parse(under="set_a"))
    assert len(everything) == PHOTOS // 2 + 1  # its 15 photos and clip_cat.mp4
    assert not collection.search(TextQuery("zebra"), k=10, filter=SearchFilter.parse(under="set"))  # whole names only
    assert not collection.search(TextQuery("zebra"), k=10, filter=SearchFilter.parse(under=str(media / "set")))


def test_after_and_before_by_modification_time(zoo) -> None:
    collection, _ = zoo
    january = SearchFilter.parse(after="2024-01-10", before="2024-01-19")  # both days included
    hits = collection.search(TextQuery("zebra"), k=30, filter=january)
    assert sorted(Path(h.media.path).name for h in hits) == sorted(photo_name(i) for i in range(9, 19))
    until_2023 = collection.search(ExampleQuery(_png(), "q.png"), k=100, filter=SearchFilter.parse(before="2023"))
    assert [Path(h.media.path).name for h in until_2023] == ["clip_cat.mp4"]  # the 2023 clip, none of 2024
    january = collection.search(ExampleQuery(_png(), "q.png"), k=100, filter=SearchFilter.parse(before="2024-01"))
    assert len(january) == PHOTOS + 1  # "before January" includes January (a period counts whole)
    summer = collection.search(TextQuery("zebra"), k=10, filter=SearchFilter.parse(after="2024-06-15T11:00"))
    assert [Path(h.media.path).name for h in summer] == ["safari.mp4"]


def test_name_glob_ignores_case_and_folders(zoo) -> None:
    collection, _ = zoo
    hits = collection.search(TextQuery("zebra"), k=100, filter=SearchFilter.parse(name="*cat*"))
    names = sorted(Path(h.media.path).name for h in hits)
    assert names == sorted([photo_name(i) for i in range(0, PHOTOS, 3)] + ["clip_cat.mp4"])
    assert not collection.search(TextQuery("zebra"), k=10, filter=SearchFilter.parse(name="*set_a*"))
    tens = collection.search(TextQuery("zebra"), k=100, filter=SearchFilter.parse(name="p1[!0-4].JPG"))
    assert sorted(Path(h.media.path).name for h in tens) == ["p16.jpg", "p17.jpg", "p19.jpg"]


def test_filters_combine(zoo) -> None:
    collection, media = zoo
    flt = SearchFilter.parse(kind="photo", under="set_b", name="*cat*", after="2024-01-05")
    hits = collection.search(ItemQuery(str(media / "safari.mp4"), at_s=8.0), k=10, filter=flt)
    assert sorted(Path(h.media.path).name for h in hits) == ["Cat09.jpg", "Cat15.jpg", "Cat21.jpg", "Cat27.jpg"]


def test_k_distinct_files_when_the_filter_is_selective_on_the_over_fetch_path(zoo, monkeypatch) -> None:
    """With exact scoring of few allowed segments switched off, the vector index is asked for more until k pass."""
    collection, _ = zoo
    monkeypatch.setattr(filters, "EXACT_MAX", 0)
    far = SearchFilter.parse(under="set_b", kind="photo")  # the query is like the video and set_a: set_b ranks last
    hits = collection.search(ExampleQuery(_png(), "query.png"), k=10, filter=far)
    assert len({h.media.id for h in hits}) == 10 and all("set_b" in h.media.path for h in hits)
    assert len(collection.search(ExampleQuery(_png(), "q.png"), k=100, filter=far)) == PHOTOS // 2


def test_per_shot_videos_only_and_temporal_queries_filter_too(zoo) -> None:
    collection, _ = zoo
    shots = collection.search(TextQuery("bear"), k=10, per="shot", filter=SearchFilter.parse(kind="video"))
    assert len({h.segment.id for h in shots}) == 10 and all(h.media.kind is MediaKind.VIDEO for h in shots)
    then = TemporalQuery(TextQuery("zebra"), TextQuery("bear"), within_s=5.0)
    assert len(collection.search(then, k=5)) == 1
    assert len(collection.search(then, k=5, filter=SearchFilter.parse(kind="photo"))) == 0
    assert len(collection.search(then, k=5, filter=SearchFilter.parse(under="set_a"))) == 0  # clip_cat has no bear


def test_a_filter_matching_nothing_gives_no_hits_and_says_so(zoo) -> None:
    collection, _ = zoo
    result = collection.search(TextQuery("zebra"), k=10, filter=SearchFilter.parse(name="nothing-*.png"))
    assert len(result) == 0 and result.weak


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"kind": "tree"}, "kind must be photo or video, not 'tree'"),
        ({"after": "2024-13-45"}, "after: '2024-13-45' is not a date"),
        ({"before": "yesterday"}, "before: 'yesterday' is not a date"),
        ({"after": "2024-05-01", "before": "2024-04-30"}, "is not before"),
        ({"under": "../etc"}, "climbs out"),
        ({"name": "a/b*.jpg"}, "file names only"),
    ],
)
def test_invalid_filters_are_one_line_errors(fields: dict[str, str], message: str) -> None:
    with pytest.raises(QueryError, match=message) as raised:
        SearchFilter.parse(**fields)
    assert "\n" not in str(raised.value)


def test_parse_reads_periods_and_empty_values() -> None:
    assert not SearchFilter.parse(kind="", under="", after="", before="", name="").active
    year = SearchFilter.parse(after="2024", before="2024")
    assert year.after == datetime(2024, 1, 1).timestamp() and year.before == datetime(2025, 1, 1).timestamp()
    december = SearchFilter.parse(before="2024-12")
    assert december.before == datetime(2025, 1, 1).timestamp()
    assert SearchFilter.parse(kind="Photos").kind is MediaKind.IMAGE
    assert SearchFilter.parse(kind="video", under="a/b").describe() == "videos only, under a/b"


def _photo_with_exif(path: Path, taken: str | None, offset: str | None = None) -> None:
    from PIL import Image

    exif = Image.Exif()
    if taken is not None:
        exif.get_ifd(0x8769)[0x9003] = taken  # DateTimeOriginal
    if offset is not None:
        exif.get_ifd(0x8769)[0x9011] = offset  # OffsetTimeOriginal
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (16, 16), (90, 120, 30)).save(path, "JPEG", exif=exif)


def test_dates_are_when_the_photo_was_taken_else_when_the_file_changed(tmp_path: Path) -> None:
    """EXIF DateTimeOriginal wins over the file's mtime (a copy or a restore resets mtime); without it, mtime."""
    from mmir.index.metadata_text import sync_metadata

    media, directory = tmp_path / "media", tmp_path / "coll"
    _photo_with_exif(media / "old_trip.jpg", "2019:07:14 10:30:00")  # taken in 2019, copied today
    _photo_with_exif(media / "zoned.jpg", "2019:07:14 23:30:00", "-05:00")  # 15 July 04:30 UTC
    _photo_with_exif(media / "no_date.jpg", None)
    os_mtime = datetime(2024, 3, 1, 12).timestamp()
    for name in ("old_trip.jpg", "zoned.jpg", "no_date.jpg"):
        os.utime(media / name, (os_mtime, os_mtime))
    directory.mkdir()
    manifest = Manifest(model="synthetic", fingerprint="synthetic:1", dim=DIM, concept_names=list(CONCEPTS))
    manifest.save(directory / SegmentStore.MANIFEST)
    store = SegmentStore(directory, manifest)
    rng = np.random.default_rng(3)
    store.put_many([
        FileToStore(str(media / name), MediaKind.IMAGE, 10, os_mtime, name, (SegmentEncoding(
            descriptor=_unit(rng.standard_normal(DIM)), concepts=_probs(0, 0.5)),))
        for name in ("old_trip.jpg", "zoned.jpg", "no_date.jpg")
    ])  # fmt: skip
    store.flush()
    sync_metadata(store.catalog)  # reads each file's metadata, its EXIF date included
    store.close()
    with Collection.open(directory) as collection:

        def names(**dates: str) -> list[str]:
            hits = collection.search(TextQuery("zebra"), k=10, filter=SearchFilter.parse(**dates))
            return sorted(Path(h.media.path).name for h in hits)

        assert names(before="2019-12-31") == ["old_trip.jpg", "zoned.jpg"]
        assert names(after="2024-03") == ["no_date.jpg"]  # no EXIF date: its mtime
        utc_morning = datetime(2019, 7, 15, 4, 30, tzinfo=UTC)
        assert names(after=utc_morning.isoformat()) == ["no_date.jpg", "zoned.jpg"]  # the offset is honoured


def test_exif_times_parse_or_give_none() -> None:
    from mmir.media.capture_time import parse_exif_time

    assert parse_exif_time("2019:07:14 10:30:00") == datetime(2019, 7, 14, 10, 30).timestamp()
    assert parse_exif_time(b"2019:07:14 10:30:00\x00") == datetime(2019, 7, 14, 10, 30).timestamp()
    assert parse_exif_time("2019:07:14 10:30:00", "+00:00") == 1563100200.0
    assert parse_exif_time("0000:00:00 00:00:00") is None
    assert parse_exif_time("    :  :     :  :  ") is None
    assert parse_exif_time(None) is None


def test_field_queries_filter_too(tmp_path: Path) -> None:
    """Visible text: a video whose every shot shows EXIT and 12 photos showing it; photos only gives k photos."""
    from tests.search.test_field_query import PHOTOS as FIELD_PHOTOS
    from tests.search.test_field_query import _build as build_hall

    with build_hall(tmp_path / "coll", tmp_path / "media") as collection:
        query = FieldQuery("exit", (FieldText.SHOWS,))
        photos = collection.search(query, k=10, filter=SearchFilter.parse(kind="photo"))
        assert len({h.media.id for h in photos}) == 10 and all(h.media.kind is MediaKind.IMAGE for h in photos)
        shots = collection.search(query, k=10, per="shot", filter=SearchFilter.parse(kind="video"))
        assert len({h.segment.id for h in shots}) == 10 and all(h.media.kind is MediaKind.VIDEO for h in shots)
        named = collection.search(query, k=100, filter=SearchFilter.parse(name="p0*.jpg"))
        assert len(named) == min(FIELD_PHOTOS, 10)  # p00 … p09


def test_a_remembered_filter_sees_files_added_since(zoo) -> None:
    """The allowed segments are remembered per catalog generation: a file indexed since is found at once."""
    collection, media = zoo
    fresh = SearchFilter.parse(name="new_*")
    assert len(collection.search(TextQuery("zebra"), k=10, filter=fresh)) == 0
    segment = SegmentEncoding(descriptor=_unit(np.ones(DIM, np.float32)), concepts=_probs(0, 0.9))
    collection.store.lock_for_writing()
    collection.store.put_many([FileToStore(str(media / "new_zebra.jpg"), MediaKind.IMAGE, 10, 1.0, "new", (segment,))])
    collection.store.flush()
    collection.invalidate_search()  # the concept columns are rebuilt for the new segment
    hits = collection.search(TextQuery("zebra"), k=10, filter=fresh)
    assert [Path(h.media.path).name for h in hits] == ["new_zebra.jpg"]
