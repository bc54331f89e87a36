"""Skipping non-reference frames: fewer frames decoded, true times kept, cuts still found where they are."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("av")

from mmir.indexing.video import VideoIndexOptions, detect_shots
from mmir.media.shots import FastDetector
from mmir.media.video import DecodeOptions, VideoReader
from mmir.media.video_write import write_video

CUT_FRAME = 40


def _textured(fps: int, seconds: float = 3.2) -> list[np.ndarray]:
    """A slowly drifting texture (x264 then uses B-frames), cut to another texture at frame 40."""
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 96, (2, 72, 256, 3))
    tints = np.array([[160, 40, 20], [20, 60, 160]])[:, None, None, :]  # a warm scene, then a cold one
    scenes = (noise + tints).astype(np.uint8)
    return [scenes[int(i >= CUT_FRAME)][:, i % 64 : i % 64 + 128] for i in range(int(seconds * fps))]


def _times(path: Path, options: DecodeOptions) -> tuple[list[float], str | None]:
    with VideoReader(path, options) as reader:
        times = [frame.time_s for frame in reader.frames()]
        return times, reader.problem


def test_nonreference_frames_are_skipped_with_their_true_times(tmp_path: Path) -> None:
    path = tmp_path / "bframes.mp4"
    write_video(path, _textured(25), 25, preset="veryfast")  # veryfast: up to 3 B-frames in a row
    every, problem = _times(path, DecodeOptions(skip_nonref_above_fps=math.inf))
    skipped, skipped_problem = _times(path, DecodeOptions(skip_nonref_above_fps=0.0))
    assert problem is None and skipped_problem is None  # not mistaken for a truncated file
    assert len(every) == 80 and len(skipped) < 0.8 * len(every)
    assert set(np.round(skipped, 3)) <= set(np.round(every, 3))  # each kept frame at its own timestamp
    # At 25 fps the reader's default decodes every frame, and so do indexing and `mmir shots`.
    assert len(_times(path, DecodeOptions())[0]) == 80
    found = detect_shots(str(path), FastDetector(), VideoIndexOptions())
    assert len(found.shots) == 2 and found.shots[1].start_s == pytest.approx(CUT_FRAME / 25, abs=1 / 25)


def _x264(path: Path, frames: list[np.ndarray], params: str) -> None:
    """x264 ``veryfast`` (B-frames) with extra ``x264-params`` (e.g. no I-frame at scene cuts)."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt, stream.options = "yuv420p", {"preset": "veryfast", "x264-params": params}
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode())


@pytest.mark.parametrize("params", ["scenecut=40", "scenecut=0"])  # the cut opens on an I-frame / a large P-frame
def test_shots_decode_every_frame_near_the_cut_and_skip_far_from_it(tmp_path: Path, params: str) -> None:
    # Non-reference frames skipped everywhere at 25 fps doubled the motion between compared frames and cost a
    # tenth of the real cuts; decoding them all cost twice the CPU. `mmir shots` decodes them only near a packet
    # that looks like a cut (an I-slice, or a reference picture far larger than usual).
    path = tmp_path / "bframes.mp4"
    _x264(path, _textured(25), params)
    found = detect_shots(str(path), FastDetector(), VideoIndexOptions())
    frames = np.rint(found.frame_times * 25).astype(int).tolist()
    assert set(range(CUT_FRAME - 4, CUT_FRAME + 5)) <= set(frames)  # every frame within the window
    assert len(frames) < 0.8 * 80  # about every other frame elsewhere
    assert [shot.start_s for shot in found.shots] == [0.0, pytest.approx(CUT_FRAME / 25, abs=1e-6)]
    skipped = min(set(range(80)) - set(frames))
    shots = VideoIndexOptions().decode_options(images=False)
    with VideoReader(path, shots) as reader, VideoReader(path, replace(shots, nonref_near_cuts=None)) as every:
        assert np.array_equal(reader.frame_at(skipped / 25, 32), every.frame_at(skipped / 25, 32))  # seeks see all
    # Indexing still decodes every frame at 25 fps (its keyframe pictures do not change).
    assert len(_times(path, VideoIndexOptions().decode_options())[0]) == 80
    assert VideoIndexOptions().decode_options().skip_nonref_above_fps == 30.0  # 50/60 fps still skip them


def test_high_frame_rates_skip_by_default(tmp_path: Path) -> None:
    path = tmp_path / "50fps.mp4"
    write_video(path, _textured(50, seconds=2.0), 50, preset="veryfast")
    times, problem = _times(path, DecodeOptions(analysis_fps=50))
    assert problem is None and len(times) < 80
    assert times == sorted(times) and times[-1] > 1.8


def test_a_detector_that_needs_every_frame_gets_every_frame(tmp_path: Path) -> None:
    @dataclass(frozen=True)
    class EveryFrame(FastDetector):
        every_frame: bool = True  # as TransNetV2 says

    path = tmp_path / "bframes.mp4"
    write_video(path, _textured(25), 25, preset="veryfast")
    assert len(detect_shots(str(path), EveryFrame(), VideoIndexOptions()).frame_times) == 80
