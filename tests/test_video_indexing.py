"""Videos in a collection: shots with times, search by concept and by example, incremental re-indexing, temporal
queries, JSON hits with start/end, near-duplicates that ignore black openings."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("av")

from mmir.media.video_write import write_video
from mmir.search.queries import TextQuery
from mmir.search.temporal import then_within
from mmir.types import MediaKind, MediaRef, Segment


def skimage_data_dir() -> Path:
    import skimage

    return Path(skimage.__file__).parent / "data"


SHOT_S = 2.0
FPS = 10


def _frames(photo: str, seconds: float = SHOT_S, size: tuple[int, int] = (320, 240)) -> list[np.ndarray]:
    """A slow zoom into a scikit-image photo (the camera moves, the shot does not change)."""
    image = Image.open(skimage_data_dir() / photo).convert("RGB").resize(size)
    frames = []
    count = int(seconds * FPS)
    for i in range(count):
        crop = 4 * i // count + 1
        frames.append(np.asarray(image.crop((crop, crop, size[0] - crop, size[1] - crop)).resize(size)))
    return frames


def _video(path: Path, photos: list[str], black_start: bool = False) -> None:
    frames = [np.zeros((240, 320, 3), np.uint8)] * (FPS * 1) if black_start else []
    for photo in photos:
        frames += _frames(photo)
    write_video(path, frames, FPS)


@pytest.fixture()
def collection(tmp_path: Path, reuse_lite0: object):
    from mmir.api import Collection

    media = tmp_path / "media"
    media.mkdir()
    _video(media / "movie.mp4", ["chelsea.png", "coffee.png", "rocket.jpg"])
    Image.open(skimage_data_dir() / "astronaut.png").convert("RGB").save(media / "astronaut.jpg")
    coll = Collection.open(tmp_path / "coll", create=True)
    holder = [coll]
    yield holder, media
    holder[0].close()


@pytest.mark.slow
def test_video_shots_are_searchable_with_their_time_range(collection, monkeypatch: pytest.MonkeyPatch) -> None:
    import mmir.indexing.video

    holder, media = collection
    coll = holder[0]
    report = coll.index([media])
    assert not report.problems and report.added == 2
    hits = coll.search_text("cat", k=3)
    top = hits[0]
    assert top.media.kind is MediaKind.VIDEO and top.media.path.endswith("movie.mp4")
    assert top.segment.start_s == pytest.approx(0.0, abs=0.15)
    assert top.segment.end_s == pytest.approx(2.0, abs=0.15)
    # An example image finds the shot it came from, first.
    coffee = coll.search_image(skimage_data_dir() / "coffee.png", k=3)[0]
    assert coffee.media.path.endswith("movie.mp4")
    assert (coffee.segment.start_s, coffee.segment.end_s) == pytest.approx((2.0, 4.0), abs=0.15)
    # Re-indexing an unchanged video does no decoding.
    calls: list[str] = []
    original = mmir.indexing.video.analyse_video

    def counting(path: str, *args: object, **kwargs: object) -> object:
        calls.append(path)
        return original(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(mmir.indexing.video, "analyse_video", counting)
    coll = holder[0] = coll.reopened()  # one writer lock per indexing run
    again = coll.index([media])
    assert calls == [] and again.unchanged == 2
    # A modified video is analysed again, and its new shots are what search finds.
    _video(media / "movie.mp4", ["rocket.jpg", "chelsea.png"])
    coll = holder[0] = coll.reopened()
    changed = coll.index([media])
    assert len(calls) == 1 and changed.updated == 1
    cat = coll.search_text("cat", k=3)[0]
    assert (cat.segment.start_s, cat.segment.end_s) == pytest.approx((2.0, 4.0), abs=0.15)


@pytest.mark.slow
def test_temporal_query_follows_shot_order(collection) -> None:
    holder, media = collection
    coll = holder[0]
    coll.index([media])
    forward = coll.search_then(TextQuery("cat"), TextQuery("espresso"), within_s=5.0)
    assert forward and forward[0].media.path.endswith("movie.mp4")
    assert forward[0].first.start_s < 0.2 and forward[0].second.start_s == pytest.approx(2.0, abs=0.15)
    backward = coll.search_then(TextQuery("espresso"), TextQuery("cat"), within_s=5.0)
    assert all(hit.first.start_s < hit.second.start_s for hit in backward)
    assert not [h for h in backward if h.first.start_s > 1.5 and h.second.start_s < 0.5]


@pytest.mark.slow
def test_json_hits_carry_start_and_end_null_for_photos(collection) -> None:
    from typer.testing import CliRunner

    from mmir.cli import commands, video  # noqa: F401 - registers the commands
    from mmir.cli.groups import app

    holder, media = collection
    holder[0].index([media])
    directory = str(holder[0].directory)
    result = CliRunner().invoke(app, ["search", "cat", "-c", directory, "--json", "-k", "5"])
    assert result.exit_code == 0, result.output
    hits = {Path(h["path"]).name: h for h in json.loads(result.output)}
    assert hits["movie.mp4"]["start"] == pytest.approx(0.0, abs=0.15) and hits["movie.mp4"]["end"] > 1.5
    if "astronaut.jpg" in hits:
        assert hits["astronaut.jpg"]["start"] is None and hits["astronaut.jpg"]["end"] is None
    shots = CliRunner().invoke(app, ["shots", str(media / "movie.mp4"), "--json"])
    assert shots.exit_code == 0, shots.output
    starts = [row["start"] for row in json.loads(shots.output)["shots"]]
    assert starts == pytest.approx([0.0, 2.0, 4.0], abs=0.15)


@pytest.mark.slow
def test_black_openings_do_not_make_videos_duplicates(tmp_path: Path, reuse_lite0: object) -> None:
    from mmir.api import Collection

    media = tmp_path / "media"
    media.mkdir()
    _video(media / "a.mp4", ["chelsea.png"], black_start=True)
    _video(media / "b.mp4", ["rocket.jpg"], black_start=True)
    with Collection.open(tmp_path / "coll", create=True) as coll:
        coll.index([media])
        assert coll.near_duplicates(0.9) == []


def _row(sid: int, media: int, start: float, end: float) -> tuple[MediaRef, Segment]:
    ref = MediaRef(media, f"/v{media}.mp4", MediaKind.VIDEO, 1, 0.0, "x")
    return ref, Segment(sid, media, start, end, start)


def test_then_within_pairs_later_shots_of_the_same_video_only() -> None:
    rows = {1: _row(1, 1, 0, 5), 2: _row(2, 1, 5, 10), 3: _row(3, 1, 50, 55), 4: _row(4, 2, 0, 5), 5: _row(5, 3, 5, 9)}
    first = {1: 0.9, 4: 0.8}
    second = {2: 0.5, 3: 0.9, 5: 0.9}  # 3 is too late for 1; 5 is in another video than 4
    hits = then_within(first, second, rows, within_s=30)
    assert [(h.first.id, h.second.id) for h in hits] == [(1, 2)]
    assert hits[0].score == pytest.approx((0.9 * 0.5) ** 0.5)  # geometric mean of the sub-scores
    assert then_within(second, first, rows, within_s=30) == []  # B before A never pairs
    assert [(h.first.id, h.second.id) for h in then_within(first, second, rows, within_s=60)] == [(1, 3)]


def test_a_video_has_its_file_name_text_even_if_the_run_stops_before_the_metadata_sync(
    tmp_path: Path, reuse_lite0: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 22: after a kill during video indexing, file-name text was missing until the next run."""
    from mmir.api import Collection
    from mmir.index.metadata_text import term_matches

    media = tmp_path / "media"
    media.mkdir()
    _video(media / "zanzibar_holiday.mp4", ["chelsea.png"])
    monkeypatch.setattr(Collection, "sync_metadata_text", lambda self: None)  # the run dies before its sync
    with Collection.open(tmp_path / "coll", create=True) as coll:
        coll.index([media])
        (found,) = term_matches(coll.store.catalog, ["zanzibar"])
        assert [coll.media(media_id).path for media_id in found] == [str(media / "zanzibar_holiday.mp4")]
