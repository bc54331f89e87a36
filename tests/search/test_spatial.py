"""Spatial verification: ORB matches + RANSAC similarity re-rank crops of real photos to their original."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps
from tests.conftest import SAMPLE_PHOTOS, skimage_data_dir

from mmir.search.spatial import SpatialConfig, count_inliers, extract_local, rerank, verified_pairs

pytest.importorskip("cv2")


@pytest.fixture(scope="module")
def photos() -> dict[str, Image.Image]:
    return {name: Image.open(skimage_data_dir() / name).convert("RGB") for name in SAMPLE_PHOTOS}


def crop60(image: Image.Image) -> Image.Image:
    """The centre-right 60 % (by side) of ``image``, shrunk to 70 %."""
    w, h = image.size
    box = (int(w * 0.3), int(h * 0.2), int(w * 0.9), int(h * 0.8))
    part = image.crop(box)
    return part.resize((int(part.width * 0.7), int(part.height * 0.7)))


def test_a_crop_matches_its_original_and_not_other_photos(photos: dict[str, Image.Image]) -> None:
    query = extract_local(crop60(photos["astronaut.png"]))
    inliers = {name: count_inliers(query, extract_local(image)) for name, image in photos.items()}
    assert inliers["astronaut.png"] >= 50
    assert max(v for k, v in inliers.items() if k != "astronaut.png") < SpatialConfig().min_inliers


def test_fits_of_implausible_scale_count_nothing(photos: dict[str, Image.Image]) -> None:
    # The crop was shrunk to 70 %: it maps onto the original with a scale of about 1 / 0.7 ≈ 1.43.
    query, original = extract_local(crop60(photos["astronaut.png"])), extract_local(photos["astronaut.png"])
    assert count_inliers(query, original, SpatialConfig(scale_range=(1.2, 1.7))) >= 50
    assert count_inliers(query, original, SpatialConfig(scale_range=(0.1, 1.2))) == 0


def test_rerank_moves_the_original_of_a_60_percent_crop_to_the_top(photos: dict[str, Image.Image]) -> None:
    for name in ("astronaut.png", "coffee.png", "motorcycle_left.png"):
        # The global ranking put the original last: re-ranking must bring it first.
        order = [n for n in SAMPLE_PHOTOS if n != name] + [name]
        ranked = rerank(crop60(photos[name]), order, lambda n: photos[n])
        assert ranked[0][0] == name
        assert ranked[0][1] >= SpatialConfig().min_inliers
        assert [n for n, _ in ranked[1:]] == [n for n in order if n != name]  # the rest keep their order


def test_unverified_candidates_keep_their_global_order(photos: dict[str, Image.Image]) -> None:
    plain = Image.fromarray(np.full((120, 160, 3), 128, np.uint8))  # no keypoints at all
    order = list(SAMPLE_PHOTOS)
    assert [n for n, _ in rerank(plain, order, lambda n: photos[n])] == order
    # A candidate that cannot be loaded keeps its place, unverified.
    ranked = rerank(crop60(photos["horse.png"]), order, lambda n: None if n == "horse.png" else photos[n])
    assert [n for n, _ in ranked] == order


def test_mirrored_query_finds_flipped_copies_by_default(photos: dict[str, Image.Image]) -> None:
    flipped = ImageOps.mirror(crop60(photos["coffee.png"]))
    order = [n for n in SAMPLE_PHOTOS if n != "coffee.png"] + ["coffee.png"]
    assert rerank(flipped, order, lambda n: photos[n], SpatialConfig(mirror=False))[0][0] != "coffee.png"
    assert rerank(flipped, order, lambda n: photos[n])[0][0] == "coffee.png"


def test_only_top_candidates_are_verified(photos: dict[str, Image.Image]) -> None:
    loaded: list[str] = []

    def load(name: str) -> Image.Image:
        loaded.append(name)
        return photos[name]

    rerank(crop60(photos["chelsea.png"]), list(SAMPLE_PHOTOS), load, SpatialConfig(top=2))
    assert loaded == list(SAMPLE_PHOTOS[:2])


def test_verified_pairs_links_a_crop_below_the_strict_threshold(photos: dict[str, Image.Image]) -> None:
    images = [photos["astronaut.png"], crop60(photos["astronaut.png"]), photos["coffee.png"]]
    vectors = np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]], np.float32)  # crop-original 0.8, crop-coffee 0.6
    first, second = verified_pairs(vectors, lambda i: images[i], strict=0.9, loose=0.5)
    assert list(zip(first.tolist(), second.tolist(), strict=True)) == [(0, 1)]


def test_collection_query_by_a_crop_finds_its_original_first(tmp_path: Path, photo_dir: Path, reuse_lite0) -> None:
    from mmir.api import Collection

    query = tmp_path / "query.jpg"
    crop60(Image.open(photo_dir / "motorcycle_left.png").convert("RGB")).save(query, quality=90)
    with Collection.open(tmp_path / "coll", create=True) as coll:
        coll.index([photo_dir])
        hits = coll.search_image(query, k=3, spatial=SpatialConfig())
        assert Path(hits[0].media.path).name == "motorcycle_left.png"
        assert "matching local features" in hits[0].why[-1]
        assert len(hits) == 3


def test_deeper_candidates_are_verified_only_while_none_verified() -> None:
    from mmir.search.spatial import rerank_by_inliers

    config = SpatialConfig(top=6, first=2, min_inliers=10)
    asked: list[int] = []

    def inliers_of(candidate: int) -> int:
        asked.append(candidate)
        return {4: 40, 5: 90}.get(candidate, 3)

    # The copy the global descriptor ranked 5th is found: batches 0-1 and 2-3 verify nothing, 4-5 does.
    ranked = rerank_by_inliers(list(range(8)), inliers_of, config)
    assert asked == [0, 1, 2, 3, 4, 5]
    assert ranked == [(5, 90), (4, 40), (0, 3), (1, 3), (2, 3), (3, 3), (6, 0), (7, 0)]
    asked.clear()
    # A copy verified in the first batch: nothing deeper is decoded.
    assert rerank_by_inliers([5, 0, 1, 2, 3, 4], inliers_of, config)[0] == (5, 90)
    assert asked == [5, 0]
