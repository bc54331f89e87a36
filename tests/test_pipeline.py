"""Incremental indexing, bad input and the store's crash safety, through the pipeline itself."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mmir.index.manifest import Manifest
from mmir.index.store import SegmentStore
from mmir.indexing.pipeline import Indexer, IndexOptions
from mmir.media import ImageLimits


def _store(directory: Path, encoder) -> SegmentStore:
    directory.mkdir(exist_ok=True)
    manifest = Manifest(model=encoder.name, fingerprint=encoder.fingerprint, dim=encoder.dim)
    manifest.save(directory / SegmentStore.MANIFEST)
    return SegmentStore(directory, manifest)


class CountingEncoder:
    """Wraps the real encoder and counts how often the pipeline builds it and encodes with it."""

    def __init__(self, encoder) -> None:
        self.encoder = encoder
        self.builds = 0
        self.encoded = 0

    def build(self):
        self.builds += 1
        return self

    def __getattr__(self, name: str):
        return getattr(self.encoder, name)

    def encode_batch(self, batch):
        self.encoded += len(batch)
        if hasattr(self.encoder, "encode_batch"):
            return self.encoder.encode_batch(batch)
        import torch  # encoders from before the numpy interface take a tensor

        return self.encoder.encode_tensor(torch.from_numpy(batch))


def _run(store: SegmentStore, roots, counting: CountingEncoder, **options):
    indexer = Indexer(store, counting.build, IndexOptions(batch_size=4, progress=False, **options))
    return indexer.run([str(r) for r in roots])


def test_incremental_add_modify_touch_delete(tmp_path: Path, photo_dir: Path, lite0) -> None:
    store = _store(tmp_path / "coll", lite0)
    counting = CountingEncoder(lite0)
    first = _run(store, [photo_dir], counting)
    assert (first.added, first.encoded, first.problems) == (6, 6, ())
    assert len(store.vectors) == 6

    again = _run(store, [photo_dir], CountingEncoder(lite0))
    assert (again.unchanged, again.encoded, again.added) == (6, 0, 0)

    untouched = CountingEncoder(lite0)
    os.utime(photo_dir / "horse.png", (1, 1))  # new mtime, same bytes: no model work at all
    touched = _run(store, [photo_dir], untouched)
    assert touched.unchanged == 6 and untouched.builds == 0 and untouched.encoded == 0

    Image.open(photo_dir / "coffee.png").rotate(90).save(photo_dir / "coffee.png")
    shutil.copy(photo_dir / "chelsea.png", photo_dir / "chelsea-copy.png")
    (photo_dir / "rocket.jpg").unlink()
    counting = CountingEncoder(lite0)
    changed = _run(store, [photo_dir], counting)
    assert (changed.updated, changed.removed, changed.reused, changed.encoded) == (1, 1, 1, 1)
    ids, _ = store.catalog.all_descriptors()
    assert len(ids) == len(store.vectors) == 6
    assert store.catalog.lookup(str(photo_dir / "rocket.jpg")) is None


def test_bad_files_are_reported_once_and_skipped(tmp_path: Path, photo_dir: Path, lite0) -> None:
    store = _store(tmp_path / "coll", lite0)
    _run(store, [photo_dir], CountingEncoder(lite0))
    before = store.catalog.all_descriptors()
    (photo_dir / "empty.jpg").write_bytes(b"")
    (photo_dir / "text.png").write_text("not an image at all")
    data = (photo_dir / "rocket.jpg").read_bytes()
    (photo_dir / "truncated.jpg").write_bytes(data[: len(data) // 3])
    os.symlink(photo_dir / "missing.jpg", photo_dir / "dangling.jpg")
    Image.new("1", (4000, 3000)).save(photo_dir / "bomb.png")  # 12 Mpx that compresses to a few KB
    (photo_dir / "big.bmp").write_bytes(b"BM" + bytes(300_000))
    limits = ImageLimits(max_pixels=5_000_000, max_bytes=200_000)
    report = _run(store, [photo_dir], CountingEncoder(lite0), limits=limits)
    bad = sorted(Path(p.path).name for p in report.problems)
    assert bad == ["big.bmp", "bomb.png", "dangling.jpg", "empty.jpg", "text.png", "truncated.jpg"]
    assert all(p.reason for p in report.problems)
    assert (photo_dir / "bomb.png").stat().st_size < 200_000
    after = store.catalog.all_descriptors()
    assert np.array_equal(before[0], after[0]) and np.array_equal(before[1], after[1])


def test_odd_file_names_are_indexed(tmp_path: Path, photo_dir: Path, lite0) -> None:
    odd = [os.fsdecode(b"caf\xe9.png"), "with space ü.png", "日本.png"]
    for name in odd:
        shutil.copy(photo_dir / "horse.png", photo_dir / name)
    store = _store(tmp_path / "coll", lite0)
    report = _run(store, [photo_dir], CountingEncoder(lite0))
    assert report.problems == ()
    for name in odd:
        assert store.catalog.lookup(str(photo_dir / name)) is not None
    assert report.reused == 3  # identical bytes: encodings copied, not recomputed


def test_vectors_rebuilt_from_catalog_when_they_lag(tmp_path: Path, photo_dir: Path, lite0) -> None:
    directory = tmp_path / "coll"
    store = _store(directory, lite0)
    _run(store, [photo_dir], CountingEncoder(lite0))
    query = store.catalog.all_descriptors()[1][:1]
    expected = store.search(query, 3)
    store.close()
    # Simulate a crash after the catalog committed but before the vector index was saved.
    (directory / SegmentStore.VECTORS).unlink()
    reopened = SegmentStore(directory, Manifest.load(directory / SegmentStore.MANIFEST))
    got = reopened.search(query, 3)
    assert np.array_equal(got[1], expected[1])
    assert np.allclose(got[0], expected[0], atol=1e-5)


def test_second_writer_is_refused(tmp_path: Path, lite0) -> None:
    from mmir.errors import CollectionError

    directory = tmp_path / "coll"
    first = _store(directory, lite0)
    first.lock_for_writing()
    second = SegmentStore(directory, Manifest.load(directory / SegmentStore.MANIFEST))
    with pytest.raises(CollectionError, match="another mmir process"):
        second.lock_for_writing()
    first.close()
    second.lock_for_writing()


def test_a_permanently_broken_file_does_not_load_the_model_on_reindex(
    tmp_path: Path, photo_dir: Path, reuse_lite0, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found when tried: one unreadable photo made every no-change `mmir index` load the model (8–15 s)."""
    import mmir.models
    from mmir.api import Collection

    data = (photo_dir / "rocket.jpg").read_bytes()
    (photo_dir / "truncated.jpg").write_bytes(data[: len(data) // 3])
    with Collection.open(tmp_path / "coll", create=True) as coll:
        first = coll.index([photo_dir], IndexOptions(progress=False))
    assert (first.added, [Path(p.path).name for p in first.problems]) == (6, ["truncated.jpg"])

    def must_not_load(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model was loaded for a re-index with nothing new that decodes")

    monkeypatch.setattr(mmir.models, "load_encoder", must_not_load)
    with Collection.open(tmp_path / "coll") as coll:
        again = coll.index([photo_dir], IndexOptions(progress=False))
    assert (again.unchanged, again.encoded, again.failed_before) == (6, 0, 1)
    assert again.problems == ()  # counted in failed_before, not reported again
