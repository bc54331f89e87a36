"""Pruning the candidates of closed shots while a video is analysed: same result, bounded work per window."""

from __future__ import annotations

import numpy as np
import pytest

from mmir.indexing import video_candidates as candidates_module
from mmir.indexing.video import VideoIndexOptions
from mmir.media.shots import Transition, TransitionKind


def _candidates(count: int, period_s: float) -> candidates_module.Candidates:
    rng = np.random.default_rng(0)
    cand = candidates_module.Candidates()
    for i in range(count):
        cand.times.append(i * period_s)
        cand.descriptors.append(rng.normal(size=8).astype(np.float32))
        cand.concepts.append(np.full(3, i, np.float32))
        cand.thumbnails.append(b"jpeg")
        cand.blank.append(i % 13 == 0)
    return cand


def _prune_in_windows(monkeypatch: pytest.MonkeyPatch, whole: bool) -> tuple[list[bool], list[int]]:
    """Prune a 20-minute synthetic video window by window; (which candidates kept concepts, windows' first index)."""
    fps, seconds = 25.0, 1200
    times = np.arange(int(fps * seconds)) / fps
    cand = _candidates(int(seconds * 2), 0.5)  # 2 candidates per second
    cuts = [Transition(f, f, TransitionKind.CUT) for f in range(100, len(times), 173)]  # a shot every ~7 s
    cuts += [Transition(f, f + 12, TransitionKind.GRADUAL) for f in range(5000, len(times), 4000)]
    cuts.sort(key=lambda t: t.start)
    firsts: list[int] = []
    first_candidate_at = candidates_module._first_candidate_at

    def recording(c: candidates_module.Candidates, start_s: float) -> int:
        firsts.append(0 if whole else first_candidate_at(c, start_s))
        return firsts[-1]

    monkeypatch.setattr(candidates_module, "_first_candidate_at", recording)
    options = VideoIndexOptions()
    for end in range(1500, len(times) + 1500, 1500):  # the detector's windows, as analysis closes them
        found = [t for t in cuts if t.end < end - options.context]
        candidates_module.prune_closed_shots(found, times[:end], cand, options)
    return [c is not None for c in cand.concepts], firsts


def test_windowed_pruning_keeps_what_pruning_over_every_candidate_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    windowed, firsts = _prune_in_windows(monkeypatch, whole=False)
    whole, _ = _prune_in_windows(monkeypatch, whole=True)
    assert windowed == whole
    assert 0 < sum(windowed) < len(windowed)  # some candidates pruned, keyframes kept
    # each window reads only its recent candidates: the first index read moves forward with the video
    assert firsts == sorted(firsts) and firsts[-1] > 2000
