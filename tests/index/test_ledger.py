"""The ledger of derived data with the pipeline and a tiny fake encoder: back-fill, coverage, stale outputs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tests.test_pipeline_stages import FakeEncoder, FakeVideoHandler, MeanColour, _photos

from mmir.index import ledger
from mmir.index.channels import CatalogChannelSink, channel_vectors
from mmir.index.manifest import Manifest
from mmir.index.store import SegmentStore
from mmir.indexing.pipeline import Indexer, IndexOptions
from mmir.media import FileEntry
from mmir.types import MediaKind


def _store(directory: Path) -> SegmentStore:
    directory.mkdir(exist_ok=True)
    manifest = Manifest(model="fake", fingerprint=FakeEncoder.fingerprint, dim=FakeEncoder.dim)
    manifest.save(directory / SegmentStore.MANIFEST)
    return SegmentStore(directory, manifest)


def _index(store: SegmentStore, folder: Path, encoder: FakeEncoder, *channels: MeanColour):
    options = IndexOptions(progress=False, channels=tuple(channels))
    sink = CatalogChannelSink(store.catalog) if channels else None
    return Indexer(store, encoder.build, options, channel_sink=sink).run([str(folder)])


def test_adding_a_channel_to_an_indexed_folder_back_fills_every_file_without_the_encoder(tmp_path: Path) -> None:
    folder = _photos(tmp_path / "photos", 5, size=(40, 30))
    store = _store(tmp_path / "c")
    assert _index(store, folder, FakeEncoder()).added == 5

    encoder, channel = FakeEncoder(side=16), MeanColour()
    report = _index(store, folder, encoder, channel)
    assert (report.unchanged, report.backfilled, report.problems) == (5, 5, ())
    assert encoder.batches == []  # a decode pass only: the CNN never ran
    ids, vectors = channel_vectors(store.catalog, "mean-colour")
    assert len(ids) == 5 and vectors.shape == (5, 3)
    assert len(channel.sizes) == 5  # each file decoded once (at the indexing pass's size: see the next test)

    again = _index(store, folder, FakeEncoder(), MeanColour())
    assert (again.unchanged, again.backfilled) == (5, 0)  # the ledger knows they have it now
    cover = {c.producer: c for c in ledger.coverage(store.catalog)}
    assert (cover["channel:mean-colour"].files, cover["channel:mean-colour"].total) == (5, 5)


def test_back_filled_channel_equals_the_one_computed_while_indexing(tmp_path: Path) -> None:
    folder = _photos(tmp_path / "photos", 3, size=(40, 30))
    direct, later = _store(tmp_path / "direct"), _store(tmp_path / "later")
    _index(direct, folder, FakeEncoder(), MeanColour())
    _index(later, folder, FakeEncoder())
    _index(later, folder, FakeEncoder(), MeanColour())
    np.testing.assert_array_equal(
        channel_vectors(direct.catalog, "mean-colour")[1], channel_vectors(later.catalog, "mean-colour")[1]
    )


def test_a_collection_that_gains_files_gets_the_channel_for_all_of_them(tmp_path: Path) -> None:
    folder = _photos(tmp_path / "photos", 3, size=(40, 30))
    store = _store(tmp_path / "g")
    _index(store, folder, FakeEncoder())
    Image.new("RGB", (40, 30), (0, 0, 255)).save(folder / "new.png")

    report = _index(store, folder, FakeEncoder(), MeanColour())
    assert (report.added, report.unchanged, report.backfilled) == (1, 3, 3)
    assert len(channel_vectors(store.catalog, "mean-colour")[0]) == 4  # not just the new file


def test_new_content_drops_what_was_derived_from_the_old_one(tmp_path: Path) -> None:
    folder = _photos(tmp_path / "photos", 2, size=(40, 30))
    store = _store(tmp_path / "s")
    _index(store, folder, FakeEncoder(), MeanColour())
    Image.new("RGB", (41, 30), (0, 255, 0)).save(folder / "0000.jpg")  # new content (and size)

    _index(store, folder, FakeEncoder())  # this run does not ask for the channel
    assert len(channel_vectors(store.catalog, "mean-colour")[0]) == 1  # the stale vector is gone
    report = _index(store, folder, FakeEncoder(), MeanColour())
    assert report.backfilled == 1
    record = store.catalog.lookup(str(folder / "0000.jpg"))
    assert record is not None
    _, vectors = channel_vectors(store.catalog, "mean-colour", [record.id])
    np.testing.assert_allclose(vectors[0], [0.0, 1.0, 0.0], atol=0.02)


def test_channels_stored_before_the_ledger_are_adopted_by_the_migration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    # The migration records them as v1 outputs (what they are); once v1 is stale they are redone (test below).
    monkeypatch.setattr(ledger, "CHANNEL_VERSION", "v1")

    folder = _photos(tmp_path / "photos", 2, size=(40, 30))
    store = _store(tmp_path / "old")
    _index(store, folder, FakeEncoder(), MeanColour())
    db = sqlite3.connect(store.catalog.path)
    db.executescript("DROP TABLE ledger; DROP TABLE producers; PRAGMA user_version=6;")  # as written by mmir before
    db.close()
    store.close()
    reopened = SegmentStore(store.directory, store.manifest)
    report = _index(reopened, folder, FakeEncoder(), MeanColour())
    assert report.backfilled == 0


def test_a_copy_has_what_its_source_has(tmp_path: Path) -> None:
    folder = _photos(tmp_path / "photos", 2, size=(40, 30))
    store = _store(tmp_path / "k")
    _index(store, folder, FakeEncoder(), MeanColour())
    (folder / "copy.jpg").write_bytes((folder / "0000.jpg").read_bytes())
    report = _index(store, folder, FakeEncoder(), MeanColour())
    assert (report.reused, report.backfilled) == (1, 0)
    assert len(channel_vectors(store.catalog, "mean-colour")[0]) == 3


@dataclass(frozen=True)
class _Detecting:
    detector: str = "fast"


class DetectingHandler(FakeVideoHandler):
    """A video handler that says which shot detector it uses, and takes another (like ``VideoHandler``)."""

    def __init__(self, detector: str = "fast", calls: list | None = None) -> None:
        super().__init__()
        self.options = _Detecting(detector)
        self.calls = calls if calls is not None else []

    def with_shot_detector(self, name: str) -> DetectingHandler:
        return DetectingHandler(name, self.calls)


def _scan(root: str, on_problem=None, **_: object) -> Iterator[FileEntry]:
    for name in sorted(os.listdir(root)):
        path = os.path.join(root, name)
        kind = MediaKind.VIDEO if name.endswith(".mp4") else MediaKind.IMAGE
        st = os.stat(path)
        yield FileEntry(path, st.st_size, st.st_mtime, kind)


def test_the_shot_detector_is_recorded_and_another_one_re_analyses_unchanged_videos(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mmir.indexing.pipeline

    monkeypatch.setattr(mmir.indexing.pipeline, "scan", _scan)
    folder = _photos(tmp_path / "media", 1)
    (folder / "clip.mp4").write_bytes(b"fake video")
    store, handler = _store(tmp_path / "v"), DetectingHandler()

    def index(detector: str | None):
        options = IndexOptions(progress=False, handlers=(handler,), shot_detector=detector)
        return Indexer(store, FakeEncoder().build, options).run([str(folder)])

    index(None)
    assert {c.producer: c.setting for c in ledger.coverage(store.catalog)}["shots"] == "fast"
    handler.calls.clear()
    assert (index("fast").unchanged, handler.calls) == (2, [])  # the same detector: nothing to do
    again = index("transnetv2")
    assert (again.updated, again.unchanged, [c[0] for c in handler.calls]) == (1, 1, ["clip.mp4"])
    assert {c.producer: c.setting for c in ledger.coverage(store.catalog)}["shots"] == "transnetv2"
    handler.calls.clear()
    assert (index("transnetv2").unchanged, index(None).unchanged, handler.calls) == (2, 2, [])


def test_conflicting_encoder_options_name_what_the_fingerprint_says_the_collection_uses(tmp_path: Path) -> None:
    from mmir.api import Collection
    from mmir.errors import CollectionError

    directory = tmp_path / "rmac"
    directory.mkdir()
    fingerprint = "efficientnet-lite0@0123456789abcdef/rmac@1,0.707,0.5"  # R-MAC, multiscale; options not listed
    Manifest(model="/models/mine", fingerprint=fingerprint, dim=4).save(directory / SegmentStore.MANIFEST)
    with pytest.raises(CollectionError, match=r"built with pooling=rmac, multiscale=true .*not pooling=gem"):
        Collection.open(directory, model_options={"pooling": "gem", "multiscale": "false"})
    Collection.open(directory, model_options={"pooling": "rmac", "multiscale": "true"}).close()  # what it uses


def test_a_new_channel_version_re_extracts_the_stored_vectors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Issue 24 moved lbp and hog to scikit-image (other numbers): vectors stored by the old code must be redone.
    folder = _photos(tmp_path / "photos", 3, size=(40, 30))
    store = _store(tmp_path / "c")
    assert _index(store, folder, FakeEncoder(), MeanColour()).added == 3
    monkeypatch.setattr(ledger, "CHANNEL_VERSION", ledger.CHANNEL_VERSION + "-next")
    encoder = FakeEncoder()
    report = _index(store, folder, encoder, MeanColour())
    assert (report.unchanged, report.backfilled) == (3, 3) and encoder.batches == []
    assert (_index(store, folder, FakeEncoder(), MeanColour()).backfilled) == 0
