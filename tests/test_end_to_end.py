"""End to end through the public API on real photos from scikit-image."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, ImageEnhance, ImageOps

from mmir.api import Collection
from mmir.errors import CollectionError, MmirError
from mmir.media import MediaError


@pytest.fixture()
def collection(tmp_path: Path, photo_dir: Path, reuse_lite0):
    coll = Collection.open(tmp_path / "coll", create=True)
    report = coll.index([photo_dir])
    assert report.added == 6 and report.problems == ()
    yield coll
    coll.close()


def _name(hit) -> str:
    return Path(hit.media.path).name


def test_keyword_search_ranks_the_right_photo_first(collection: Collection) -> None:
    cat = collection.search_text("cat", k=3)
    assert _name(cat[0]) == "chelsea.png"
    assert any("cat" in why for why in cat[0].why)
    assert _name(collection.search_text("cup", k=3)[0]) == "coffee.png"
    assert _name(collection.search_text("motorcycle", k=3)[0]) == "motorcycle_left.png"
    scores = [hit.score for hit in cat]
    assert scores == sorted(scores, reverse=True)


def _edit(image: Image.Image, how: int) -> Image.Image:
    width, height = image.size
    cropped = image.crop((width // 10, height // 12, width - width // 8, height - height // 10))
    if how == 0:
        return ImageOps.mirror(cropped)
    if how == 1:
        return cropped.resize((cropped.width // 2, cropped.height // 2)).rotate(8, expand=True)
    return ImageEnhance.Color(cropped).enhance(0.5)


@pytest.mark.parametrize("how", [0, 1, 2])
def test_edited_copy_finds_its_original_at_rank_1(collection: Collection, photo_dir: Path, tmp_path: Path,
                                                   how: int) -> None:  # fmt: skip
    for original in sorted(photo_dir.iterdir()):
        query = tmp_path / f"query-{original.stem}.jpg"
        _edit(Image.open(original).convert("RGB"), how).save(query, quality=60)
        hits = collection.search_image(query, k=3)
        assert _name(hits[0]) == original.name, (original.name, [_name(h) for h in hits])


def test_similar_leaves_the_item_itself_out(collection: Collection, photo_dir: Path) -> None:
    hits = collection.similar(photo_dir / "chelsea.png", k=5)
    assert len(hits) == 5
    assert all(_name(hit) != "chelsea.png" for hit in hits)


def test_similar_to_an_unindexed_file_is_a_clear_error(collection: Collection, tmp_path: Path) -> None:
    with pytest.raises(MmirError, match="not in the collection"):
        collection.similar(tmp_path / "nope.jpg")


def test_bad_query_image_gives_a_clear_error(collection: Collection, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_text("hello")
    with pytest.raises(MediaError, match="bad.jpg"):
        collection.search_image(bad)
    with pytest.raises(MediaError, match="missing.jpg"):
        collection.search_image(tmp_path / "missing.jpg")


def test_collection_refuses_another_model(collection: Collection) -> None:
    with pytest.raises(CollectionError, match="efficientnet-lite0"):
        Collection.open(collection.directory, model="efficientnet-lite2")


def test_missing_collection_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CollectionError, match="no mmir collection"):
        Collection.open(tmp_path / "none")


def test_info_counts(collection: Collection) -> None:
    info = collection.info()
    assert (info.media, info.segments, info.vectors, info.concepts, info.dim) == (6, 6, 6, 1000, 1280)
    assert info.bytes_on_disk > 0
