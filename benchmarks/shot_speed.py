"""Speed of ``mmir shots`` on 720p H.264 made from real footage, beside decoding alone in the same run.

The 720p clip is the first minute of the given video upscaled with PyAV and encoded by x264 ``veryfast`` (B-frames
on, as in ordinary H.264 files). Rows are the product's own path (:func:`mmir.indexing.video.detect_shots`, what
``mmir shots`` calls) and then decoding alone with the same decoder settings; each is a multiple of real time,
with the 1-minute load average beside it because the machine is shared.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

from mmir.indexing.video import VideoIndexOptions, detect_shots
from mmir.media.shot_detectors import make_detector
from mmir.media.shots import ShotDetector
from mmir.media.video import DecodeOptions, VideoReader
from mmir.media.video_write import write_video

SECONDS = 60.0


def upscaled(path: str, size: tuple[int, int] = (1280, 720), seconds: float = SECONDS) -> Iterator[np.ndarray]:
    """The first ``seconds`` of ``path``, every frame, resized to ``size``."""
    options = DecodeOptions(analysis_fps=1000.0, image_fps=1000.0, image_side=size[1], skip_nonref_above_fps=1e9)
    with VideoReader(path, options) as reader:
        for frame in reader.frames():
            if frame.time_s >= seconds:
                return
            assert frame.image is not None
            yield np.asarray(Image.fromarray(frame.image).resize(size, Image.BILINEAR))


def speed_rows(source: str, detector: ShotDetector, repeats: int = 2) -> None:
    """Print ``mmir shots`` and decode-only speed on a 720p H.264 version of ``source``."""
    with tempfile.TemporaryDirectory() as tmp:
        clip = str(Path(tmp) / "real_720p.mp4")
        write_video(clip, upscaled(source), 25.0, preset="veryfast")
        with VideoReader(clip) as reader:
            duration = reader.info.duration_s
        print(f"\nspeed: {duration:.1f} s of 1280x720 H.264 (x264 veryfast, B-frames) from {Path(source).name}; "
              f"{os.cpu_count()} CPUs")  # fmt: skip
        options = VideoIndexOptions()
        candidates = {"mmir-fast (chosen)": detector, "fast (default name)": make_detector("fast")}
        for repeat in range(repeats):
            for name, chosen in candidates.items():
                load = os.getloadavg()[0]
                started = time.perf_counter()
                found = detect_shots(clip, chosen, options)
                seconds = time.perf_counter() - started
                decoding = options.decode_options(images=False)
                if getattr(chosen, "every_frame", False):
                    decoding = replace(decoding, skip_nonref_above_fps=float("inf"))
                started = time.perf_counter()
                with VideoReader(clip, decoding) as reader:
                    count = sum(1 for _ in reader.frames())
                decode = time.perf_counter() - started
                print(f"  [{repeat + 1}] mmir shots, {name:22s} {duration / seconds:5.1f}x real time ({seconds:5.1f} s, "  # noqa: E501
                      f"{len(found.shots)} shots) | decoding alone {duration / decode:5.1f}x ({count} frames) | "
                      f"load {load:.1f}")  # fmt: skip
