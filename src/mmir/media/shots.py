"""Shot boundaries, shots and keyframes: pure functions of decoded frames and their timestamps.

Frames are the small ``uint8[N, h, w, 3]`` RGB frames of :class:`~mmir.media.video.VideoReader` (48x27 by
default) and ``times`` their presentation times ``float64[N]`` in seconds. A :class:`Transition` spans frame
indices ``start..end`` (inclusive): for a cut ``end == start + 1`` (``start`` is the last frame of the old shot,
``end`` the first of the new one); for a gradual transition (dissolve, fade, wipe) ``start..end`` are the mixed
frames. Detectors implement :class:`ShotDetector`; the fast detector lives here, TransNetV2 and
PySceneDetect adapters in :mod:`mmir.media.shot_detectors`; :class:`~mmir.media.shot_windows.ChunkedDetector` runs any
of them over overlapping windows so that detection memory stays bounded on long videos.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from mmir.media.keyframes import KeyframeStrategy as KeyframeStrategy  # re-exported: shots' public names
from mmir.media.keyframes import is_uniform as is_uniform
from mmir.media.keyframes import select_keyframes as select_keyframes
from mmir.media.shot_signals import (
    brightness_ramp,
    cut_scores,
    dark_runs,
    local_level,
    mixed_span,
    true_runs,
)


class TransitionKind(str, enum.Enum):
    """How one shot becomes the next."""

    CUT = "cut"
    GRADUAL = "gradual"


@dataclass(frozen=True)
class Transition:
    """A detected or true boundary between two shots (frame indices, inclusive)."""

    start: int
    end: int
    kind: TransitionKind


@dataclass(frozen=True)
class Shot:
    """A shot (or a part of a long shot) in frame indices and seconds.

    Attributes:
        first: Index of its first frame.
        last: Index of its last frame (inclusive).
        start_s: Time of its first frame.
        end_s: Time just after its last frame (the next frame's time, or last + one frame period).
        opened_by: The transition that began it, ``None`` for the first shot and for splits of a long shot.
    """

    first: int
    last: int
    start_s: float
    end_s: float
    opened_by: TransitionKind | None = None


class ShotDetector(Protocol):
    """Finds transitions in a run of frames."""

    @property
    def name(self) -> str:
        """Short name shown in benchmarks and ``mmir shots``."""
        ...

    def detect(self, frames: np.ndarray, times: np.ndarray) -> list[Transition]:
        """Transitions in ``frames`` (``uint8[N, h, w, 3]``) with times ``float64[N]``, in order."""
        ...


@dataclass(frozen=True)
class FastDetector:
    """Fast cuts, dissolves and fades on 48x27 frames (no learning; thousands of frames per second).

    * **Cuts**: a frame whose colour-histogram + pixel difference to its predecessor stands out from its
      neighbourhood: at least ``cut_ratio`` times the median of the ``radius`` differences on each side and at
      least ``cut_floor``, or at least ``strong_cut`` and ``strong_ratio`` times that median. The threshold is
      relative, so a cut between two dark shots of one palette (small but 10x its neighbours) is found and a
      pan (large differences everywhere) is not a run of cuts.
    * **Dissolves**: the frame halfway between frames ``m - h`` and ``m + h`` is their pixel-wise average
      (a linear mix) while the two differ strongly, with less contrast than the ends (the variance dip of a
      mix); camera motion and zooms are not linear in pixels. The reported span is the frames whose weight on
      the line between the two ends lies strictly inside (0, 1), not the ``2h`` window that found it.
    * **Fades**: runs of dark flat frames entered by falling and left by rising brightness. A dark run of at
      least ``card_s`` seconds is a shot of its own (a black card; a black opening), with a fade-out into it
      and a fade-in out of it; a shorter one is inside a single fade-through-black transition.

    Attributes:
        cut_floor: Smallest difference (0..1) of a cut that stands out by ``cut_ratio``.
        cut_ratio: How many times the neighbourhood's median difference a cut must be.
        strong_cut: A difference at least this large needs only ``strong_ratio`` (cuts out of pans).
        strong_ratio: Ratio over the neighbourhood for strong differences.
        radius: Neighbours on each side whose median is the local level.
        dissolve_change: Smallest mean grey difference (0..1) between the two ends of a dissolve.
        linearity: Largest ``|mid - (a + b) / 2| / |a - b|`` of a dissolve.
        variance_dip: Largest ratio of the middle frame's grey variance to the ends' mean variance.
        half_widths: Half-lengths ``h`` (frames) tried for dissolves.
        card_s: Shortest dark run that counts as a shot (black card) rather than the middle of a fade.
        flash: A jump whose old picture comes back within this many frames is a flash or a corrupt frame, not a
            cut (0 turns this off).
    """

    # Chosen on the validation half of the real footage annotated by eye (benchmarks/shot_detection.py --real),
    # fed every frame as indexing decodes them up to 30 fps.
    cut_floor: float = 0.16
    cut_ratio: float = 3.0
    strong_cut: float = 0.2
    strong_ratio: float = 3.0
    radius: int = 6
    dissolve_change: float = 0.08
    linearity: float = 0.5
    variance_dip: float = 0.75
    half_widths: tuple[int, ...] = (3, 6, 10, 14)
    card_s: float = 0.5
    flash: int = 2
    name: str = "mmir-fast"

    def detect(self, frames: np.ndarray, times: np.ndarray) -> list[Transition]:
        """See :class:`ShotDetector`."""
        if len(frames) < 2:
            return []
        score, grey = cut_scores(frames)
        mask = self.cut_mask(score, _gaps(times))
        cuts = [i for i in np.flatnonzero(mask).tolist() if not _flash(grey, i, self.flash)]
        period = float(np.median(np.diff(times))) if len(times) > 1 else 0.04
        card = max(2, round(self.card_s / max(period, 1e-3)))
        runs = dark_runs(grey)
        if runs and runs[0][0] == 0 and runs[0][1] + 1 < card:
            # A black opening shorter than a card is the start of the first shot, not a shot of its own.
            cuts = [i for i in cuts if i > runs[0][1] + 1]
        fades = _fades(grey, card=card)
        cuts, short = _short_mixes(grey, cuts, 2 * min(self.half_widths) + 2)
        gradual = _without_overlaps(fades + short + self._dissolves(grey, cuts))
        return sorted(
            [Transition(i - 1, i, TransitionKind.CUT) for i in cuts if not _inside(i, gradual)] + gradual,
            key=lambda t: (t.start, t.end),
        )

    def cut_mask(self, score: np.ndarray, gaps: np.ndarray | None = None) -> np.ndarray:
        """``bool[N]``: frame ``i`` opens a new shot (a cut between ``i - 1`` and ``i``, ``gaps[i]`` frames apart).

        Each neighbour's score is scaled to the frame's own gap: frames two apart move about twice as far (where
        non-reference frames were skipped); with every frame decoded all gaps are 1.
        """
        gaps = np.ones(len(score), np.float32) if gaps is None else gaps
        level = local_level((score / gaps).astype(np.float32), self.radius) * gaps
        stands_out = ((score >= self.cut_floor) & (score >= self.cut_ratio * level)) | (
            (score >= self.strong_cut) & (score >= self.strong_ratio * level)
        )
        # One cut per peak: a frame beaten by a neighbour is the edge of that neighbour's cut.
        left = np.concatenate([[0.0], score[:-1]])
        right = np.concatenate([score[1:], [0.0]])
        mask = stands_out & (score > left) & (score >= right)
        mask[0] = False
        return mask

    def _dissolves(self, grey: np.ndarray, cuts: list[int]) -> list[Transition]:
        n = len(grey)
        best_score = np.zeros(n, np.float32)
        cut_count = np.concatenate([[0], np.cumsum(np.isin(np.arange(n), cuts))])
        for h in self.half_widths:
            if n <= 2 * h:
                continue
            a, mid, b = grey[: n - 2 * h], grey[h : n - h], grey[2 * h :]
            change = np.abs(a - b).mean(axis=1)
            error = np.abs(mid - 0.5 * (a + b)).mean(axis=1)
            centres = np.arange(h, n - h)
            no_cut = cut_count[centres + h + 1] - cut_count[centres - h + 1] == 0
            # A mix of two unrelated pictures has less contrast than either (Alattar's variance dip); a pan or a
            # zoom over one picture keeps its contrast, even where small shifts look linear at 48x27.
            dip = mid.var(axis=1) <= self.variance_dip * 0.5 * (a.var(axis=1) + b.var(axis=1))
            ok = (change >= self.dissolve_change) & (error <= self.linearity * change) & dip & no_cut
            value = np.where(ok, change - 2 * error, 0.0)
            better = value > best_score[centres]
            best_score[centres[better]] = value[better]
        found = []
        reach = max(self.half_widths)
        for first, last in true_runs(best_score > 0):
            m = first + int(np.argmax(best_score[first : last + 1]))
            # The best window may end inside a long dissolve; the mix is measured between the widest ends that
            # no cut separates from it, so that both ends are unmixed pictures.
            before = [c for c in cuts if c <= m]
            after = [c for c in cuts if c > m]
            start = max(m - reach, before[-1] if before else 0)
            stop = min(m + reach, after[0] - 1 if after else n - 1)
            span = mixed_span(grey, start, stop)
            if span is not None and span[1] > span[0]:
                found.append(Transition(span[0], span[1], TransitionKind.GRADUAL))
        return found


def _gaps(times: np.ndarray) -> np.ndarray:
    """``float32[N]``: frame periods from frame ``i - 1`` to ``i`` (1 at 0; 2 where one frame was not decoded)."""
    steps = np.diff(times)
    if len(steps) == 0:
        return np.ones(len(times), np.float32)
    one = max(float(np.percentile(steps, 10)), 1e-6)  # one period, even where most pairs are two apart
    return np.concatenate([[1.0], np.maximum(np.round(steps / one), 1.0)]).astype(np.float32)


def _flash(grey: np.ndarray, cut: int, span: int) -> bool:
    """Whether the picture after ``cut`` comes back within ``span`` frames (a flash or a corrupt frame)."""
    before = grey[cut - 1]
    jump = float(np.abs(grey[cut] - before).mean())
    after = grey[cut + 1 : cut + 1 + span]
    return len(after) > 0 and float(np.abs(after - before).mean(axis=1).min()) < 0.3 * jump


def _fades(grey: np.ndarray, card: int, reach: int = 30) -> list[Transition]:
    """Fades through black: dark flat frames, entered by falling and left by rising brightness.

    A dark run of ``card`` frames or more is a shot (a black card): the fade-out into it and the fade-in out
    of it are two transitions of their own. A shorter run lies inside one transition with both ramps.
    """
    mean = grey.mean(axis=1)
    found = []
    for first, last in dark_runs(grey):
        left = brightness_ramp(mean, first, -1, reach)
        right = brightness_ramp(mean, last, +1, reach)
        into, out_of = first - left >= 2, right - last >= 2
        if last - first + 1 >= card:
            if into:
                found.append(Transition(left, first - 1, TransitionKind.GRADUAL))
            if out_of:
                found.append(Transition(last + 1, right, TransitionKind.GRADUAL))
        elif (into or out_of) and first > 0:
            found.append(Transition(left, right, TransitionKind.GRADUAL))
    return found


def _short_mixes(grey: np.ndarray, cuts: list[int], gap: int) -> tuple[list[int], list[Transition]]:
    """Two cuts at most ``gap`` frames apart with a mix of their outer frames between them are one dissolve.

    A dissolve of a few frames (or one whose frames were partly not decoded) jumps at its first and last step;
    its middle frames are still a blend of the picture before and the picture after.
    """
    kept: list[int] = []
    found: list[Transition] = []
    for cut in cuts:
        if kept and cut - kept[-1] <= gap and cut - kept[-1] >= 2:
            span = mixed_span(grey, kept[-1] - 1, cut, low=0.05, high=0.95, fit=0.4)
            if span is not None:
                found.append(Transition(kept.pop(), cut - 1, TransitionKind.GRADUAL))
                continue
        kept.append(cut)
    return kept, found


def _inside(cut: int, gradual: list[Transition]) -> bool:
    """Whether a cut falls in a gradual transition or on its edge (its first or last step)."""
    return any(t.start - 1 <= cut - 1 and cut <= t.end + 1 for t in gradual)


def _without_overlaps(gradual: list[Transition]) -> list[Transition]:
    """Merge overlapping gradual candidates (a fade can also pass the dissolve test)."""
    merged: list[Transition] = []
    for t in sorted(gradual, key=lambda t: (t.start, t.end)):
        if merged and t.start <= merged[-1].end:
            last = merged[-1]
            merged[-1] = Transition(last.start, max(last.end, t.end), TransitionKind.GRADUAL)
        else:
            merged.append(t)
    return merged


def needs_every_frame(detector: ShotDetector) -> bool:
    """Whether ``detector`` must be fed every frame (its ``every_frame`` attribute; TransNetV2 says so).

    Indexing skips frames no other frame references to decode faster; a learned detector trained on every frame
    loses cuts on such a stream (TransNetV2's recall fell from 0.79 to 0.63 on real footage), so for it the
    reader decodes them all.
    """
    return bool(getattr(detector, "every_frame", False))


def shots_from_transitions(
    transitions: Sequence[Transition],
    times: np.ndarray,
    *,
    min_shot_s: float = 0.25,
    max_shot_s: float = 16.0,
    end_s: float | None = None,
) -> list[Shot]:
    """Shots between transitions; too-short shots merged away, long ones split into equal parts.

    Args:
        transitions: Transitions in frame order (as a detector returns them).
        times: ``float64[N]`` frame times.
        min_shot_s: A transition that would close a shot shorter than this (first frame to the end of its last
            frame), or leave less than this before the end, is dropped.
        max_shot_s: Shots longer than this are split into equal parts no longer than it (0 disables).
        end_s: End time of the last frame (default: last time + median frame period).

    Returns:
        Shots covering the frames in order; gradual transition frames go to neither neighbour.
    """
    n = len(times)
    if n == 0:
        return []
    period = float(np.median(np.diff(times))) if n > 1 else 0.04
    stop = float(end_s) if end_s is not None else float(times[-1]) + period

    def time_after(index: int) -> float:
        return float(times[index + 1]) if index + 1 < n else stop

    kept: list[Transition] = []
    first = 0  # first frame of the shot the next transition would close
    for transition in transitions:
        if not 0 <= transition.start < transition.end < n:
            continue
        last, following = _sides(transition, first, n)
        # A shot lasts from its first frame's time to the time after its last frame: 13 frames at 25 fps are
        # 0.52 s (measuring to the last frame's own time made them 12 frames long).
        too_short = time_after(last) - float(times[first]) < min_shot_s - 1e-6
        if too_short or stop - float(times[following]) < min_shot_s - 1e-6:
            continue
        kept.append(transition)
        first = following
    shots: list[Shot] = []
    first, opened_by = 0, None
    for transition in kept:
        last, following = _sides(transition, first, n)
        shots.extend(_split(Shot(first, last, float(times[first]), time_after(last), opened_by), times, max_shot_s))
        first, opened_by = following, transition.kind
    shots.extend(_split(Shot(first, n - 1, float(times[first]), stop, opened_by), times, max_shot_s))
    return shots


def _sides(transition: Transition, first: int, n: int) -> tuple[int, int]:
    """``(last frame of the shot it closes, first frame of the shot it opens)``; gradual frames go to neither."""
    if transition.kind is TransitionKind.CUT:
        return transition.start, transition.end
    return max(transition.start - 1, first), min(transition.end + 1, n - 1)


def _split(shot: Shot, times: np.ndarray, max_shot_s: float) -> list[Shot]:
    """``shot`` cut into equal-duration parts of at most ``max_shot_s`` (each with at least one frame)."""
    duration = shot.end_s - shot.start_s
    if max_shot_s <= 0 or duration <= max_shot_s:
        return [shot]
    parts = math.ceil(duration / max_shot_s)
    bounds = [shot.start_s + duration * k / parts for k in range(parts + 1)]
    firsts = [shot.first] + [
        int(np.clip(np.searchsorted(times, b), shot.first, shot.last)) for b in bounds[1:-1]
    ]  # fmt: skip
    result: list[Shot] = []
    for k, first in enumerate(firsts):
        last = firsts[k + 1] - 1 if k + 1 < len(firsts) else shot.last
        if last < first:
            continue
        start_s = shot.start_s if k == 0 else float(times[first])
        end_s = shot.end_s if k + 1 == len(firsts) else float(times[last + 1])
        result.append(Shot(first, last, start_s, end_s, shot.opened_by if k == 0 else None))
    return result
