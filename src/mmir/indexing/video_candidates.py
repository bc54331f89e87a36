"""Encoded candidate frames of one video and what becomes of them: encoding on a worker thread, pruning the
candidates of closed shots that are no keyframe, and assembling shots with their keyframes and concepts.

The state and steps behind :func:`mmir.indexing.video.analyse_video` (see its module docstring for the memory
bounds they keep).
"""

from __future__ import annotations

import bisect
import io
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from mmir.indexing.thumbnails import Pictures, frame_pictures
from mmir.media.shots import Shot, Transition, is_uniform, select_keyframes, shots_from_transitions

if TYPE_CHECKING:
    from mmir.indexing.video import VideoIndexOptions


@dataclass
class Candidates:
    """Encoded candidate frames (the only per-frame state that grows with the video's length)."""

    times: list[float] = field(default_factory=list)
    descriptors: list[np.ndarray] = field(default_factory=list)
    concepts: list[np.ndarray | None] = field(default_factory=list)  # None once pruned (not a keyframe)
    thumbnails: list[bytes | None] = field(default_factory=list)
    pictures: list[Pictures | None] = field(default_factory=list)  # with options.pictures; None once pruned
    blank: list[bool] = field(default_factory=list)
    closed_until: float = -1.0  # candidates before this time belong to closed shots and have been pruned


@dataclass(frozen=True)
class AnalysedShot:
    """A shot with its chosen keyframes (indices into the candidates) and aggregated concepts."""

    shot: Shot
    keyframes: tuple[int, ...]
    members: tuple[int, ...]
    concepts: np.ndarray


@dataclass(frozen=True)
class VideoAnalysis:
    """Everything the analysis of one video produced.

    Attributes:
        shots: Analysed shots in time order.
        candidate_times: ``float64[K]`` times of the encoded candidate frames.
        descriptors: ``float32[K, D]`` their raw descriptors.
        thumbnails: Their JPEG thumbnails (``None`` for candidates pruned because they are no keyframe).
        blank: ``bool[K]`` which are uniform.
        transitions: The detected transitions (frame indices of the analysed frames).
        frame_times: ``float64[N]`` times of the analysed frames.
        problem: Why decoding stopped early (the shots read so far are kept), or ``None``.
        pictures: The candidates' cards and previews (``options.pictures``; ``None`` where pruned), else empty.
    """

    shots: tuple[AnalysedShot, ...]
    candidate_times: np.ndarray
    descriptors: np.ndarray
    thumbnails: tuple[bytes | None, ...]
    blank: np.ndarray
    transitions: tuple[Transition, ...]
    frame_times: np.ndarray
    problem: str | None
    pictures: tuple[Pictures | None, ...] = ()


class BackgroundEncoder:
    """Encodes candidate batches on one worker thread while the decoder goes on.

    The decoder is fed packets by the calling thread, so while that thread waited for the CNN, FFmpeg's
    decoding threads sat idle; here decoding and encoding overlap. At most one batch is in flight (the next
    ``submit`` waits for it), so memory stays at two batches of images, and batches finish in order.
    """

    def __init__(self, options: VideoIndexOptions) -> None:
        self.options = options
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mmir-video-encode")
        self.future: Future[None] | None = None

    def __enter__(self) -> BackgroundEncoder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)

    def submit(self, model: object, pending: list[tuple[float, np.ndarray]], out: Candidates) -> None:
        """Encode ``pending`` (taken over and cleared) into ``out`` after the batch in flight."""
        self.wait()
        self.future = self.pool.submit(encode_candidates, model, list(pending), out, self.options)
        pending.clear()

    def wait(self) -> None:
        """Block until the batch in flight is stored (re-raising its error)."""
        if self.future is not None:
            future, self.future = self.future, None
            future.result()


def encode_candidates(model: object, pending: Sequence[tuple[float, np.ndarray]], out: Candidates,
            options: VideoIndexOptions) -> None:  # fmt: skip
    """Encode ``(time, uint8[H, W, 3] frame)`` candidates and append them to ``out`` (on the worker thread)."""
    images = [Image.fromarray(image) for _, image in pending]
    batch = np.stack([model.preprocess(image) for image in images])  # type: ignore[attr-defined]
    encoded = model.encode_batch(batch)  # type: ignore[attr-defined]
    for row, ((time_s, image), pil) in enumerate(zip(pending, images, strict=True)):
        out.times.append(time_s)
        out.descriptors.append(np.asarray(encoded.descriptors[row], np.float16))
        out.concepts.append(np.asarray(encoded.concepts[row], np.float16))
        out.blank.append(is_uniform(image))
        out.thumbnails.append(_jpeg(pil, options.thumbnail_side))
        if options.pictures:
            out.pictures.append(frame_pictures(pil))


def _jpeg(image: Image.Image, side: int) -> bytes:
    thumb = image.copy()
    thumb.thumbnail((side, side))
    buffer = io.BytesIO()
    thumb.save(buffer, "JPEG", quality=80)
    return buffer.getvalue()


def _keyframes_of(shot: Shot, cand_times: np.ndarray, descriptors: np.ndarray, blank: np.ndarray,
                  options: VideoIndexOptions) -> tuple[np.ndarray, list[int]]:  # fmt: skip
    """``(member candidate indices, keyframe candidate indices)`` of a shot."""
    members = np.flatnonzero((cand_times >= shot.start_s) & (cand_times < shot.end_s))
    if len(members) == 0 and len(cand_times):  # a shot shorter than the candidate period
        members = np.array([int(np.argmin(np.abs(cand_times - 0.5 * (shot.start_s + shot.end_s))))])
    if len(members) == 0:
        return members, []
    usable = members[~blank[members]] if (~blank[members]).any() else members
    count = min(options.max_keyframes, 1 + int((shot.end_s - shot.start_s) // options.keyframe_every_s))
    picked = select_keyframes(descriptors[usable], cand_times[usable], count, options.strategy)
    return members, [int(usable[i]) for i in picked]


def prune_closed_shots(found: list[Transition], times: np.ndarray, cand: Candidates,
                        options: VideoIndexOptions) -> None:  # fmt: skip
    """Free the concepts and thumbnails of candidates that are no keyframe of an already closed shot.

    Transitions returned by the chunked detector are final, so every shot before the last one is final too
    (keyframe choice depends only on the shot's own candidates). This keeps the analysis at one descriptor
    (2.5 KB, stored anyway) per candidate plus a few keyframes per shot, instead of every candidate's 9 KB.
    """
    if not found or not cand.times:
        return
    shots = shots_from_transitions(found, times, min_shot_s=options.min_shot_s, max_shot_s=options.max_shot_s)
    open_index = len(shots) - 1
    while open_index > 0 and shots[open_index].opened_by is None:  # parts of the open shot after a split
        open_index -= 1
    closed_until = shots[open_index].start_s
    if closed_until <= cand.closed_until:
        return
    newly_closed = [shot for shot in shots[:open_index] if shot.end_s > cand.closed_until]
    # Only the candidates from the last pruning point or the first newly closed shot on (and the one before, which
    # a shot shorter than the candidate period may pick) are read: stacking all of them made long videos quadratic.
    starts = [cand.closed_until, *(shot.start_s for shot in newly_closed)]
    first = _first_candidate_at(cand, min(starts))
    cand_times = np.asarray(cand.times[first:], np.float64)
    descriptors = np.stack(cand.descriptors[first:]).astype(np.float32)
    blank = np.asarray(cand.blank[first:], bool)
    keep: set[int] = set()
    for shot in newly_closed:
        keep.update(_keyframes_of(shot, cand_times, descriptors, blank, options)[1])
    for i in np.flatnonzero((cand_times >= cand.closed_until) & (cand_times < closed_until)).tolist():
        if i not in keep:
            cand.concepts[first + i] = None
            cand.thumbnails[first + i] = None
            if cand.pictures:
                cand.pictures[first + i] = None
    cand.closed_until = closed_until


def _first_candidate_at(cand: Candidates, start_s: float) -> int:
    """Index of the last candidate before ``start_s`` (candidates are in time order), or 0."""
    return max(0, bisect.bisect_left(cand.times, start_s) - 1)


def assemble(transitions: list[Transition], times: np.ndarray, end_s: float, cand: Candidates,
              options: VideoIndexOptions, problem: str | None) -> VideoAnalysis:  # fmt: skip
    cand_times = np.asarray(cand.times, np.float64)
    descriptors = np.stack(cand.descriptors).astype(np.float32) if cand.descriptors else np.zeros((0, 0), np.float32)
    blank = np.asarray(cand.blank, bool)
    kept = np.array([c is not None for c in cand.concepts], bool)
    shots = []
    for shot in shots_from_transitions(transitions, times, min_shot_s=options.min_shot_s,
                                       max_shot_s=options.max_shot_s, end_s=end_s):  # fmt: skip
        members, keyframes = _keyframes_of(shot, cand_times, descriptors, blank, options)
        if not keyframes:
            continue
        # The last shots can merge at the very end (minimum length); a pruned pick falls back to a kept one.
        alive = members[kept[members]] if kept[members].any() else np.flatnonzero(kept)
        keyframes = sorted({k if kept[k] else int(alive[np.argmin(np.abs(cand_times[alive] - cand_times[k]))])
                            for k in keyframes})  # fmt: skip
        concepts = np.stack([np.asarray(cand.concepts[k], np.float32) for k in keyframes]).max(axis=0)
        shots.append(AnalysedShot(shot, tuple(keyframes), tuple(int(m) for m in members), concepts))
    return VideoAnalysis(tuple(shots), cand_times, descriptors, tuple(cand.thumbnails), blank,
                         tuple(transitions), times, problem, tuple(cand.pictures))  # fmt: skip
