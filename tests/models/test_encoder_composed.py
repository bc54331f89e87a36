"""The composed encoder: PyTorch and ONNX Runtime agree, specs round-trip as data, old entries and collections open."""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mmir.errors import ModelError
from mmir.models import EncoderSpec, load_encoder, resolve_spec
from mmir.models.spec import MULTISCALE, HeadKind, Pooling, fingerprint_of


def _photos(photo_dir: Path) -> list[Image.Image]:
    return [Image.open(path).convert("RGB") for path in sorted(photo_dir.iterdir())]


def test_onnx_and_torch_descriptors_agree_on_real_photos(photo_dir: Path, lite0, lite0_torch) -> None:
    assert lite0.backend == "onnx" and lite0_torch.backend == "torch"
    assert lite0.fingerprint == lite0_torch.fingerprint  # the backend is not part of what is computed
    images = _photos(photo_dir)
    fast, eager = lite0.encode(images), lite0_torch.encode(images)
    cosine = np.sum(fast.descriptors * eager.descriptors, axis=1)
    assert cosine.min() >= 0.999
    assert np.abs(fast.concepts - eager.concepts).max() < 1e-4
    np.testing.assert_array_equal(fast.concepts.argmax(1), eager.concepts.argmax(1))


def test_numpy_preprocessing_matches_torchvision(photo_dir: Path, lite0) -> None:
    from mmir.models.efficientnet import WEIGHTS

    preprocessing = WEIGHTS["efficientnet-lite0"].preprocessing
    level = 1 / (255 * preprocessing.std[0])  # one 8-bit grey level after normalisation
    odd_sizes = [Image.new("RGB", (900, 120), (200, 10, 40)), Image.new("RGB", (256, 256), (9, 99, 199))]
    for image in [*_photos(photo_dir), *odd_sizes]:
        ours, reference = lite0.preprocess(image), preprocessing.transform()(image).numpy()
        assert ours.shape == reference.shape == (3, 224, 224)
        # Resampling only the crop window rounds a few values differently, never more than that.
        difference = np.abs(ours - reference)
        assert difference.mean() < 0.05 * level
        assert np.mean(difference > 1.01 * level) < 1e-3


def test_single_images_and_batches_give_the_same_vectors(photo_dir: Path, lite0) -> None:
    images = _photos(photo_dir)[:3]
    one_by_one = np.concatenate([lite0.encode([image]).descriptors for image in images])  # 1-thread session
    np.testing.assert_allclose(one_by_one, lite0.encode(images).descriptors, atol=1e-5)


def test_export_is_cached_per_fingerprint_and_reopens_without_torch(lite0, tmp_path: Path) -> None:
    import os
    import subprocess

    code = (
        "import sys, numpy as np; from mmir.models import load_encoder; "
        f"e = load_encoder('efficientnet-lite0', fingerprint={lite0.fingerprint!r}); "
        "out = e.encode_batch(np.zeros((1, 3, 224, 224), np.float32)); "
        "print(e.backend, out.descriptors.shape, 'torch' in sys.modules)"
    )
    env = dict(os.environ)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert result.stdout.split() == ["onnx", "(1,", "1280)", "False"]


def test_a_damaged_cache_entry_is_exported_again(lite0, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mmir.models import onnx_cache

    monkeypatch.setenv("MMIR_CACHE_DIR", str(tmp_path / "cache"))
    spec = resolve_spec("efficientnet-lite0", pooling="avg")
    first = load_encoder(spec)
    entry = onnx_cache.lookup(first.fingerprint)
    assert entry is not None
    Path(entry.onnx_path).write_bytes(b"truncated")  # size no longer matches the record
    assert onnx_cache.lookup(first.fingerprint) is None
    again = load_encoder(spec)
    assert again.backend == "onnx" and again.encode_batch(np.zeros((1, 3, 224, 224), np.float32)).descriptors.shape == (
        1,
        1280,
    )


def test_spec_round_trips_through_json_and_a_model_directory(tmp_path: Path) -> None:
    import torch

    from mmir.models.heads import ProjectionHead
    from mmir.models.model_dir import read_model_dir, write_projection_dir

    spec = EncoderSpec("efficientnet-lite0", pooling=Pooling.RMAC, scales=MULTISCALE)
    assert EncoderSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    torch.manual_seed(0)
    write_projection_dir(tmp_path / "m", ProjectionHead(1280, 32), "efficientnet-lite0", {"pooling": "avg"})
    first = load_encoder(tmp_path / "m", backend="torch")
    again = load_encoder(read_model_dir(tmp_path / "m"), backend="torch")
    assert first.fingerprint == again.fingerprint and "+head@" in first.fingerprint and first.dim == 32
    assert first.spec is not None and first.spec.head is not None and first.spec.head.kind is HeadKind.PROJECTION
    x = np.random.default_rng(1).standard_normal((2, 3, 224, 224)).astype(np.float32)
    np.testing.assert_allclose(first.encode_batch(x).descriptors, again.encode_batch(x).descriptors, atol=1e-6)


def test_fingerprint_depends_on_everything_that_changes_the_output() -> None:
    base = EncoderSpec("efficientnet-lite0")
    prints = {
        fingerprint_of(base, "w@1"),
        fingerprint_of(base, "w@2"),
        fingerprint_of(EncoderSpec("efficientnet-lite0", pooling=Pooling.AVG), "w@1"),
        fingerprint_of(EncoderSpec("efficientnet-lite0", scales=MULTISCALE), "w@1"),
    }
    assert len(prints) == 4
    with pytest.raises(ModelError, match="unknown model option"):
        resolve_spec("efficientnet-lite0", colour="blue")
    with pytest.raises(ModelError, match="unknown pooling"):
        resolve_spec("efficientnet-lite0", pooling="median")


def test_a_version_0_1_model_entry_opens_with_its_old_fingerprint(tmp_path: Path) -> None:
    """mmir 0.1 wrote ``model.json`` + ``head.npz`` (an ``.npz`` of the state dict plus a ``_shape`` header)."""
    import hashlib

    import torch

    from mmir.models.heads import ProjectionHead

    torch.manual_seed(0)
    head = ProjectionHead(1280, 16)
    folder = tmp_path / "old"
    folder.mkdir()
    arrays = {name: value.numpy() for name, value in head.state_dict().items()}
    np.savez(folder / "head.npz", _shape=np.array([1280, 16, 0], np.int64), **arrays)
    digest = hashlib.sha256((folder / "head.npz").read_bytes()).hexdigest()
    meta = {"format": "mmir-model/1", "kind": "projection-head", "base": "efficientnet-lite0",
            "base_options": {"pooling": "gem"}, "head": "head.npz", "head_sha256": digest, "dim": 16}  # fmt: skip
    (folder / "model.json").write_text(json.dumps(meta))
    encoder = load_encoder(folder, backend="torch")
    assert encoder.fingerprint.endswith(f"/gem+head@{digest[:16]}")
    x = np.random.default_rng(2).standard_normal((2, 3, 224, 224)).astype(np.float32)
    assert encoder.encode_batch(x).descriptors.shape == (2, 16)


def test_a_version_0_1_collection_opens_and_searches(tmp_path: Path, photo_dir: Path, lite0) -> None:
    """A collection as mmir 0.1 left it: manifest without new fields, catalog at schema 1 (upgraded on open)."""
    from mmir.api import Collection
    from mmir.index.catalog import MIGRATIONS

    folder = tmp_path / "old"
    folder.mkdir()
    chelsea = photo_dir / "chelsea.png"
    encoded = lite0.encode([Image.open(chelsea).convert("RGB")])
    manifest = {"model": "efficientnet-lite0", "fingerprint": lite0.fingerprint, "dim": 1280, "model_options": {},
                "metric": "ip", "factory": "Flat", "concept_names": list(lite0.concept_names), "pca": None,
                "vectors_generation": -1, "version": 1}  # fmt: skip
    (folder / "manifest.json").write_text(json.dumps(manifest))
    db = sqlite3.connect(folder / "catalog.sqlite")
    db.executescript(MIGRATIONS[1])
    db.execute("PRAGMA user_version=1")
    stat = chelsea.stat()
    db.execute(
        "INSERT INTO media(id, path, display, kind, size, mtime, sha1, indexed_at) "
        "VALUES(1, ?, ?, 'image', ?, ?, 'x', 0)",
        (str(chelsea).encode(), str(chelsea), stat.st_size, stat.st_mtime),
    )
    db.execute(
        "INSERT INTO segments(media_id, descriptor, concepts) VALUES(1, ?, ?)",
        (encoded.descriptors[0].tobytes(), encoded.concepts[0].astype(np.float16).tobytes()),  # as 0.1 stored them
    )
    db.commit()
    db.close()
    with Collection.open(folder) as collection:
        assert Path(collection.search_text("cat", k=1)[0].media.path).name == "chelsea.png"
        assert Path(collection.search_image(chelsea, k=1)[0].media.path).name == "chelsea.png"
    version = sqlite3.connect(folder / "catalog.sqlite").execute("PRAGMA user_version").fetchone()[0]
    assert version == max(MIGRATIONS)


def test_collection_accepts_an_encoder_object_and_reopens_without_it(tmp_path: Path, photo_dir: Path) -> None:
    from mmir.api import Collection

    encoder = load_encoder(EncoderSpec("efficientnet-lite0", pooling=Pooling.AVG))
    with Collection.open(tmp_path / "c", create=True, encoder=encoder) as collection:
        collection.index([photo_dir])
        assert collection.manifest.fingerprint == encoder.fingerprint
    with Collection.open(tmp_path / "c") as collection:  # rebuilt from the spec saved inside the collection
        assert collection.encoder.fingerprint == encoder.fingerprint
        assert Path(collection.search_image(photo_dir / "horse.png", k=1)[0].media.path).name == "horse.png"
    other = load_encoder("efficientnet-lite0", backend="torch")
    from mmir.errors import CollectionError

    with pytest.raises(CollectionError, match="not by the given encoder"):
        Collection.open(tmp_path / "c", encoder=other)


def test_rmac_and_multiscale_encoders_export_to_onnx(lite0_torch) -> None:
    """R-MAC's region grid and the multi-scale resizes are computed from the map size at export time."""
    x = np.random.default_rng(3).standard_normal((2, 3, 224, 224)).astype(np.float32)
    fast = load_encoder("efficientnet-lite0", pooling="rmac", multiscale="true")
    eager = load_encoder("efficientnet-lite0", backend="torch", pooling="rmac", multiscale="true")
    assert fast.backend == "onnx"  # not a silent fallback to PyTorch
    cosine = np.sum(fast.encode_batch(x).descriptors * eager.encode_batch(x).descriptors, axis=1)
    assert cosine.min() >= 0.999
