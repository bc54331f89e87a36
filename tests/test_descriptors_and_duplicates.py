"""PCA-whitening learned on the collection, multi-scale descriptors and near-duplicate groups."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from mmir.api import Collection


def test_pca_relearned_without_cnn_and_search_still_finds_originals(
    tmp_path: Path, photo_dir: Path, reuse_lite0
) -> None:
    for original in sorted(photo_dir.iterdir()):
        ImageOps.mirror(Image.open(original).convert("RGB")).save(photo_dir / f"{original.stem}-m.jpg")
    with Collection.open(tmp_path / "coll", create=True) as coll:
        coll.index([photo_dir])
        coll.learn_pca(8, whiten=True)
        assert coll.store.vectors.dim == 8
    with Collection.open(tmp_path / "coll") as coll:  # the manifest remembers the projection
        assert coll.manifest.pca is not None and coll.store.vectors.dim == 8
        hits = coll.similar(photo_dir / "horse.png", k=1)
        assert Path(hits[0].media.path).name == "horse-m.jpg"
        assert coll._encoder is None  # PCA and item search need no CNN
        coll.learn_pca(None)
        assert coll.store.vectors.dim == 1280


def test_pca_learned_on_another_collection_of_the_same_model(tmp_path: Path, photo_dir: Path, reuse_lite0) -> None:
    import pytest

    from mmir.errors import CollectionError
    from mmir.models.pca import PCAWhitening

    others = tmp_path / "others"
    others.mkdir()
    for original in sorted(photo_dir.iterdir()):
        image = Image.open(original).convert("RGB")
        ImageOps.mirror(image).save(others / f"{original.stem}-m.jpg")
        ImageOps.grayscale(image).convert("RGB").save(others / f"{original.stem}-g.jpg")
    with Collection.open(tmp_path / "train", create=True) as train:
        train.index([others])
        expected = PCAWhitening.fit(train.store.catalog.all_descriptors()[1], 6)
    with Collection.open(tmp_path / "coll", create=True) as coll:
        coll.index([photo_dir])
        coll.learn_pca(6, training=tmp_path / "train")
        learned = PCAWhitening.load(coll.directory / coll.manifest.pca)
        np.testing.assert_allclose(learned.components, expected.components, atol=1e-5)
        assert coll.store.vectors.dim == 6
    with Collection.open(tmp_path / "avg", create=True, model_options={"pooling": "avg"}) as other_model:
        other_model.index([others])
    with Collection.open(tmp_path / "coll") as coll, pytest.raises(CollectionError, match="same model"):
        coll.learn_pca(6, training=tmp_path / "avg")


def test_near_duplicate_groups(tmp_path: Path, photo_dir: Path, reuse_lite0) -> None:
    shutil.copy(photo_dir / "rocket.jpg", photo_dir / "rocket-copy.jpg")
    Image.open(photo_dir / "chelsea.png").convert("RGB").save(photo_dir / "chelsea-q60.jpg", quality=60)
    with Collection.open(tmp_path / "coll", create=True) as coll:
        coll.index([photo_dir])
        groups = coll.near_duplicates(0.9)
        names = sorted(sorted(Path(ref.path).name for ref in group) for group in groups)
        assert names == [["chelsea-q60.jpg", "chelsea.png"], ["rocket-copy.jpg", "rocket.jpg"]]
        assert [len(group) for group in coll.near_duplicates(0.9999)] == [2]  # only the byte-identical copy


def test_multiscale_encoder_changes_fingerprint_and_keeps_unit_norm(lite0) -> None:
    from mmir.models import load_encoder

    multi = load_encoder("efficientnet-lite0", multiscale="true")
    assert multi.fingerprint != lite0.fingerprint
    batch = np.random.default_rng(0).standard_normal((2, 3, 224, 224)).astype(np.float32)
    encoded = multi.encode_batch(batch)
    assert np.allclose(np.linalg.norm(encoded.descriptors, axis=1), 1.0, atol=1e-5)
    single = lite0.encode_batch(batch)
    assert np.allclose(encoded.concepts, single.concepts, atol=1e-5)  # concepts come from scale 1
    assert not np.allclose(encoded.descriptors, single.descriptors, atol=1e-3)


def test_collection_indexes_with_a_model_directory(tmp_path: Path, photo_dir: Path, reuse_lite0, monkeypatch) -> None:
    import torch

    from mmir.models.heads import ProjectionHead
    from mmir.models.model_dir import write_projection_dir

    torch.manual_seed(0)
    write_projection_dir(tmp_path / "runs" / "metric", ProjectionHead(1280, 64), "efficientnet-lite0", {})
    monkeypatch.chdir(tmp_path)
    with Collection.open(tmp_path / "coll", create=True, model="runs/metric") as coll:
        coll.index([photo_dir])
        assert coll.info().dim == 64
        assert coll.manifest.model == str(tmp_path / "runs" / "metric")  # absolute: works from any folder
        assert "+head@" in coll.manifest.fingerprint
    monkeypatch.chdir(photo_dir)
    with Collection.open(tmp_path / "coll") as coll:
        query = photo_dir / "q.jpg"
        ImageOps.mirror(Image.open(photo_dir / "horse.png").convert("RGB")).save(query)
        assert Path(coll.search_image(query, k=1)[0].media.path).name == "horse.png"
