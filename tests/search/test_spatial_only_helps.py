"""Spatial re-ranking only helps: mirrored copies verify, a near-exact top match stays first, video shots verify."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps
from tests.conftest import SAMPLE_PHOTOS, skimage_data_dir

from mmir.search.spatial import SpatialConfig, count_inliers, extract_local, rerank_by_inliers, rerank_hits
from mmir.types import Hit, MediaKind, MediaRef, Segment

pytest.importorskip("cv2")


@pytest.fixture(scope="module")
def photos() -> dict[str, Image.Image]:
    return {name: Image.open(skimage_data_dir() / name).convert("RGB") for name in SAMPLE_PHOTOS}


def _photo_hit(sid: int, path: Path, score: float) -> Hit:
    media = MediaRef(sid, str(path), MediaKind.IMAGE, 1, 0.0, "x")
    return Hit(media, Segment(sid, sid), score, (f"similar {score:.2f}",))


def _flip_scene(tmp_path: Path, photos: dict[str, Image.Image], original_score: float) -> tuple[Image.Image, list[Hit]]:
    """A mirrored coffee photo as the query; its original first by the descriptor, then a photo holding a pasted
    piece of the *mirrored* picture (it verifies with the query as it is), then an unrelated photo."""
    query = ImageOps.mirror(photos["coffee.png"])
    decoy = photos["astronaut.png"].copy()
    decoy.paste(query.crop((150, 100, 350, 300)), (40, 40))
    paths = {name: tmp_path / f"{name}.png" for name in ("original", "decoy", "other")}
    photos["coffee.png"].save(paths["original"])
    decoy.save(paths["decoy"])
    photos["chelsea.png"].save(paths["other"])
    hits = [
        _photo_hit(1, paths["original"], original_score),
        _photo_hit(2, paths["decoy"], 0.70),
        _photo_hit(3, paths["other"], 0.60),
    ]
    return query, hits


def test_a_flipped_copy_stays_first_while_another_photo_verifies(tmp_path: Path, photos) -> None:
    query, hits = _flip_scene(tmp_path, photos, original_score=0.80)
    # The situation of the report: without the mirror the original verifies nothing, the decoy does.
    plain = extract_local(query)
    assert count_inliers(plain, extract_local(photos["coffee.png"])) < SpatialConfig().min_inliers
    assert count_inliers(plain, extract_local(Image.open(hits[1].media.path))) >= SpatialConfig().min_inliers
    ranked = rerank_hits(query, hits)  # product defaults
    assert ranked[0].media.path == hits[0].media.path
    assert "matching local features" in ranked[0].why[-1]  # verified through the mirrored query


def test_a_near_exact_top_match_is_kept_even_when_nothing_verifies_it(tmp_path: Path, photos) -> None:
    query, hits = _flip_scene(tmp_path, photos, original_score=0.97)
    no_mirror = SpatialConfig(mirror=False, near_exact=0.9)
    assert rerank_hits(query, hits, no_mirror)[0].media.path == hits[0].media.path
    # The guard is for near-exact matches only: a top match at 0.80 does move below the verified decoy.
    _, lower = _flip_scene(tmp_path, photos, original_score=0.80)
    assert rerank_hits(query, lower, no_mirror)[0].media.path == hits[1].media.path


def test_the_exact_original_is_never_demoted() -> None:
    config = SpatialConfig(near_exact=0.9, min_inliers=10)
    inliers = {"original": 12, "bigger copy": 400, "other": 30}
    order = ["original", "bigger copy", "other"]
    ranked = rerank_by_inliers(order, inliers.__getitem__, config, scores=[1.0, 0.8, 0.5])
    assert [c for c, _ in ranked] == order  # below the top match, verified ones by inliers
    inliers["original"] = 0  # unverified (few keypoints, or its file moved): still first
    assert [c for c, _ in rerank_by_inliers(order, inliers.__getitem__, config, [1.0, 0.8, 0.5])] == order
    # Without a near-exact top match the rule re-ranks as before.
    ranked = rerank_by_inliers(order, inliers.__getitem__, config, scores=[0.85, 0.8, 0.5])
    assert [c for c, _ in ranked] == ["bigger copy", "other", "original"]


def test_the_mirror_is_matched_only_when_the_top_candidate_does_not_verify() -> None:
    config = SpatialConfig(top=4, first=4, min_inliers=10)
    direct, mirrored = {0: 50, 1: 3, 2: 0, 3: 0}, {0: 0, 1: 0, 2: 0, 3: 90}
    asked: list[int] = []

    def mirror_count(c: int) -> int:
        asked.append(c)
        return mirrored[c]

    assert rerank_by_inliers([0, 1, 2, 3], direct.__getitem__, config, None, mirror_count)[0] == (0, 50)
    assert asked == []  # the copy verified directly: no second match
    ranked = rerank_by_inliers([1, 2, 3, 0], direct.__getitem__, config, None, mirror_count)
    assert ranked[0] == (3, 90) and asked == [1, 2, 3, 0]


def test_a_video_shot_is_verified_on_its_keyframe(tmp_path: Path, photos) -> None:
    pytest.importorskip("av")
    from mmir.media.video_write import write_video

    frames = []
    for name in ("chelsea.png", "coffee.png", "rocket.jpg"):
        frames += [np.asarray(photos[name].resize((480, 360)))] * 10  # 2 s at 5 fps each
    video = tmp_path / "shots.mp4"
    write_video(video, frames, 5.0)
    media = MediaRef(7, str(video), MediaKind.VIDEO, video.stat().st_size, 0.0, "x")
    photos["astronaut.png"].save(tmp_path / "astronaut.png")
    hits = [_photo_hit(1, tmp_path / "astronaut.png", 0.6)] + [
        Hit(media, Segment(10 + i, 7, 2.0 * i, 2.0 * i + 2, 2.0 * i + 1), 0.55 - 0.01 * i) for i in range(3)
    ]
    part = photos["coffee.png"].crop((100, 80, 420, 330))  # a crop of the photo the second shot shows
    ranked = rerank_hits(part, hits)
    assert ranked[0].segment.id == 11
    assert "matching local features" in ranked[0].why[-1]
