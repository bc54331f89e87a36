"""Learned user concepts: trained on stored descriptors, searchable at once, without decoding media."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, ImageEnhance, ImageOps

from mmir.api import Collection
from mmir.learn.labels_csv import read_label_csv


@pytest.fixture()
def varied_photos(photo_dir: Path) -> Path:
    for original in sorted(photo_dir.iterdir()):
        image = Image.open(original).convert("RGB")
        width, height = image.size
        ImageOps.mirror(image).save(photo_dir / f"{original.stem}-flip.jpg", quality=85)
        image.crop((width // 8, height // 8, width, height)).save(photo_dir / f"{original.stem}-crop.jpg")
        ImageEnhance.Brightness(image).enhance(0.7).save(photo_dir / f"{original.stem}-dark.jpg")
    return photo_dir


def test_learned_concept_is_searchable_without_the_cnn(tmp_path: Path, varied_photos: Path, reuse_lite0) -> None:
    with Collection.open(tmp_path / "coll", create=True) as coll:
        assert coll.index([varied_photos]).added == 24
    labels = tmp_path / "labels.csv"
    horse = ["horse.png", "horse-flip.jpg", "horse-crop.jpg", "horse-dark.jpg"]
    rocket = ["rocket.jpg", "rocket-flip.jpg", "rocket-crop.jpg", "rocket-dark.jpg"]
    rows = [f"{varied_photos / n},my-horse" for n in horse] + [f"{varied_photos / n},launch" for n in rocket]
    labels.write_text("path,labels\n" + "\n".join(rows) + "\n")
    with Collection.open(tmp_path / "coll") as coll:
        heads = coll.learn_concepts(read_label_csv(labels), negatives=50)
    assert heads.names == ("launch", "my-horse")

    with Collection.open(tmp_path / "coll") as coll:
        hits = coll.search_text("my horse", k=4)
        assert coll._encoder is None  # scored from stored descriptors: no CNN, no decoding
        assert sorted(Path(h.media.path).name for h in hits) == sorted(horse)
        assert all(h.score > 0.5 for h in hits)
        mapping = coll.map_query("launch")
        assert mapping.terms[0].concepts[0].name == "user:launch"

    # Learning another concept later keeps the earlier ones.
    labels.write_text("\n".join(f"{varied_photos / n},kitty" for n in ["chelsea.png", "chelsea-flip.jpg",
                                                                       "chelsea-crop.jpg", "chelsea-dark.jpg"]))
    with Collection.open(tmp_path / "coll") as coll:
        coll.learn_concepts(read_label_csv(labels), negatives=50)
        assert coll.user_concepts().names == ("launch", "my-horse", "kitty")
        assert Path(coll.search_text("kitty", k=1)[0].media.path).name.startswith("chelsea")
