"""Temporal queries: B must follow A in the same video within the window, and scores stay in [0, 1]."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tests.conftest import skimage_data_dir

from mmir.search.temporal import candidates, follows, pair_score, then_within
from mmir.types import MediaKind, MediaRef, Segment


def _row(sid: int, media: int, start: float, end: float) -> tuple[MediaRef, Segment]:
    ref = MediaRef(media, f"/v{media}.mp4", MediaKind.VIDEO, 1, 0.0, "x")
    return ref, Segment(sid, media, start, end, start)


# Video 1 shows a dog, then a bus, then a cat; video 2 a bus, then a dog. The softmax gives every concept a
# trace probability in every shot, as the concept heads do.
ROWS = {1: _row(1, 1, 0, 2), 2: _row(2, 1, 2, 4), 3: _row(3, 1, 4, 6), 4: _row(4, 2, 0, 3), 5: _row(5, 2, 3, 5)}
IDS = np.array([1, 2, 3, 4, 5], np.int64)
BUS = np.array([0.01, 0.96, 0.012, 0.90, 0.02], np.float32)
DOG = np.array([0.93, 0.017, 0.015, 0.02, 0.70], np.float32)


def _then(first: np.ndarray, second: np.ndarray, within_s: float = 30.0) -> list:
    """The temporal path of ``Collection.search_then``: each sub-query's candidates, then the pairs."""
    return then_within(candidates(IDS, first, 200), candidates(IDS, second, 200), ROWS, within_s)


def test_a_video_where_no_dog_follows_a_bus_is_no_match_for_bus_then_dog() -> None:
    hits = _then(BUS, DOG)
    assert [h.media.id for h in hits] == [2]  # video 1 (dog, bus, cat) does not match at all
    assert (hits[0].first.id, hits[0].second.id) == (4, 5)
    assert [h.media.id for h in _then(DOG, BUS)] == [1]  # the other way round it is video 1 only


def test_the_second_event_starts_after_the_first_within_the_window() -> None:
    assert follows(ROWS[1][1], ROWS[2][1], within_s=0.0)  # back to back (shared boundary)
    assert not follows(ROWS[2][1], ROWS[1][1], within_s=30.0)  # before
    assert not follows(ROWS[1][1], ROWS[1][1], within_s=30.0)  # the same shot
    assert not follows(ROWS[1][1], ROWS[3][1], within_s=1.0)  # 2 s after A's end: outside a 1 s window
    assert follows(ROWS[1][1], ROWS[3][1], within_s=2.0)
    assert _then(BUS, DOG, within_s=0.0) == _then(BUS, DOG)  # video 2's dog starts as the bus shot ends
    overlapping = {6: _row(6, 3, 0, 4), 7: _row(7, 3, 1, 3)}  # B starts inside A: not after it
    assert then_within({6: 0.9}, {7: 0.9}, overlapping, within_s=30) == []


def test_temporal_scores_stay_in_zero_to_one() -> None:
    assert pair_score(1.0, 1.0) == 1.0 and pair_score(0.0, 0.9) == 0.0
    assert pair_score(1.3, 1.2) == 1.0 and pair_score(-0.2, 0.5) == 0.0  # out-of-range sub-scores are clipped
    hits = _then(BUS, DOG)
    assert hits[0].score == pytest.approx((0.90 * 0.70) ** 0.5)
    rng = np.random.default_rng(0)
    for _ in range(20):
        first, second = rng.uniform(0, 1, 5).astype(np.float32), rng.uniform(0, 1, 5).astype(np.float32)
        assert all(0.0 <= hit.score <= 1.0 for hit in _then(first, second))


def test_trace_scores_are_no_candidates() -> None:
    assert candidates(IDS, DOG, 200) == {1: pytest.approx(0.93), 5: pytest.approx(0.70)}
    assert candidates(IDS, DOG, 1) == {1: pytest.approx(0.93)}
    assert candidates(IDS, np.zeros(5, np.float32), 200) == {}
    assert candidates(IDS[:0], DOG[:0], 200) == {}


@pytest.mark.slow
def test_collection_temporal_query_respects_order(tmp_path: Path, reuse_lite0: object) -> None:
    pytest.importorskip("av")
    from PIL import Image

    from mmir.api import Collection
    from mmir.media.video_write import write_video
    from mmir.search.queries import TextQuery

    def video(path: Path, names: list[str]) -> None:
        frames = []
        for name in names:  # 2 s a shot at 5 fps
            frames += [np.asarray(Image.open(skimage_data_dir() / name).convert("RGB").resize((320, 240)))] * 10
        write_video(path, frames, 5.0)

    media = tmp_path / "media"
    media.mkdir()
    video(media / "cat_then_coffee.mp4", ["chelsea.png", "coffee.png", "rocket.jpg"])
    video(media / "coffee_then_cat.mp4", ["coffee.png", "chelsea.png", "rocket.jpg"])
    with Collection.open(tmp_path / "coll", create=True) as coll:
        coll.index([media])
        hits = coll.search_then(TextQuery("cat"), TextQuery("espresso"), within_s=5.0)
        assert [Path(h.media.path).name for h in hits] == ["cat_then_coffee.mp4"]
        assert 0.0 <= hits[0].score <= 1.0
        assert hits[0].first.start_s < hits[0].second.start_s
