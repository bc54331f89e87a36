"""Write a video with a sound track (PyAV): test clips and benchmark footage with known speech."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import wave
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import numpy as np

from mmir.errors import require
from mmir.media.video_write import _add_stream


def write_video_with_audio(
    path: str | os.PathLike[str], frames: Sequence[np.ndarray], fps: float, audio: np.ndarray, rate: int,
    audio_codec: str = "aac", damage_after_s: float | None = None, damage_until_s: float | None = None,
) -> None:  # fmt: skip
    """Encode RGB frames (H.264) and mono ``int16[N]`` audio at ``rate`` Hz into one file (``.mp4``, ``.mkv``).

    Args:
        path: Output file.
        frames: ``uint8[H, W, 3]`` RGB frames (even sides).
        fps: Frame rate.
        audio: ``int16[N]`` mono samples.
        rate: Audio sample rate in Hz.
        audio_codec: FFmpeg audio encoder (``aac``, ``pcm_s16le`` in ``.mkv``/``.mov``, ``libopus``...).
        damage_after_s: Replace every audio packet from this time on with random bytes (a damaged track whose
            container and video stay intact), for tests of damaged audio.
        damage_until_s: Only up to this time (a damaged stretch, the rest of the track intact).
    """
    av: Any = require("av", "video")
    with av.open(os.fspath(path), mode="w") as container:
        video = _add_stream(container, "libx264", fps, frames[0].shape, "ultrafast", None)
        sound = container.add_stream(audio_codec, rate=rate, layout="mono")
        for i, frame in enumerate(frames):
            picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame, dtype=np.uint8), format="rgb24")
            picture.time_base = video.codec_context.time_base
            picture.pts = round(i / fps / picture.time_base)
            container.mux(video.encode(picture))
        container.mux(video.encode())
        step = 1024  # AAC's frame size
        samples = np.ascontiguousarray(audio, dtype=np.int16)
        for start in range(0, len(samples), step):
            chunk = samples[start : start + step]
            if len(chunk) < step:
                chunk = np.pad(chunk, (0, step - len(chunk)))
            block = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="s16", layout="mono")
            block.sample_rate = rate
            block.time_base = Fraction(1, rate)
            block.pts = start
            _mux_audio(container, sound.encode(block), damage_after_s, damage_until_s)
        _mux_audio(container, sound.encode(), damage_after_s, damage_until_s)


def _mux_audio(
    container: Any, packets: Sequence[Any], damage_after_s: float | None, damage_until_s: float | None
) -> None:
    rng = np.random.default_rng(0)
    for packet in packets:
        at = packet.pts * packet.time_base if packet.pts is not None else None
        if damage_after_s is not None and at is not None and damage_after_s <= at < (damage_until_s or float("inf")):
            damaged = av_packet(rng.integers(0, 256, max(packet.size, 64), dtype=np.uint8).tobytes(), packet)
            container.mux(damaged)
        else:
            container.mux(packet)


def av_packet(data: bytes, like: Any) -> Any:
    """A packet holding ``data`` with the stream, times and time base of ``like``."""
    av: Any = require("av", "video")
    packet = av.Packet(data)
    packet.stream, packet.pts, packet.dts, packet.time_base = like.stream, like.pts, like.dts, like.time_base
    return packet


def espeak(text: str, voice: str = "en-us", speed: int = 160, pitch: int = 50) -> tuple[np.ndarray, int]:
    """Speech synthesised by the ``espeak-ng`` program: ``(int16[N] mono samples, sample rate)``.

    Raises:
        FileNotFoundError: ``espeak-ng`` is not installed (Debian package ``espeak-ng``).
    """
    program = shutil.which("espeak-ng") or shutil.which("espeak")
    if program is None:
        raise FileNotFoundError("espeak-ng is not installed (Debian: apt-get install espeak-ng)")
    with tempfile.TemporaryDirectory() as folder:
        out = os.path.join(folder, "speech.wav")
        subprocess.run([program, "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", out, text],
                       check=True, capture_output=True)  # fmt: skip
        with wave.open(out, "rb") as wav:
            rate = wav.getframerate()
            data = np.frombuffer(wav.readframes(wav.getnframes()), np.int16)
    return data.copy(), rate
