"""PocketSphinx decoding in worker processes, and the audio pieces handed to them.

PocketSphinx's Python binding holds the GIL while it decodes (its extension never releases it), so threads
transcribing two videos share one core. Worker processes (``spawn``: no fork of a process running threads) each
hold one decoder; a track's speech is cut into pieces of at most :data:`MAX_PIECE_S` seconds at quiet moments,
and the pieces of every file being transcribed share the workers, so all cores decode.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Sequence
from typing import Any

import numpy as np

RATE = 16_000
MAX_PIECE_S = 30.0  # longer stretches are cut (at their quietest 30 ms within the last 5 s) so workers share them
_FRAME = 480
_DECODER: Any = None  # the decoder of this worker process

Found = tuple[str, int, int, int]  # word as the dictionary spells it, first and last 10 ms frame, log probability


def new_decoder(options: Sequence[tuple[str, Any]]) -> Any:
    """A PocketSphinx decoder with its bundled en-US model, 16 kHz input, and ``options``."""
    import pocketsphinx

    return pocketsphinx.Decoder(samprate=RATE, loglevel="FATAL", **dict(options))


def decode(decoder: Any, samples: np.ndarray) -> list[Found]:
    """The words PocketSphinx hears in ``int16[N]`` 16 kHz audio, as one utterance."""
    if len(samples) == 0:
        return []
    decoder.start_utt()
    decoder.process_raw(np.ascontiguousarray(samples, np.int16).tobytes(), False, True)
    decoder.end_utt()
    return [(seg.word, int(seg.start_frame), int(seg.end_frame), int(seg.prob)) for seg in decoder.seg()]


def pieces(
    samples: np.ndarray, stretches: Sequence[tuple[int, int]], max_s: float = MAX_PIECE_S
) -> list[tuple[int, int]]:
    """``stretches`` (sample ranges) with those longer than ``max_s`` cut at their quietest frame near the limit."""
    limit, window = int(max_s * RATE), int(min(5.0, max_s / 2) * RATE)
    out: list[tuple[int, int]] = []
    for start, end in stretches:
        while end - start > limit:
            lo, hi = start + limit - window, start + limit
            frames = samples[lo:hi].astype(np.float32)[: (hi - lo) // _FRAME * _FRAME].reshape(-1, _FRAME)
            cut = lo + int(np.argmin((frames * frames).mean(axis=1))) * _FRAME + _FRAME // 2
            out.append((start, cut))
            start = cut
        out.append((start, end))
    return out


def _init(options: Sequence[tuple[str, Any]]) -> None:
    global _DECODER
    _DECODER = new_decoder(options)


def _decode_in_worker(data: bytes) -> list[Found]:
    return decode(_DECODER, np.frombuffer(data, np.int16))


class DecoderPool:
    """``processes`` worker processes, each with one decoder made with ``options`` (started on first use)."""

    def __init__(self, processes: int, options: Sequence[tuple[str, Any]]) -> None:
        from concurrent.futures import ProcessPoolExecutor

        context = multiprocessing.get_context("spawn")
        self._pool = ProcessPoolExecutor(processes, mp_context=context, initializer=_init, initargs=(tuple(options),))

    def decode_all(self, samples: np.ndarray, spans: Sequence[tuple[int, int]]) -> list[list[Found]]:
        """:func:`decode` of each ``samples[start:end]``, in order, on the workers.

        Raises:
            concurrent.futures.process.BrokenProcessPool: a worker died (the caller decodes in-process instead).
        """
        futures = [self._pool.submit(_decode_in_worker, samples[a:b].tobytes()) for a, b in spans]
        return [future.result() for future in futures]

    def close(self) -> None:
        """Stop the workers (pending pieces are dropped)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
