"""PyAV decoding: containers, PTS times (VFR), rotation, reduced rate/size, bounded memory, bad input."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("av")

from mmir.media.errors import CorruptMediaError, EmptyMediaError, MediaError, TooLargeMediaError, UnreadableMediaError
from mmir.media.video import (
    DecodeOptions,
    EmptyVideoError,
    NoVideoStreamError,
    VideoLimits,
    VideoReader,
    iter_frames,
    probe,
)
from mmir.media.video_write import write_video


def _ramp(n: int, height: int = 48, width: int = 64) -> list[np.ndarray]:
    """``n`` frames whose grey level encodes their number (10 levels apart)."""
    return [np.full((height, width, 3), (10 * i) % 250, np.uint8) for i in range(n)]


VFR_TIMES = [0.0, 0.1, 0.15, 0.5, 0.52, 0.9, 1.0, 1.3, 1.6, 2.0]


@pytest.mark.parametrize(
    ("suffix", "codec"),
    [(".mp4", "libx264"), (".mkv", "libx264"), (".avi", "mpeg4"), (".webm", "libvpx-vp9"), (".mov", "libx264")],
)
def test_containers_give_times_from_pts_not_frame_counts(tmp_path: Path, suffix: str, codec: str) -> None:
    path = tmp_path / f"vfr{suffix}"
    write_video(path, _ramp(len(VFR_TIMES)), fps=10, codec=codec, times_s=VFR_TIMES)
    with VideoReader(path) as reader:
        frames = list(reader.frames())
        assert reader.problem is None
    assert [round(f.time_s, 3) for f in frames] == VFR_TIMES  # frame counts would give 0.0, 0.1, 0.2, ...
    levels = [int(f.small.mean()) for f in frames]
    assert levels == sorted(levels)  # presentation order, not decode order


def test_rotation_metadata_turns_frames_upright(tmp_path: Path) -> None:
    frame = np.zeros((32, 64, 3), np.uint8)
    frame[:, :32] = 255  # left half white
    path = tmp_path / "phone.mp4"
    write_video(path, [frame] * 3, fps=10, rotation=90)
    first = next(iter_frames(path, DecodeOptions(image_side=16)))
    assert first.image is not None and first.image.shape == (32, 16, 3)  # portrait after rotation
    luma = first.image.mean(axis=2)
    assert luma[-4:].mean() > 200 and luma[:4].mean() < 50  # 90° counter-clockwise: the left side goes down


def test_reduced_analysis_rate_and_image_rate(tmp_path: Path) -> None:
    path = tmp_path / "30fps.mp4"
    write_video(path, _ramp(60), fps=30)  # 2 s
    options = DecodeOptions(analysis_fps=10, image_fps=2, image_side=24, small_size=(16, 9))
    frames = list(iter_frames(path, options))
    assert len(frames) == 20
    assert np.allclose(np.diff([f.time_s for f in frames]), 0.1, atol=0.034)
    with_image = [f for f in frames if f.image is not None]
    assert [round(f.time_s, 2) for f in with_image] == [0.0, 0.5, 1.0, 1.5]
    assert frames[0].small.shape == (9, 16, 3) and with_image[0].image.shape == (24, 32, 3)


def test_missing_empty_garbage_files_are_media_errors_naming_the_file(tmp_path: Path) -> None:
    with pytest.raises(UnreadableMediaError, match="nothing.mp4"):
        probe(tmp_path / "nothing.mp4")
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(EmptyMediaError, match="empty.mp4: zero-byte file"):
        probe(tmp_path / "empty.mp4")
    (tmp_path / "text.mp4").write_bytes(b"this is not a video at all\n" * 50)
    with pytest.raises(CorruptMediaError, match="text.mp4: not a video"):
        probe(tmp_path / "text.mp4")


def test_audio_only_file_has_no_video_stream(tmp_path: Path) -> None:
    import av

    path = tmp_path / "song.mkv"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mp2", rate=16000)
        stream.layout = "mono"
        for i in range(5):
            samples = np.zeros((1, 1152), np.int16)
            frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
            frame.sample_rate, frame.pts = 16000, i * 1152
            for packet in stream.encode(frame):
                container.mux(packet)
    with pytest.raises(NoVideoStreamError, match=r"song.mkv: no video stream \(audio\)"):
        probe(path)


def test_video_stream_without_frames(tmp_path: Path) -> None:
    import av

    path = tmp_path / "zero.avi"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        container.start_encoding()
    with VideoReader(path) as reader, pytest.raises(EmptyVideoError, match="zero.avi: no decodable video frames"):
        list(reader.frames())


def test_truncated_file_keeps_what_it_read_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "cut.mkv"
    write_video(path, _ramp(100), fps=25, codec="mpeg4", gop=5)  # 4 s
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with VideoReader(path) as reader:
        frames = list(reader.frames())
        problem = reader.problem
    assert 20 <= len(frames) < 100
    assert problem is not None and "truncated" in problem


def test_truncated_mp4_without_index_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "cut.mp4"
    write_video(path, _ramp(50), fps=25)
    path.write_bytes(path.read_bytes()[:2000])  # the moov atom (the index) is written last
    with pytest.raises(CorruptMediaError, match="cut.mp4"), VideoReader(path) as reader:
        list(reader.frames())


def test_corrupt_packets_mid_stream_are_skipped(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    path = tmp_path / "noisy.mkv"
    write_video(path, [rng.integers(0, 255, (48, 64, 3), np.uint8) for _ in range(50)], fps=25, codec="mpeg4", gop=10)
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 3000] = rng.integers(0, 255, 3000, np.uint8).tobytes()
    path.write_bytes(bytes(data))
    with VideoReader(path) as reader:
        frames = list(reader.frames())
        problem = reader.problem
    assert frames[-1].time_s > 1.5  # decoding went on past the damage to the end (2 s)
    assert 40 <= len(frames) <= 50  # only the damaged frames are lost
    # FFmpeg resynchronises silently on some damage; whatever it does flag is reported.
    assert (problem is None) == (reader.bad_packets == 0)
    assert problem is None or "corrupt packets" in problem


def test_absurd_dimensions_and_huge_durations_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    write_video(path, _ramp(20, 48, 64), fps=10)  # 2 s, 64x48
    with pytest.raises(TooLargeMediaError, match=r"clip.mp4: video is 64x48, over the limit"):
        probe(path, VideoLimits(max_pixels=1000))
    with pytest.raises(TooLargeMediaError, match=r"clip.mp4: declared duration 2 s is over the limit of 1 s"):
        probe(path, VideoLimits(max_duration_s=1.0))


def test_errors_are_media_errors_with_reason(tmp_path: Path) -> None:
    (tmp_path / "x.webm").write_bytes(b"\x1a\x45\xdf\xa3" + b"\0" * 100)  # an EBML header and nothing else
    with pytest.raises(MediaError) as info, VideoReader(tmp_path / "x.webm") as reader:
        list(reader.frames())
    assert str(info.value).startswith(str(tmp_path / "x.webm")) and info.value.reason


def _peak_python_bytes(path: Path, options: DecodeOptions) -> tuple[int, int]:
    tracemalloc.start()
    try:
        count = sum(1 for _ in iter_frames(path, options))
        return count, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_is_bounded_independent_of_length_and_frame_size(tmp_path: Path) -> None:
    """The stated bound: one small + one image at a time on the Python side, whatever the length."""
    rng = np.random.default_rng(1)
    noise = rng.integers(0, 255, (720, 1280, 3), np.uint8)  # incompressible-ish 720p content
    short, long = tmp_path / "short.mp4", tmp_path / "long.mp4"
    write_video(short, (np.roll(noise, i, axis=1) for i in range(10)), fps=25)
    write_video(long, (np.roll(noise, i, axis=1) for i in range(60)), fps=25)
    options = DecodeOptions(image_fps=25.0, image_side=224)
    frame_720p = 720 * 1280 * 3
    count_short, peak_short = _peak_python_bytes(short, options)
    count_long, peak_long = _peak_python_bytes(long, options)
    assert (count_short, count_long) == (10, 60)
    per_step = 48 * 27 * 3 + 224 * 398 * 3
    assert peak_long < 4 * per_step + 2**20  # far below one full-size 720p RGB frame (2.7 MB)
    assert peak_long < frame_720p
    assert peak_long < peak_short + per_step  # 6x the frames, no growth beyond noise


def test_rotated_phone_video_reports_its_display_size_and_rotation(tmp_path: Path) -> None:
    path = tmp_path / "phone.mp4"
    write_video(path, [np.zeros((360, 640, 3), np.uint8)] * 3, fps=10, rotation=90)
    info = probe(path)  # newer PyAV exposes the display matrix only on decoded frames
    assert (info.width, info.height, info.rotation) == (360, 640, 90)
    with VideoReader(path) as reader:
        list(reader.frames())
        assert (reader.info.width, reader.info.height, reader.info.rotation) == (360, 640, 90)
