"""The video handler without a real model: chunked detection, partial decodes, catalog extras (frames, thumbnails)."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("av")

from mmir.index import frames as frame_store
from mmir.index.catalog import Catalog
from mmir.indexing.video import ChunkedDetector, VideoHandler, VideoIndexOptions, analyse_video, to_segments
from mmir.media.shots import FastDetector, Transition, TransitionKind
from mmir.media.video_write import write_video
from mmir.models.encoder import Encoded
from mmir.types import MediaKind


class ColourEncoder:
    """Descriptor = normalised mean colour (+1 bias): enough to tell shots of different colours apart."""

    input_side = 32
    calls = 0

    def preprocess(self, image: Image.Image) -> np.ndarray:
        return np.asarray(image.resize((32, 32)), np.float32).transpose(2, 0, 1) / 255.0

    def encode_batch(self, batch: np.ndarray) -> Encoded:
        ColourEncoder.calls += 1
        means = batch.mean(axis=(2, 3))
        descriptors = np.hstack([means, np.ones((len(batch), 1), np.float32)])
        descriptors /= np.linalg.norm(descriptors, axis=1, keepdims=True)
        return Encoded(descriptors.astype(np.float32), means.astype(np.float32))


def _shots_video(path: Path, colours: list[tuple[int, int, int]], seconds: float = 2.0, fps: int = 10) -> None:
    rng = np.random.default_rng(0)
    frames = []
    for colour in colours:
        base = np.clip(rng.normal(colour, 40, (48, 64, 3)), 0, 255).astype(np.uint8)  # textured, not flat
        frames += [np.roll(base, i, axis=1) for i in range(int(seconds * fps))]
    write_video(path, frames, fps, codec="mpeg4", gop=5)


def test_chunked_detection_equals_one_window() -> None:
    rng = np.random.default_rng(1)
    pictures = [rng.integers(0, 255, (27, 48, 3), np.uint8) for _ in range(9)]
    frames = np.stack([pictures[i // 30] for i in range(270)])  # cuts every 30 frames
    times = np.arange(270) / 25.0
    whole = FastDetector().detect(frames, times)
    chunked = ChunkedDetector(FastDetector(), chunk=40, context=10)  # many window edges, some on cuts
    for frame, time_s in zip(frames, times, strict=True):
        chunked.push(frame, time_s)
    assert chunked.finish() == whole
    assert whole == [Transition(30 * k - 1, 30 * k, TransitionKind.CUT) for k in range(1, 9)]


def test_handler_rows_keyframes_and_catalog_extras(tmp_path: Path) -> None:
    path = tmp_path / "three.mkv"
    _shots_video(path, [(200, 40, 40), (40, 200, 40), (40, 40, 200)])
    analysis = analyse_video(str(path), ColourEncoder, VideoIndexOptions())
    assert [round(s.shot.start_s, 1) for s in analysis.shots] == [0.0, 2.0, 4.0]
    rows = to_segments(analysis)
    assert len(rows) == 3 and all(r.extras is not None and r.extras.thumbnail for r in rows)
    assert [int(np.argmax(r.concepts)) for r in rows] == [0, 1, 2]  # each shot's dominant colour
    catalog = Catalog(tmp_path / "catalog.db")
    with catalog.transaction():
        media_id, segment_ids, _ = catalog.put_media(str(path), MediaKind.VIDEO, 1, 0.0, "abc", rows)
    times, descriptors = frame_store.media_frames(catalog, media_id)
    assert len(times) == len(analysis.candidate_times) and descriptors.shape == (len(times), 4)
    thumb = frame_store.thumbnail(catalog, segment_ids[0])
    assert thumb is not None and Image.open(io.BytesIO(thumb)).format == "JPEG"
    copies = catalog.segment_encodings(media_id)  # what a byte-identical copy of the file reuses
    assert copies[0].extras is not None and len(copies[0].extras.frame_times) == len(rows[0].extras.frame_times)
    with catalog.transaction():  # re-indexing replaces the frames with the segments (ON DELETE CASCADE)
        catalog.put_media(str(path), MediaKind.VIDEO, 2, 1.0, "def", rows[:1])
    assert len(frame_store.media_frames(catalog, media_id)[0]) == len(rows[0].extras.frame_times)
    catalog.close()


def test_partial_video_keeps_its_shots_and_says_so(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "cut.mkv"
    _shots_video(path, [(200, 40, 40), (40, 200, 40), (40, 40, 200), (200, 200, 40)])
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * 0.6)])
    with caplog.at_level(logging.WARNING, logger="mmir.video"):
        rows = VideoHandler().analyse(str(path), None, ColourEncoder, None)  # type: ignore[arg-type]
    assert 2 <= len({r.start_s for r in rows}) < 4
    assert "cut.mkv: truncated" in caplog.text and "kept" in caplog.text


def test_broken_video_never_loads_the_encoder(tmp_path: Path) -> None:
    from mmir.media.errors import MediaError

    path = tmp_path / "junk.mp4"
    path.write_bytes(b"\x00" * 5000)
    loads: list[int] = []

    def encoder() -> ColourEncoder:
        loads.append(1)
        return ColourEncoder()

    with pytest.raises(MediaError, match="junk.mp4"):
        VideoHandler().analyse(str(path), None, encoder, None)  # type: ignore[arg-type]
    assert loads == []


def test_blank_opening_is_flagged_and_not_chosen_when_avoidable(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    textured = np.clip(rng.normal((120, 90, 60), 50, (48, 64, 3)), 0, 255).astype(np.uint8)
    frames = [np.zeros((48, 64, 3), np.uint8)] * 4 + [np.roll(textured, i, axis=1) for i in range(16)]
    path = tmp_path / "opening.mkv"
    write_video(path, frames, 10, codec="mpeg4")  # black for 0.4 s: too short to be its own shot
    analysis = analyse_video(str(path), ColourEncoder, VideoIndexOptions())
    assert analysis.blank[0]  # the black candidate at 0.0 s is flagged
    keyframe = analysis.shots[0].keyframes[0]
    assert not analysis.blank[keyframe]


def test_closed_shots_free_their_candidates_without_changing_the_result(tmp_path: Path) -> None:
    path = tmp_path / "six.mkv"
    colours = [(200, 40, 40), (40, 200, 40), (40, 40, 200), (200, 200, 40), (40, 200, 200), (200, 40, 200)]
    _shots_video(path, colours)
    whole = analyse_video(str(path), ColourEncoder, VideoIndexOptions())
    streamed = analyse_video(str(path), ColourEncoder, VideoIndexOptions(chunk_frames=20, context=5))
    assert [(s.shot, s.keyframes) for s in streamed.shots] == [(s.shot, s.keyframes) for s in whole.shots]
    assert all(np.array_equal(a.concepts, b.concepts) for a, b in zip(streamed.shots, whole.shots, strict=True))
    freed = sum(thumb is None for thumb in streamed.thumbnails)
    assert freed >= len(streamed.thumbnails) // 2  # only keyframes of closed shots keep concepts and thumbnails
    assert all(streamed.thumbnails[k] is not None for s in streamed.shots for k in s.keyframes)
