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
import weakref
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

import numpy as np

from mmir.errors import require
from mmir.media.errors import CorruptMediaError, MediaError, UnreadableMediaError
from mmir.media.speech_pool import DecoderPool, Found, decode, new_decoder, pieces

RATE = 16_000  # samples per second fed to the recogniser
ENGINE_NAME = "pocketsphinx-en-us"
ENGINE_VERSION = 1  # bump when settings change what is transcribed, so stored speech is redone
MAX_PROCESSES = 4  # decoder worker processes at most (each holds ~100 MB of model)
# No flat-lexicon second pass and no lattice best path, fewer active HMMs, phone-loop lookahead: about 3x faster
# than PocketSphinx's default search with the same word accuracy on synthetic speech (benchmarks/speech.py).
DECODER: tuple[tuple[str, Any], ...] = (("fwdflat", False), ("bestpath", False), ("maxhmmpf", 3000), ("pl_window", 5))
_FRAME = 480  # 30 ms gate frames
_MAX_SKIPPED = 20  # undecodable audio packets skipped before the rest of the track counts as damaged
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
        decoder: PocketSphinx options (name, value) beside its bundled model (see ``benchmarks/speech.py``).
    """

    max_seconds: float = 4 * 3600.0
    gate_db: float = 30.0
    min_level: float = 0.005
    pad_s: float = 0.3
    max_gap_s: float = 0.8
    decoder: tuple[tuple[str, Any], ...] = DECODER


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

    A packet FFmpeg cannot decode is skipped and the audio after it keeps its place in time (silence fills the
    gap), so one bad packet does not lose the whole track (the OpenCV sample ``Megamind.avi``'s first AC-3 packet
    is damaged, the other 351 decode); after :data:`_MAX_SKIPPED` bad packets the rest counts as damaged.

    Returns:
        ``(samples, has_audio, note)``: ``note`` says why decoding stopped early (damage, the length cap) or
        what was skipped; the samples decoded before a damaged part are kept.

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
        samples, note = _decode_stream(av, container, container.streams.audio[0], int(max_seconds * RATE))
    if not note and len(samples) >= int(max_seconds * RATE):
        note = f"audio transcribed up to {max_seconds:g} s only"
    return samples, True, note


def _decode_stream(av: Any, container: Any, stream: Any, limit: int) -> tuple[np.ndarray, str]:
    """Up to ``limit`` samples of ``stream`` at 16 kHz mono, skipping undecodable packets; ``(samples, note)``."""
    resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
    chunks: list[np.ndarray] = []
    total, skipped, first_bad, note = 0, 0, 0.0, ""
    origin = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
    try:
        for packet in container.demux(stream):
            try:
                frames = packet.decode()
            except (av.error.FFmpegError, ValueError) as exc:
                skipped, first_bad = skipped + 1, first_bad if skipped else total / RATE
                if skipped > _MAX_SKIPPED:
                    note = f"audio damaged after {first_bad:.1f} s ({type(exc).__name__}); speech kept up to there"
                    break
                continue
            for frame in frames:
                if skipped and frame.time is not None:  # after a lost packet: back to this frame's own time
                    gap = int((frame.time - origin) * RATE) - total
                    if RATE // 50 < gap <= limit - total:  # not the resampler's few samples of delay
                        chunks.append(np.zeros(gap, np.int16))
                        total += gap
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
                    total += len(chunks[-1])
            if total >= limit:
                break
    except (av.error.FFmpegError, ValueError, OSError) as exc:  # the container itself is damaged from here
        note = f"audio damaged after {total / RATE:.1f} s ({type(exc).__name__}); speech kept up to there"
    if skipped and not note:
        note = f"audio damaged: {skipped} packet(s) skipped (the first at {first_bad:.1f} s)"
    samples = np.concatenate(chunks)[:limit] if chunks else np.zeros(0, np.int16)
    return samples.astype(np.int16, copy=False), note


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
    """PocketSphinx with its bundled en-US model, loaded on first use.

    PocketSphinx holds the GIL while it decodes, so with ``processes`` > 1 the speech pieces of every file being
    transcribed (by any thread) go to that many worker processes (:mod:`mmir.media.speech_pool`), started once;
    with 1, each calling thread decodes with its own decoder. :meth:`close` stops the workers (they also stop
    when the recogniser is garbage collected, or at exit).

    Args:
        settings: Gate and decoder settings.
        processes: Worker processes; ``None``: one per core, at most :data:`MAX_PROCESSES`.
    """

    def __init__(self, settings: SpeechSettings = SpeechSettings(), processes: int | None = None) -> None:
        self.settings = settings
        self.processes = processes if processes is not None else min(MAX_PROCESSES, os.cpu_count() or 1)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._pool: DecoderPool | None = None
        self._stop: Any = None

    @property
    def version(self) -> str:
        """Producer version string."""
        return f"{ENGINE_NAME}/{ENGINE_VERSION}"

    def _decoder(self) -> Any:
        decoder = getattr(self._local, "decoder", None)
        if decoder is None:
            require("pocketsphinx", "speech")
            decoder = self._local.decoder = new_decoder(self.settings.decoder)
        return decoder

    def _workers(self) -> DecoderPool | None:
        if self.processes <= 1:
            return None
        with self._lock:
            if self._pool is None:
                require("pocketsphinx", "speech")
                self._pool = DecoderPool(self.processes, self.settings.decoder)
                self._stop = weakref.finalize(self, self._pool.close)
            return self._pool

    def close(self) -> None:
        """Stop the worker processes (a later transcription starts them again)."""
        with self._lock:
            if self._stop is not None:
                self._stop()
            self._pool, self._stop = None, None

    def words(self, samples: np.ndarray, offset_s: float = 0.0) -> list[SpokenWord]:
        """Words of one stretch of ``int16[N]`` 16 kHz audio, decoded in this thread; times are ``offset_s`` + their
        place in it."""
        return _spoken(decode(self._decoder(), samples), offset_s)

    def transcribe(self, path: str | os.PathLike[str]) -> Transcript:
        """The words spoken in a file's audio track (none when it has no audio).

        Raises:
            MediaError: the file cannot be opened at all (a damaged audio stream is a ``note`` instead).
        """
        samples, has_audio, note = decode_audio(path, self.settings.max_seconds)
        return Transcript(tuple(self.transcribe_samples(samples)), len(samples) / RATE, has_audio, note)

    def transcribe_samples(self, samples: np.ndarray) -> list[SpokenWord]:
        """Words in ``int16[N]`` 16 kHz audio: its loud stretches, cut into pieces, decoded by the workers."""
        spans = pieces(samples, loud_stretches(samples, self.settings))
        pool = self._workers() if spans else None
        found: list[list[Found]] | None = None
        if pool is not None:
            try:
                found = pool.decode_all(samples, spans)
            except BrokenProcessPool:  # a worker died (killed, out of memory): decode here instead
                self.close()
        if found is None:
            decoder = self._decoder()
            found = [decode(decoder, samples[a:b]) for a, b in spans]
        return [word for (start, _), heard in zip(spans, found, strict=True) for word in _spoken(heard, start / RATE)]


def _spoken(found: list[Found], offset_s: float) -> list[SpokenWord]:
    """Decoder output as words with times from ``offset_s``; fillers and silences dropped."""
    rate = 100.0  # PocketSphinx counts 10 ms frames
    words = []
    for text, first, last, prob in found:
        word = text.split("(")[0].lower()  # "read(2)" is the dictionary's second pronunciation
        if word in _FILLERS or not word:
            continue
        confidence = float(min(1.0, max(0.0, np.exp(prob / 1e4)))) if prob else 1.0
        words.append(SpokenWord(word, offset_s + first / rate, offset_s + (last + 1) / rate, confidence))
    return words


def transcribe(path: str | os.PathLike[str], settings: SpeechSettings = SpeechSettings()) -> Transcript:
    """:meth:`Recogniser.transcribe` with a fresh recogniser decoding in this thread (tests, one-off use)."""
    return Recogniser(settings, processes=1).transcribe(path)


__all__ = ["MediaError", "Recogniser", "SpeechSettings", "SpokenWord", "Transcript", "decode_audio", "transcribe"]
