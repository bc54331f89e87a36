"""The pipeline's stages with a tiny fake encoder: overlap, bounded memory, batch size, failure memory, seams.

The fake encoder makes these tests fast and lets them watch *when* things happen (which thread
preprocesses, whether a decode ran while a batch was being encoded, how many arrays were alive).
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mmir.index.catalog import SegmentEncoding
from mmir.index.manifest import Manifest
from mmir.index.store import SegmentStore
from mmir.indexing.pipeline import Indexer, IndexOptions
from mmir.indexing.types import ChannelExtractor, ChannelSink, EncoderSource, MediaHandler
from mmir.media import CorruptMediaError, FileEntry, ImageLimits
from mmir.models.encoder import Encoded
from mmir.types import MediaKind


class FakeEncoder:
    """A 4-d 'descriptor' (mean colour + 1) that can be slow, and that records what the pipeline did."""

    name = "fake"
    dim = 4
    fingerprint = "fake@1"
    concept_names = ("dark", "light")

    def __init__(self, side: int = 16, batch_size: int = 4, delay_s: float = 0.0) -> None:
        self.input_side = side
        self.batch_size = batch_size
        self.delay_s = delay_s
        self.builds = 0
        self.batches: list[int] = []
        self.preprocessed = 0
        self.max_alive = 0  # most arrays preprocessed but not yet encoded at one time
        self.decoded_during_encode = 0
        self.preprocess_threads: set[str] = set()
        self._encoding = False
        self._lock = threading.Lock()

    def build(self) -> FakeEncoder:
        self.builds += 1
        return self

    def preprocess(self, image: Image.Image) -> np.ndarray:
        side = self.input_side
        pixels = np.asarray(image.resize((side, side)), np.float32) / 255.0
        with self._lock:
            self.preprocessed += 1
            self.max_alive = max(self.max_alive, self.preprocessed - sum(self.batches))
            self.decoded_during_encode += self._encoding
            self.preprocess_threads.add(threading.current_thread().name)
        return pixels.transpose(2, 0, 1).copy()

    def encode_batch(self, batch: np.ndarray) -> Encoded:
        self._encoding = True
        time.sleep(self.delay_s)
        self._encoding = False
        with self._lock:
            self.batches.append(len(batch))
        mean = batch.mean(axis=(2, 3))
        descriptors = np.concatenate([mean, np.ones((len(batch), 1), np.float32)], axis=1)
        descriptors /= np.linalg.norm(descriptors, axis=1, keepdims=True)
        light = mean.mean(axis=1, keepdims=True)
        return Encoded(descriptors.astype(np.float32), np.concatenate([1 - light, light], axis=1))


def _store(directory: Path) -> SegmentStore:
    directory.mkdir(exist_ok=True)
    manifest = Manifest(model="fake", fingerprint=FakeEncoder.fingerprint, dim=FakeEncoder.dim)
    manifest.save(directory / SegmentStore.MANIFEST)
    return SegmentStore(directory, manifest)


def _photos(folder: Path, n: int, size: tuple[int, int] = (40, 30)) -> Path:
    """``n`` distinct small JPEGs (different colours, so different bytes)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{i:04d}.jpg", quality=90)
    return folder


def _index(store: SegmentStore, root: Path, encoder: FakeEncoder, sink: ChannelSink | None = None, **options):
    settings = IndexOptions(progress=False, **options)
    indexer = (
        Indexer(store, encoder.build, settings, channel_sink=sink) if sink else Indexer(store, encoder.build, settings)
    )
    return indexer.run([str(root)])


# -- overlap, bounded memory, batch size ---------------------------------------------------------------


def test_workers_decode_while_a_batch_is_encoded(tmp_path: Path) -> None:
    folder = _photos(tmp_path / "photos", 24)
    overlapped = FakeEncoder(delay_s=0.05)
    report = _index(_store(tmp_path / "a"), folder, overlapped)
    assert report.encoded == 24
    assert overlapped.decoded_during_encode > 0
    assert all(name.startswith("mmir-decode") for name in overlapped.preprocess_threads)

    sequential = FakeEncoder(delay_s=0.05)
    _index(_store(tmp_path / "b"), folder, sequential, overlap=False)
    assert sequential.decoded_during_encode == 0  # the old loop: nothing decodes while the model runs


def test_files_are_stored_while_the_next_batch_is_encoded(tmp_path: Path) -> None:
    folder = _photos(tmp_path / "photos", 16)
    encoder = FakeEncoder(batch_size=4, delay_s=0.05)
    store = _store(tmp_path / "s")
    stored: list[tuple[int, bool]] = []  # (files in the commit, whether a batch was at the encoder meanwhile)
    put_many = store.put_many

    def recording_put_many(files):  # type: ignore[no-untyped-def]
        stored.append((len(files), encoder._encoding))
        return put_many(files)

    store.put_many = recording_put_many  # type: ignore[method-assign]
    report = _index(store, folder, encoder)
    assert report.encoded == 16 and sum(n for n, _ in stored) == 16
    assert [n for n, _ in stored] == [4, 4, 4, 4]  # one commit per batch, not per file
    # the old loop stored a batch only after encode_batch returned, with nothing else at the encoder
    assert any(during for _, during in stored)


def test_a_copy_of_a_file_still_at_the_encoder_is_stored_as_its_copy(tmp_path: Path) -> None:
    folder = _photos(tmp_path / "photos", 3)
    shutil.copy(folder / "0001.jpg", folder / "copy0.jpg")  # sorts after the batch holding 0001.jpg
    encoder = FakeEncoder(batch_size=2, delay_s=0.1)
    store = _store(tmp_path / "t")
    report = _index(store, folder, encoder)
    assert (report.added, report.encoded, report.reused) == (4, 3, 1)
    assert sum(encoder.batches) == 3
    original, copy = (store.catalog.lookup(str(folder / name)) for name in ("0001.jpg", "copy0.jpg"))
    assert original is not None and copy is not None
    first, second = (store.catalog.segment_encodings(record.id) for record in (original, copy))
    assert first is not None and second is not None
    np.testing.assert_array_equal(first[0].descriptor, second[0].descriptor)


def test_arrays_in_flight_are_bounded(tmp_path: Path) -> None:
    folder = _photos(tmp_path / "photos", 60)
    encoder = FakeEncoder(batch_size=4, delay_s=0.02)
    _index(_store(tmp_path / "c"), folder, encoder, workers=2)
    # window (2 batches + workers), the batch being filled and the batch at the encoder while the one before
    # it is stored; unbounded read-ahead would reach ~60
    assert encoder.max_alive <= 4 * 4 + 2


def test_batch_size_comes_from_the_encoder_unless_given(tmp_path: Path) -> None:
    folder = _photos(tmp_path / "photos", 11)
    chosen = FakeEncoder(batch_size=5)
    _index(_store(tmp_path / "d"), folder, chosen)
    assert chosen.batches == [4, 5, 2]  # the first batch goes once 4 files decoded, so the encoder starts sooner
    given = FakeEncoder(batch_size=5)
    _index(_store(tmp_path / "e"), folder, given, batch_size=3)
    assert given.batches == [3, 3, 3, 2]


def test_overlapped_and_sequential_runs_store_the_same_encodings(tmp_path: Path) -> None:
    folder = _photos(tmp_path / "photos", 9)
    stores = [_store(tmp_path / "f"), _store(tmp_path / "g")]
    _index(stores[0], folder, FakeEncoder())
    _index(stores[1], folder, FakeEncoder(), overlap=False)
    (ids_a, a), (ids_b, b) = (store.catalog.all_descriptors() for store in stores)
    assert len(ids_a) == len(ids_b) == 9
    np.testing.assert_array_equal(a, b)


def test_copies_in_one_run_are_encoded_once(tmp_path: Path) -> None:
    folder = _photos(tmp_path / "photos", 3)
    for i in range(3):
        shutil.copy(folder / "0001.jpg", folder / f"copy{i}.jpg")
    encoder = FakeEncoder(batch_size=8)
    report = _index(_store(tmp_path / "h"), folder, encoder)
    assert (report.added, report.encoded, report.reused) == (6, 3, 3)
    assert sum(encoder.batches) == 3


# -- failures are remembered; the model loads only for a file that decoded ----------------------------


def _broken(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    good = _photos(folder, 1)
    data = (good / "0000.jpg").read_bytes()
    (folder / "0000.jpg").unlink()
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 2])
    (folder / "text.png").write_text("not an image")
    return folder


def test_broken_files_never_load_the_model_and_stay_failed_until_they_change(tmp_path: Path) -> None:
    folder = _broken(tmp_path / "photos")
    store = _store(tmp_path / "i")
    first_encoder = FakeEncoder()
    first = _index(store, folder, first_encoder)
    assert sorted(Path(p.path).name for p in first.problems) == ["text.png", "truncated.jpg"]
    assert first_encoder.builds == 0  # nothing decoded: the model was never needed

    second_encoder = FakeEncoder()
    second = _index(store, folder, second_encoder)
    assert second_encoder.builds == 0 and second_encoder.preprocessed == 0
    assert second.failed_before == 2
    assert second.problems == ()  # counted, not reported again: an unchanged broken file does not fail every run

    retried_encoder = FakeEncoder()
    retried = _index(store, folder, retried_encoder, retry_failed=True)
    assert (retried.failed_before, len(retried.problems)) == (0, 2)  # --retry-failed: tried (and failed) again

    Image.new("RGB", (20, 20), "red").save(folder / "text.png")  # fixed: new size and mtime
    third_encoder = FakeEncoder()
    third = _index(store, folder, third_encoder)
    assert (third.added, third.failed_before, third_encoder.builds) == (1, 1, 1)
    assert third.problems == ()  # truncated.jpg is still the same broken file: counted in failed_before only


def test_new_limits_retry_a_file_that_failed_under_the_old_ones(tmp_path: Path) -> None:
    folder = _photos(tmp_path / "photos", 1, size=(200, 100))
    store = _store(tmp_path / "j")
    small = _index(store, folder, FakeEncoder(), limits=ImageLimits(max_pixels=1000))
    assert "pixels" in small.problems[0].reason
    assert _index(store, folder, FakeEncoder(), limits=ImageLimits(max_pixels=1000)).failed_before == 1
    retried = _index(store, folder, FakeEncoder())
    assert (retried.added, retried.problems) == (1, ())


def test_a_vanished_failed_file_is_forgotten(tmp_path: Path) -> None:
    from mmir.index import failures

    folder = _broken(tmp_path / "photos")
    store = _store(tmp_path / "k")
    _index(store, folder, FakeEncoder())
    assert failures.count(store.catalog) == 2
    (folder / "text.png").unlink()
    _index(store, folder, FakeEncoder())
    assert failures.paths_under(store.catalog, str(folder)) == [str(folder / "truncated.jpg")]


# -- seams: media handlers and extra descriptor channels ----------------------------------------------


class FakeVideoHandler:
    """Two segments per file; 'bad' files raise like a real decoder would."""

    kinds = frozenset({MediaKind.VIDEO})

    def __init__(self) -> None:
        self.calls: list[tuple[str, bool]] = []

    def analyse(
        self, path: str, data: bytes | None, encoder: EncoderSource, limits: ImageLimits
    ) -> Sequence[SegmentEncoding]:
        self.calls.append((os.path.basename(path), data is None))
        if b"bad" in Path(path).read_bytes():
            raise CorruptMediaError(path, "no video stream")
        enc = encoder()
        frames = np.stack([np.full((3, enc.input_side, enc.input_side), v, np.float32) for v in (0.2, 0.8)])
        out = enc.encode_batch(frames)
        return [
            SegmentEncoding(
                out.descriptors[i], out.concepts[i], start_s=5.0 * i, end_s=5.0 * i + 5, keyframe_s=5.0 * i + 2
            )
            for i in range(2)
        ]


def _scan_with_videos(root: str, on_problem=None, **_: object) -> Iterator[FileEntry]:
    for name in sorted(os.listdir(root)):
        path = os.path.join(root, name)
        kind = MediaKind.VIDEO if name.endswith(".mp4") else MediaKind.IMAGE
        st = os.stat(path)
        yield FileEntry(path, st.st_size, st.st_mtime, kind)


def test_a_media_handler_turns_a_file_into_segments(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import mmir.indexing.pipeline

    monkeypatch.setattr(mmir.indexing.pipeline, "scan", _scan_with_videos)
    folder = _photos(tmp_path / "media", 2)
    (folder / "clip.mp4").write_bytes(b"fake video")
    (folder / "broken.mp4").write_bytes(b"bad video")
    handler = FakeVideoHandler()
    assert isinstance(handler, MediaHandler)
    store = _store(tmp_path / "l")
    report = _index(store, folder, FakeEncoder(), handlers=(handler,))
    assert sorted(handler.calls) == [("broken.mp4", True), ("clip.mp4", True)]
    assert [Path(p.path).name for p in report.problems] == ["broken.mp4"]
    media, segments = store.catalog.counts()
    assert (media, segments) == (3, 4)
    record = store.catalog.lookup(str(folder / "clip.mp4"))
    assert record is not None
    spans = [(s.start_s, s.end_s, s.keyframe_s) for s in store.catalog.segment_encodings(record.id)]
    assert spans == [(0.0, 5.0, 2.0), (5.0, 10.0, 7.0)]

    handler.calls.clear()
    again = _index(store, folder, FakeEncoder(), handlers=(handler,))
    assert handler.calls == [] and again.failed_before == 1  # unchanged: no re-analysis, broken stays failed


def test_without_a_handler_other_kinds_are_reported_not_indexed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mmir.indexing.pipeline

    monkeypatch.setattr(mmir.indexing.pipeline, "scan", _scan_with_videos)
    folder = tmp_path / "media"
    folder.mkdir()
    (folder / "clip.mp4").write_bytes(b"fake video")
    report = _index(_store(tmp_path / "m"), folder, FakeEncoder(), handlers=())
    assert [p.reason for p in report.problems] == ["video files are not indexed yet"]


class MeanColour:
    name = "mean-colour"

    def __init__(self) -> None:
        self.sizes: list[tuple[int, int]] = []

    def extract(self, image: Image.Image) -> np.ndarray:
        self.sizes.append(image.size)
        return np.asarray(image, np.float32).mean(axis=(0, 1)) / 255.0


class RecordingSink:
    def __init__(self) -> None:
        self.stored: dict[int, dict[str, np.ndarray]] = {}
        self.copied: list[tuple[int, int]] = []

    def store(self, media_id: int, vectors: Mapping[str, np.ndarray]) -> None:
        self.stored[media_id] = dict(vectors)

    def copy(self, source_media_id: int, media_id: int) -> None:
        self.copied.append((source_media_id, media_id))


def test_channels_are_extracted_from_the_same_decode_and_handed_to_the_sink(tmp_path: Path) -> None:
    folder = _photos(tmp_path / "photos", 5, size=(64, 48))
    Image.new("RGB", (64, 48), (255, 0, 0)).save(folder / "red.png")
    shutil.copy(folder / "red.png", folder / "red-copy.png")
    channel, sink = MeanColour(), RecordingSink()
    assert isinstance(channel, ChannelExtractor) and isinstance(sink, ChannelSink)
    store = _store(tmp_path / "n")
    encoder = FakeEncoder(side=16)
    report = _index(store, folder, encoder, sink=sink, channels=(channel,))
    assert (report.added, report.reused, report.encoded, sum(encoder.batches)) == (7, 1, 6, 6)
    assert len(sink.stored) == 6  # a copy read in the same window may be decoded twice, but is stored as a copy
    copy = store.catalog.lookup(str(folder / "red.png"))
    red = store.catalog.lookup(str(folder / "red-copy.png"))  # sorts first, so it is the one encoded
    assert red is not None and copy is not None
    np.testing.assert_allclose(sink.stored[red.id]["mean-colour"], [1.0, 0.0, 0.0], atol=1e-6)
    assert sink.copied == [(red.id, copy.id)]
    assert all(min(size) >= 16 for size in channel.sizes)


def test_channels_need_a_sink(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="channel_sink"):
        Indexer(_store(tmp_path / "o"), FakeEncoder().build, IndexOptions(channels=(MeanColour(),)))


# -- kill -9 loses nothing: each file is its own committed transaction ---------------------------------

_KILLED_RUN = """
import sys, time
import numpy as np
from pathlib import Path
from mmir.index.manifest import Manifest
from mmir.index.store import SegmentStore
from mmir.models.encoder import Encoded
from mmir.indexing.pipeline import Indexer, IndexOptions

class Slow:
    input_side, batch_size = 16, 2
    def preprocess(self, image):
        return np.asarray(image.resize((16, 16)), np.float32).transpose(2, 0, 1) / 255
    def encode_batch(self, batch):
        time.sleep(0.3)
        d = np.concatenate([batch.mean(axis=(2, 3)), np.ones((len(batch), 1), np.float32)], axis=1)
        return Encoded(d / np.linalg.norm(d, axis=1, keepdims=True), np.zeros((len(batch), 2), np.float32))

directory = Path(sys.argv[1])
store = SegmentStore(directory, Manifest.load(directory / SegmentStore.MANIFEST))
Indexer(store, Slow, IndexOptions(progress=False)).run([sys.argv[2]])
"""


def test_a_killed_run_keeps_its_work_and_the_next_run_resumes(tmp_path: Path) -> None:
    import signal
    import sqlite3
    import subprocess
    import sys

    folder = _photos(tmp_path / "photos", 30)
    directory = tmp_path / "p"
    _store(directory).close()
    child = subprocess.Popen([sys.executable, "-c", _KILLED_RUN, str(directory), str(folder)])
    catalog = directory / SegmentStore.CATALOG
    deadline = time.monotonic() + 60
    committed = 0
    while committed < 4 and time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.05)
        if catalog.exists():
            with sqlite3.connect(catalog) as db:
                committed = db.execute("SELECT COUNT(*) FROM media").fetchone()[0]
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert committed >= 4, "the child should have committed some files before the kill"

    store = SegmentStore(directory, Manifest.load(directory / SegmentStore.MANIFEST))
    done = store.catalog.counts()[0]
    assert 4 <= done < 30
    encoder = FakeEncoder()
    report = _index(store, folder, encoder)
    assert (report.unchanged, report.added, report.encoded, report.problems) == (done, 30 - done, 30 - done, ())
    assert store.catalog.counts() == (30, 30) and len(store.vectors) == 30


def test_metadata_text_comes_from_the_bytes_read_for_indexing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mmir.index.metadata_text import sync_metadata, term_matches
    from mmir.media import metadata

    folder = _photos(tmp_path / "photos", 3)
    exif = Image.Exif()
    exif[0x010E] = "A quokka on Rottnest"  # EXIF ImageDescription
    Image.new("RGB", (40, 30), (90, 120, 200)).save(folder / "quokka.jpg", exif=exif)
    (folder / "0001.txt").write_text("a lighthouse in Brittany")  # a sidecar, found through the folder listing
    store = _store(tmp_path / "m")
    _index(store, folder, FakeEncoder())
    reads: list[str] = []
    extract = metadata.extract_metadata_text
    monkeypatch.setattr(metadata, "extract_metadata_text", lambda path, *a, **k: reads.append(path) or extract(path))
    assert sync_metadata(store.catalog).updated == 0  # every file's text was stored with its vectors
    assert reads == []
    quokka, lighthouse = term_matches(store.catalog, ["quokka", "lighthouse"])
    records = {name: store.catalog.lookup(str(folder / name)) for name in ("quokka.jpg", "0001.jpg")}
    paths = {record.id: name for name, record in records.items() if record is not None}
    assert [paths[i] for i in quokka] == ["quokka.jpg"] and [paths[i] for i in lighthouse] == ["0001.jpg"]
    (folder / "0001.txt").write_text("a windmill")  # a later sidecar edit is still picked up by the sync
    assert sync_metadata(store.catalog).updated == 1 and reads == [str(folder / "0001.jpg")]
