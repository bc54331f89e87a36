"""Frame scaling for the reader: one FFmpeg scaling context per output size, pixels equal to PyAV's own."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("av")

import av

from mmir.media.video_frames import FrameScaler
from mmir.media.video_write import write_video


def test_scaler_gives_ffmpegs_pixels_and_keeps_one_context_per_size(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    path = tmp_path / "noise.mp4"
    write_video(path, [rng.integers(0, 256, (90, 160, 3), dtype=np.uint8) for _ in range(12)], fps=25)
    scaler = FrameScaler()
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            small = scaler.rgb(frame, 48, 27)
            image = scaler.upright(frame, 36)
            assert small.shape == (27, 48, 3) and image.shape == (36, 64, 3)
            np.testing.assert_array_equal(small, frame.to_ndarray(width=48, height=27, format="rgb24",
                                                                  interpolation="AREA"))  # fmt: skip
            np.testing.assert_array_equal(image, frame.to_ndarray(width=64, height=36, format="rgb24",
                                                                  interpolation="AREA"))  # fmt: skip
    # Reused for every frame: a new context per frame cost 1.3 ms of a 720p frame's ~3 ms of decoding.
    assert len(scaler._reformatters) == 2
