"""Thumbnails and previews as derived data: made while indexing, recorded in the ledger, back-filled, kept in step.

Found when tried (issue 20, part 1): thumbnails were made only on demand by the server, so a page of 24 cards
decoded 24 originals on its first view, and nothing in the index knew which files had them.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tests.test_pipeline_stages import FakeEncoder

from mmir.index import ledger
from mmir.index.manifest import Manifest
from mmir.index.store import SegmentStore
from mmir.indexing.pipeline import Indexer, IndexOptions
from mmir.indexing.thumbnails import FOLDER, PRODUCER, SETTING, ThumbnailFiles, ThumbSize
from mmir.media import sha1_file


def _store(directory: Path) -> SegmentStore:
    directory.mkdir(exist_ok=True)
    manifest = Manifest(model="fake", fingerprint=FakeEncoder.fingerprint, dim=FakeEncoder.dim)
    manifest.save(directory / SegmentStore.MANIFEST)
    return SegmentStore(directory, manifest)


def _photo(path: Path, size: tuple[int, int], colour: tuple[int, int, int], fmt: str = "JPEG") -> None:
    rng = np.random.default_rng(sum(colour) + size[0])
    pixels = np.clip(rng.normal(colour, 20, (size[1], size[0], 3)), 0, 255).astype(np.uint8)
    Image.fromarray(pixels).save(path, fmt)


def _video(path: Path) -> None:
    from mmir.media.video_write import write_video

    rng = np.random.default_rng(0)
    frames = []
    for colour in ((200, 40, 40), (40, 200, 40)):  # two shots of 2 s
        base = np.clip(rng.normal(colour, 40, (48, 64, 3)), 0, 255).astype(np.uint8)
        frames += [np.roll(base, i, axis=1) for i in range(20)]
    write_video(path, frames, 10, codec="mpeg4", gop=5)


def _folder(root: Path, video: bool = True) -> Path:
    root.mkdir(parents=True)
    _photo(root / "small.jpg", (320, 240), (200, 30, 30))  # a web format no larger than a preview: its own
    _photo(root / "big.jpg", (2000, 1500), (30, 200, 30))  # a preview of 1280 px is made
    _photo(root / "odd.bmp", (300, 200), (30, 30, 200), "BMP")  # not a web format: a preview is made
    if video:
        _video(root / "clip.mkv")
    return root


def _index(store: SegmentStore, folder: Path, encoder: FakeEncoder | None = None, **options: object):
    encoder = encoder or FakeEncoder(side=224)  # Lite0's side: the model's decode of small.jpg is 280x210
    return Indexer(store, encoder.build, IndexOptions(progress=False, **options)).run([str(folder)])  # type: ignore[arg-type]


def _files(store: SegmentStore) -> ThumbnailFiles:
    return ThumbnailFiles(store.directory / FOLDER)


def _side(path: Path) -> int:
    with Image.open(path) as image:
        assert image.format == "JPEG"
        return max(image.size)


def _keyframes(store: SegmentStore, path: Path) -> list[float]:
    record = store.catalog.lookup(str(path))
    assert record is not None
    return [segment.keyframe_s for segment in store.catalog.segments_of(record.id)]


def _thumbnail_coverage(store: SegmentStore) -> tuple[int, int]:
    cover = {c.producer: c for c in ledger.coverage(store.catalog)}[PRODUCER]
    assert cover.setting == SETTING
    return cover.files, cover.total


def test_indexing_keeps_cards_and_previews_of_photos_and_shot_keyframes(tmp_path: Path) -> None:
    pytest.importorskip("av")
    folder = _folder(tmp_path / "media")
    store = _store(tmp_path / "c")
    report = _index(store, folder)
    assert (report.added, report.problems, report.thumbnails_backfilled) == (4, (), 0)
    files = _files(store)
    small, big, odd = (sha1_file(folder / name) for name in ("small.jpg", "big.jpg", "odd.bmp"))
    assert _side(files.path(small, ThumbSize.CARD)) == 256
    assert not files.path(small, ThumbSize.PREVIEW).exists()  # the original is its own preview
    assert _side(files.path(big, ThumbSize.CARD)) == 256
    assert _side(files.path(big, ThumbSize.PREVIEW)) == 1280
    assert _side(files.path(odd, ThumbSize.PREVIEW)) == 300  # never enlarged
    clip = sha1_file(folder / "clip.mkv")
    times = _keyframes(store, folder / "clip.mkv")
    assert len(times) == 2
    for at_s in times:
        assert files.path(clip, ThumbSize.CARD, at_s).is_file()
        assert files.path(clip, ThumbSize.PREVIEW, at_s).is_file()
    reds = [Image.open(files.path(clip, ThumbSize.CARD, t)).convert("RGB").getpixel((10, 10)) for t in times]
    assert [int(np.argmax(colour)) for colour in reds] == [0, 1]  # each shot's own keyframe
    assert _thumbnail_coverage(store) == (4, 4)  # the ledger lists them as done


def test_a_collection_indexed_without_thumbnails_back_fills_them_without_the_encoder(tmp_path: Path) -> None:
    pytest.importorskip("av")
    folder = _folder(tmp_path / "media")
    store = _store(tmp_path / "c")
    _index(store, folder, thumbnails=False)
    assert not (store.directory / FOLDER).exists()
    assert PRODUCER not in {c.producer for c in ledger.coverage(store.catalog)}

    encoder = FakeEncoder(side=224)
    report = _index(store, folder, encoder)
    assert (report.unchanged, report.encoded, report.thumbnails_backfilled, report.problems) == (4, 0, 4, ())
    assert encoder.batches == []  # a decode pass only: the CNN never ran
    assert _thumbnail_coverage(store) == (4, 4)
    files = _files(store)
    assert _side(files.path(sha1_file(folder / "big.jpg"), ThumbSize.PREVIEW)) == 1280
    clip = sha1_file(folder / "clip.mkv")
    assert all(files.path(clip, ThumbSize.CARD, t).is_file() for t in _keyframes(store, folder / "clip.mkv"))
    again = _index(store, folder)
    assert again.thumbnails_backfilled == 0  # the ledger knows they have them now


def test_a_changed_file_gets_new_pictures_and_a_deleted_one_loses_them(tmp_path: Path) -> None:
    folder = _folder(tmp_path / "media", video=False)
    shutil.copy(folder / "big.jpg", folder / "big-copy.jpg")
    store = _store(tmp_path / "c")
    _index(store, folder)
    files = _files(store)
    old = sha1_file(folder / "small.jpg")
    _photo(folder / "small.jpg", (320, 240), (10, 10, 240))  # same name, new picture
    os.utime(folder / "small.jpg", (1e9, 1e9))
    big = sha1_file(folder / "big.jpg")
    (folder / "big.jpg").unlink()
    report = _index(store, folder)
    assert (report.updated, report.removed) == (1, 1)
    new = sha1_file(folder / "small.jpg")
    assert not list(files.directory.rglob(f"{old}*"))  # no file has the old content: its pictures went
    card = Image.open(files.path(new, ThumbSize.CARD)).convert("RGB")
    assert int(np.argmax(card.getpixel((10, 10)))) == 2  # the new picture (blue), not the old (red)
    assert files.path(big, ThumbSize.PREVIEW).is_file()  # its copy still holds that content
    assert _thumbnail_coverage(store) == (3, 3)
    (folder / "big-copy.jpg").unlink()
    _index(store, folder)
    assert not list(files.directory.rglob(f"{big}*"))


def test_a_big_photo_is_decoded_once_for_the_model_and_its_pictures(tmp_path: Path, monkeypatch) -> None:
    import mmir.indexing.thumbnails as thumbnails

    folder = tmp_path / "media"
    folder.mkdir()
    _photo(folder / "big.jpg", (2000, 1500), (30, 200, 30))
    calls: list[int | None] = []
    decode = thumbnails.decode_image

    def counted(data: bytes, name: object, **kwargs):
        calls.append(kwargs.get("min_side"))
        return decode(data, name, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(thumbnails, "decode_image", counted)
    monkeypatch.setattr(thumbnails, "decode_for_model", lambda *a, **k: pytest.fail("decoded a second time"))
    encoder = FakeEncoder(side=224)
    store = _store(tmp_path / "c")
    _index(store, folder, encoder)
    assert len(calls) == 1 and encoder.batches == [1]
    preview = Image.open(_files(store).path(sha1_file(folder / "big.jpg"), ThumbSize.PREVIEW))
    assert preview.size == (1280, 960)
