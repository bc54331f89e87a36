"""Write videos with PyAV (H.264 and friends): synthetic test clips, benchmark footage, re-encoded excerpts."""

from __future__ import annotations

import os
from collections.abc import Iterable
from fractions import Fraction
from typing import Any

import numpy as np

from mmir.errors import require


def write_video(
    path: str | os.PathLike[str],
    frames: Iterable[np.ndarray],
    fps: float = 25.0,
    *,
    codec: str = "libx264",
    times_s: Iterable[float] | None = None,
    rotation: int = 0,
    preset: str = "ultrafast",
    gop: int | None = None,
) -> int:
    """Encode RGB frames into a video file; returns the number of frames written.

    Args:
        path: Output file; the container follows its extension (``.mp4``, ``.mkv``, ``.avi``, ``.webm``...).
        frames: ``uint8[H, W, 3]`` RGB frames, all the same size (even sides for 4:2:0 codecs).
        fps: Nominal frame rate (the codec time base is ``1 / (fps * 1000)``, so VFR times stay exact).
        codec: FFmpeg encoder name (``libx264``, ``mpeg4``, ``libvpx-vp9``, ``mjpeg``...).
        times_s: Presentation time of each frame in seconds for variable-frame-rate output (else ``i / fps``).
        rotation: Display-matrix rotation in degrees counter-clockwise (what phones write).
        preset: x264 speed preset (ignored by other encoders).
        gop: Keyframe interval in frames (encoder default when ``None``).
    """
    av: Any = require("av", "video")
    time_list = list(times_s) if times_s is not None else None
    count = 0
    with av.open(os.fspath(path), mode="w") as container:
        stream = None
        for count, frame in enumerate(frames):
            if stream is None:
                stream = _add_stream(container, codec, fps, frame.shape, preset, gop)
                if rotation:
                    stream.set_display_rotation(rotation)
            video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame, dtype=np.uint8), format="rgb24")
            seconds = time_list[count] if time_list is not None else count / fps
            time_base = stream.codec_context.time_base
            video_frame.pts = round(seconds / time_base)
            video_frame.time_base = time_base
            for packet in stream.encode(video_frame):
                container.mux(packet)
        if stream is None:
            return 0
        for packet in stream.encode():
            container.mux(packet)
    return count + 1


def _add_stream(container: Any, codec: str, fps: float, shape: tuple[int, ...], preset: str,
                gop: int | None) -> Any:  # fmt: skip
    rate = Fraction(fps).limit_denominator(1001)
    stream = container.add_stream(codec, rate=rate)
    stream.height, stream.width = int(shape[0]), int(shape[1])
    stream.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
    # A fine codec time base keeps VFR presentation times exact (the default 1/fps would round them).
    stream.codec_context.time_base = Fraction(1, max(1, round(fps * 1000)))
    if codec == "libx264":
        stream.options = {"preset": preset, "tune": "fastdecode"} if preset == "ultrafast" else {"preset": preset}
    if gop is not None:
        stream.codec_context.gop_size = gop
    return stream
