"""Speech in a video's audio: words with their times, for searching what was said.

The audio stream is decoded with PyAV and resampled to 16 kHz mono 16-bit (what the recogniser expects). An
energy gate finds the stretches that are loud enough to hold speech (quiet stretches and silent tracks cost
nothing more than their decode), and each stretch is transcribed by CMU PocketSphinx (its en-US acoustic model,
dictionary and language model ship inside the ``pocketsphinx`` wheel; the ``speech`` extra), which gives words
with start and end times. A video with no audio stream costs one container open.

Speech recognition is approximate: synthetic speech with clean audio is read well, noisy real speech much less
so (see ``benchmarks/speech.py``).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from mmir.errors import require
from mmir.media.errors import CorruptMediaError, MediaError, UnreadableMediaError

RATE = 16_000  # samples per second fed to the recogniser
ENGINE_NAME = "pocketsphinx-en-us"
ENGINE_VERSION = 1  # bump when settings change what is transcribed, so stored speech is redone
_FRAME = 480  # 30 ms gate frames
_FILLERS = frozenset({"<s>", "</s>", "<sil>", "[noise]", "[speech]", "[laugh]", "[cough]", "[breath]", "[um]", "[uh]"})


@dataclass(frozen=True)
class SpeechSettings:
    """How speech is found and transcribed.

    Attributes:
        max_seconds: Most seconds of audio decoded per file (longer tracks are cut there, with a note).
        gate_db: A 30 ms frame counts as loud when its energy is within this many dB of the track's loudest
            (the 95th percentile, so a click does not set it).
        min_level: Frames quieter than this RMS (on a -1…1 scale) never count as speech.
        pad_s: Seconds kept before and after each loud stretch (speech starts and ends quietly).
        max_gap_s: Loud stretches closer than this are transcribed as one (pauses inside a sentence).
    """

    max_seconds: float = 4 * 3600.0
    gate_db: float = 30.0
    min_level: float = 0.005
    pad_s: float = 0.3
    max_gap_s: float = 0.8


@dataclass(frozen=True)
class SpokenWord:
    """One recognised word: the word, its start and end in seconds from the file's start, and a confidence."""

    word: str
    start_s: float
    end_s: float
    confidence: float


@dataclass(frozen=True)
class Transcript:
    """What :func:`transcribe` found.

    Attributes:
        words: Recognised words in time order.
        audio_s: Seconds of audio decoded (0 for a file without an audio stream).
        has_audio: The file has an audio stream.
        note: Why the transcript is incomplete (a damaged stream, a cut), else ``""``.
    """

    words: tuple[SpokenWord, ...]
    audio_s: float
    has_audio: bool
    note: str = ""


def decode_audio(path: str | os.PathLike[str], max_seconds: float = 4 * 3600.0) -> tuple[np.ndarray, bool, str]:
    """A file's first audio stream as ``int16[N]`` mono at 16 kHz.

    Returns:
        ``(samples, has_audio, note)``: ``note`` says why decoding stopped early (damage, the length cap);
        the samples decoded before a damaged part are kept.

    Raises:
        UnreadableMediaError: the file cannot be opened for reading.
        CorruptMediaError: FFmpeg cannot open the container at all.
    """
    av: Any = require("av", "speech")
    name = os.fspath(path)
    try:
        container = av.open(name, mode="r", metadata_errors="ignore")
    except av.error.PermissionError as exc:
        raise UnreadableMediaError(name, "permission denied") from exc
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise CorruptMediaError(name, f"not a file FFmpeg can open ({exc})") from exc
    with container:
        if not container.streams.audio:
            return np.zeros(0, np.int16), False, ""
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
        chunks: list[np.ndarray] = []
        total, limit, note = 0, int(max_seconds * RATE), ""
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunk = out.to_ndarray().reshape(-1)
                    chunks.append(chunk)
                    total += len(chunk)
                if total >= limit:
                    note = f"audio transcribed up to {max_seconds:g} s only"
                    break
        except (av.error.FFmpegError, ValueError, OSError) as exc:
            note = f"audio damaged after {total / RATE:.1f} s ({type(exc).__name__}); speech kept up to there"
    samples = np.concatenate(chunks)[:limit] if chunks else np.zeros(0, np.int16)
    return samples.astype(np.int16, copy=False), True, note


def loud_stretches(samples: np.ndarray, settings: SpeechSettings = SpeechSettings()) -> list[tuple[int, int]]:
    """``(start, end)`` sample ranges of ``int16[N]`` audio loud enough to hold speech, padded and merged."""
    frames = len(samples) // _FRAME
    if frames == 0:
        return []
    x = samples[: frames * _FRAME].astype(np.float32).reshape(frames, _FRAME) / 32768.0
    rms = np.sqrt(np.mean(x * x, axis=1) + 1e-12)
    reference = float(np.percentile(rms, 95))
    threshold = max(settings.min_level, reference * 10 ** (-settings.gate_db / 20))
    loud = np.flatnonzero(rms >= threshold)
    if not len(loud):
        return []
    pad, gap = int(settings.pad_s * RATE / _FRAME), int(settings.max_gap_s * RATE / _FRAME)
    stretches: list[list[int]] = []
    for f in loud.tolist():
        if stretches and f - stretches[-1][1] <= gap:
            stretches[-1][1] = f
        else:
            stretches.append([f, f])
    return [(max(0, (a - pad) * _FRAME), min(len(samples), (b + 1 + pad) * _FRAME)) for a, b in stretches]


class Recogniser:
    """PocketSphinx with its bundled en-US model; loaded on first use, one decoder per thread."""

    def __init__(self, settings: SpeechSettings = SpeechSettings()) -> None:
        self.settings = settings
        self._local = threading.local()

    @property
    def version(self) -> str:
        """Producer version string."""
        return f"{ENGINE_NAME}/{ENGINE_VERSION}"

    def _decoder(self) -> Any:
        decoder = getattr(self._local, "decoder", None)
        if decoder is None:
            pocketsphinx: Any = require("pocketsphinx", "speech")
            # No flat-lexicon second pass and no lattice best path, fewer active HMMs: about 3x faster with the
            # same word accuracy on synthetic speech (benchmarks/speech.py), past 5x real time on a busy core.
            decoder = self._local.decoder = pocketsphinx.Decoder(
                samprate=RATE, loglevel="FATAL", fwdflat=False, bestpath=False, maxhmmpf=3000, pl_window=5
            )
        return decoder

    def words(self, samples: np.ndarray, offset_s: float = 0.0) -> list[SpokenWord]:
        """Words of one stretch of ``int16[N]`` 16 kHz audio; times are ``offset_s`` + their place in it."""
        decoder = self._decoder()
        decoder.start_utt()
        decoder.process_raw(np.ascontiguousarray(samples, np.int16).tobytes(), False, True)
        decoder.end_utt()
        rate = 100.0  # PocketSphinx counts 10 ms frames
        found = []
        for seg in decoder.seg():
            word = seg.word.split("(")[0].lower()  # "read(2)" is the dictionary's second pronunciation
            if word in _FILLERS or not word:
                continue
            confidence = float(min(1.0, max(0.0, np.exp(seg.prob / 1e4)))) if seg.prob else 1.0
            found.append(SpokenWord(word, offset_s + seg.start_frame / rate, offset_s + (seg.end_frame + 1) / rate,
                                    confidence))  # fmt: skip
        return found

    def transcribe(self, path: str | os.PathLike[str]) -> Transcript:
        """The words spoken in a file's audio track (none when it has no audio).

        Raises:
            MediaError: the file cannot be opened at all (a damaged audio stream is a ``note`` instead).
        """
        samples, has_audio, note = decode_audio(path, self.settings.max_seconds)
        words: list[SpokenWord] = []
        for start, end in loud_stretches(samples, self.settings):
            words.extend(self.words(samples[start:end], start / RATE))
        return Transcript(tuple(words), len(samples) / RATE, has_audio, note)


def transcribe(path: str | os.PathLike[str], settings: SpeechSettings = SpeechSettings()) -> Transcript:
    """:meth:`Recogniser.transcribe` with a fresh recogniser (tests, one-off use)."""
    return Recogniser(settings).transcribe(path)


__all__ = ["MediaError", "Recogniser", "SpeechSettings", "SpokenWord", "Transcript", "decode_audio", "transcribe"]
