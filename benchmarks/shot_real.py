"""Shot boundaries on real edited footage annotated by eye (``shot_annotations.json`` beside this file).

Every detector runs on whole source files; each annotated part (a clip or a stretch of one) is scored on its own
frames: cuts within 2 frames, gradual transitions by overlap (TRECVID's rule). Detections are mapped to source
frame numbers through their presentation times, so a detector fed fewer frames (non-reference frames skipped, as
the product does above 30 fps) is scored on the same frame numbers. The product's rows are the boundaries of the
shots ``mmir shots`` reports (after its minimum-shot rule, as PySceneDetect's include its ``min_scene_len``).
Thresholds are chosen on the validation half; the figures are the test half's. PySceneDetect runs as a user runs
it (``scenedetect.detect(path, AdaptiveDetector())``, OpenCV decoding every frame at full size); TransNetV2 is fed
every frame at 48x27 as its authors do.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from mmir.evaluate.shot_boundaries import BoundaryScores, score_transitions
from mmir.indexing.video import VideoIndexOptions
from mmir.media.packet_skip import NearCuts
from mmir.media.shot_detectors import SceneDetectDetector, SceneDetectKind, TransNetV2Detector
from mmir.media.shot_windows import ChunkedDetector
from mmir.media.shots import (
    FastDetector,
    Shot,
    ShotDetector,
    Transition,
    TransitionKind,
    shots_from_transitions,
)
from mmir.media.video import DecodeOptions, VideoReader

ANNOTATIONS = Path(__file__).with_name("shot_annotations.json")
SITE = Path(np.__file__).parents[1]
EVERY_FRAME = DecodeOptions(analysis_fps=1000.0, image_fps=0.0, skip_nonref_above_fps=math.inf)
EVERY_UP_TO_30 = VideoIndexOptions(shots_near_cuts=None).decode_options(images=False)  # `mmir shots` before
NONREF = replace(EVERY_UP_TO_30, skip_nonref_above_fps=0.0)  # the default before that


@dataclass(frozen=True)
class Part:
    """One annotated stretch of a source file."""

    id: str
    path: str
    first: int
    last: int
    split: str
    truth: tuple[Transition, ...]


@dataclass(frozen=True)
class Source:
    """A decoded source file: every frame (48x27) with its times, and what the product decodes."""

    path: str
    frames: np.ndarray
    times: np.ndarray
    product_frames: np.ndarray
    product_times: np.ndarray
    nonref_frames: np.ndarray  # non-reference frames skipped (the default before every frame was decoded)
    nonref_times: np.ndarray
    before_frames: np.ndarray  # every frame up to 30 fps (`mmir shots` before non-reference frames near cuts)
    before_times: np.ndarray
    numbered: np.ndarray  # the time of each annotated frame number


def resolve(source: str) -> str:
    """The file an annotation's ``source`` names."""
    where = source.split(": ", 1)[1]
    if where.startswith("/"):
        return where
    if where.startswith("site-packages/"):
        return str(SITE / where.removeprefix("site-packages/"))
    return str(SITE / where)


def load_parts() -> list[Part]:
    """Annotated parts whose source file exists here."""
    parts = []
    for clip in json.loads(ANNOTATIONS.read_text())["clips"]:
        path = resolve(clip["source"])
        if not os.path.exists(path):
            print(f"missing source for {clip['id']}: {path} (skipped)")
            continue
        truth = [Transition(c - 1, c, TransitionKind.CUT) for c in clip["cuts"]]
        truth += [Transition(a, b, TransitionKind.GRADUAL) for a, b in clip["gradual"]]
        parts.append(Part(clip["id"], path, clip["frames"][0], clip["frames"][1], clip["split"], tuple(truth)))
    return parts


def annotated_times(path: str) -> np.ndarray:
    """Presentation time of each frame in decoding output order: the frame numbers of the annotations.

    The annotations number frames as PyAV outputs them; for a file with disordered timestamps (Megamind_bugy)
    these times are not sorted, and a detection maps to the frame whose own time is nearest.
    """
    import av

    with av.open(path) as container:
        stream = container.streams.video[0]
        base = stream.time_base
        origin = float(stream.start_time * base) if stream.start_time is not None and base else 0.0
        times = [float(f.pts * f.time_base) - origin if f.pts is not None and f.time_base else np.nan
                 for f in container.decode(stream)]  # fmt: skip
    return np.nan_to_num(np.asarray(times), nan=-1.0)


def decode(path: str) -> Source:
    """Every frame at 48x27, and the frames ``mmir shots`` decodes (its default decoder settings)."""
    with VideoReader(path, EVERY_FRAME) as reader:
        every = list(reader.frames())
    with VideoReader(path, VideoIndexOptions().decode_options(images=False)) as reader:
        product = list(reader.frames())
    with VideoReader(path, NONREF) as reader:
        nonref = list(reader.frames())
    with VideoReader(path, EVERY_UP_TO_30) as reader:
        before = list(reader.frames())
    return Source(path, np.stack([f.small for f in every]), np.array([f.time_s for f in every]),
                  np.stack([f.small for f in product]), np.array([f.time_s for f in product]),
                  np.stack([f.small for f in nonref]), np.array([f.time_s for f in nonref]),
                  np.stack([f.small for f in before]), np.array([f.time_s for f in before]),
                  annotated_times(path))  # fmt: skip


def to_frames(found: list[Transition], times: np.ndarray, all_times: np.ndarray) -> list[Transition]:
    """Detections in the indices of the frames a detector saw → source frame numbers (nearest time).

    A cut is placed at the source frame of the first frame it saw of the new shot (where the shot starts).
    """

    def frame(index: int) -> int:
        return int(np.argmin(np.abs(all_times - times[index])))

    mapped = []
    for t in found:
        if t.kind is TransitionKind.CUT:
            new = frame(t.end)
            mapped.append(Transition(new - 1, new, t.kind))
        else:
            mapped.append(Transition(frame(t.start), frame(t.end), t.kind))
    return mapped


def score_parts(parts: list[Part], found: dict[str, list[Transition]]) -> BoundaryScores:
    """Sum of per-part scores; a detection belongs to the part holding its first frame (a cut: its new shot)."""
    total = score_transitions([], [])
    for part in parts:
        mine = [t for t in found[part.path] if part.first <= (t.end if t.kind is TransitionKind.CUT else t.start)
                <= part.last]  # fmt: skip
        total = total + score_transitions(list(part.truth), mine, tolerance=2)
    return total


def run_product(detector: ShotDetector, sources: dict[str, Source], every_frame: bool = False, nonref: bool = False,
                raw: bool = False, before: bool = False) -> dict[str, list[Transition]]:  # fmt: skip
    """The detector over each source in the product's detection windows (fed what ``mmir shots`` decodes, or
    every frame, or the frames left when non-reference ones are skipped, or every frame up to 30 fps).

    Scored as ``mmir shots`` reports them: the boundaries of its shots, after the minimum-shot rule
    (:func:`~mmir.media.shots.shots_from_transitions`; PySceneDetect's rows likewise include its own
    ``min_scene_len``); ``raw`` scores the detector's transitions before that rule.
    """
    options = VideoIndexOptions()
    out = {}
    for path, src in sources.items():
        frames, times = (src.frames, src.times) if every_frame else (src.product_frames, src.product_times)
        if nonref:
            frames, times = src.nonref_frames, src.nonref_times
        if before:
            frames, times = src.before_frames, src.before_times
        chunked = ChunkedDetector(detector, options.chunk_frames, options.context)
        for small, t in zip(frames, times, strict=True):
            chunked.push(small, float(t))
        found = chunked.finish()
        if not raw:
            found = boundaries(shots_from_transitions(found, times, min_shot_s=options.min_shot_s, max_shot_s=0))
        out[path] = to_frames(found, times, src.numbered)
    return out


def boundaries(shots: list[Shot]) -> list[Transition]:
    """The transitions between consecutive shots (a gradual one spans the frames in neither shot)."""
    found = []
    for before, after in itertools.pairwise(shots):
        if after.opened_by is TransitionKind.CUT:
            found.append(Transition(before.last, after.first, TransitionKind.CUT))
        elif after.opened_by is TransitionKind.GRADUAL:
            found.append(Transition(before.last + 1, after.first - 1, TransitionKind.GRADUAL))
    return found


def run_scenedetect(kind: str, sources: dict[str, Source]) -> dict[str, list[Transition]]:
    """PySceneDetect as a user calls it: ``detect(path, AdaptiveDetector())`` with its defaults."""
    import scenedetect

    cls = {"adaptive": scenedetect.AdaptiveDetector, "content": scenedetect.ContentDetector}[kind]
    out = {}
    for path in sources:
        scenes = scenedetect.detect(path, cls())
        out[path] = [Transition(s.frame_num - 1, s.frame_num, TransitionKind.CUT) for s, _ in scenes[1:]]
    return out


def row(name: str, scores: BoundaryScores, extra: str = "") -> None:
    c, g = scores.cuts, scores.gradual
    print(f"  {name:46s} cuts P {c.precision:.3f} R {c.recall:.3f} F1 {c.f1:.3f} ({c.true_positives}/"
          f"{c.true_positives + c.false_negatives}, {c.false_positives} false) | gradual P {g.precision:.3f} "
          f"R {g.recall:.3f} F1 {g.f1:.3f} ({g.true_positives}/{g.true_positives + g.false_negatives}, "
          f"{g.false_positives} false){extra}")  # fmt: skip


FAST_GRID: list[dict[str, Any]] = [
    {"cut_floor": floor, "cut_ratio": ratio, "strong_cut": strong, "strong_ratio": sratio}
    for floor in (0.12, 0.16, 0.2)
    for ratio in (3.0, 4.0, 6.0)
    for strong in (0.2, 0.25, 0.3)
    for sratio in (2.0, 2.5, 3.0)
]  # fmt: skip


def tune_fast(val: list[Part], sources: dict[str, Source]) -> FastDetector:
    """Every grid row on the validation half (cut F1 + gradual F1; ties keep the defaults)."""
    print("validation half: mmir-fast settings tried (fed what `mmir shots` decodes)")
    best, best_key = FastDetector(), -1.0
    for settings in [{}, *FAST_GRID]:
        detector = replace(FastDetector(), **settings)
        scores = score_parts(val, run_product(detector, sources))
        row(", ".join(f"{k} {v}" for k, v in settings.items()) or "defaults", scores)
        key = scores.cuts.f1 + scores.gradual.f1
        if key > best_key + 1e-9:
            best, best_key = detector, key
    print(f"  chosen: {best}")
    return best


def tune_histogram(val: list[Part], sources: dict[str, Source]) -> SceneDetectDetector:
    """PySceneDetect's histogram detector through our adapter: its threshold on the validation half."""
    print("validation half: scenedetect-histogram thresholds tried (48x27 frames, every frame)")
    best, best_key = SceneDetectDetector(SceneDetectKind.HISTOGRAM), -1.0
    for threshold in (0.2, 0.1, 0.05, 0.02):
        detector = SceneDetectDetector(SceneDetectKind.HISTOGRAM, {"threshold": threshold})
        scores = score_parts(val, run_product(detector, sources, every_frame=True))
        row(f"threshold {threshold}", scores)
        if scores.cuts.f1 > best_key:
            best, best_key = detector, scores.cuts.f1
    print(f"  chosen: {best}")
    return best


def decoding_rows() -> dict[str, DecodeOptions]:
    """Decoder settings for `mmir shots` tried on the validation half: where non-reference frames are decoded
    (all, none, or within ``window`` frames of a likely cut by the packets' slice types and sizes) and whether the
    loop filter runs."""
    every = VideoIndexOptions().decoding
    rows = {"every frame": every, "non-ref skipped": replace(every, skip_nonref_above_fps=0.0),
            "every frame, no loop filter": replace(every, skip_loop_filter=True)}  # fmt: skip
    for window in (2, 4, 7, 10):
        for spike in (1.5, 2.0, 3.0, math.inf):
            near = NearCuts(window, spike)
            rows[f"near cuts: window {window}, spike {spike}"] = replace(every, nonref_near_cuts=near)
    for window in (4, 7):
        rows[f"near cuts: window {window}, spike 2.0, no loop filter"] = replace(
            every, nonref_near_cuts=NearCuts(window, 2.0), skip_loop_filter=True
        )
    return rows


def tune_decoding(val: list[Part], sources: dict[str, Source]) -> None:
    """The default detector on the validation half, fed what each decoder setting gives (with the share of frames)."""
    print("validation half: decoder settings for `mmir shots` (mmir-fast defaults; frames decoded / every frame)")
    files = {p.path for p in val}
    for label, decoding in decoding_rows().items():
        swapped, kept, total = {}, 0, 0
        decoding = replace(decoding, analysis_fps=VideoIndexOptions().analysis_fps, image_fps=0.0)
        for path in files:
            with VideoReader(path, decoding) as reader:
                frames = list(reader.frames())
            swapped[path] = replace(sources[path], product_frames=np.stack([f.small for f in frames]),
                                    product_times=np.array([f.time_s for f in frames]))  # fmt: skip
            kept, total = kept + len(frames), total + len(sources[path].times)
        row(label, score_parts(val, run_product(FastDetector(), swapped)), f" | {kept / total:.2f} of frames")


def main(speed: bool, transnet: bool, decoding_only: bool = False) -> None:
    """Validation tuning, then the test half's rows, then the speed of ``mmir shots`` on 720p H.264."""
    parts = load_parts()
    started = time.perf_counter()
    sources = {p.path: decode(p.path) for p in {part.path: part for part in parts}.values()}
    val = [p for p in parts if p.split == "validation"]
    test = [p for p in parts if p.split == "test"]
    count = {name: sum(len(p.truth) for p in half) for name, half in (("validation", val), ("test", test))}
    print(f"real footage: {len(sources)} files decoded in {time.perf_counter() - started:.0f} s; {count}")
    tune_decoding(val, sources)
    if decoding_only:
        return
    fast = tune_fast(val, sources)
    histogram = tune_histogram(val, sources)
    duration = sum(float(src.times[-1]) for src in sources.values())
    runs = {
        "mmir-fast, defaults (as `mmir shots` decodes)": lambda: run_product(FastDetector(), sources),
        "mmir-fast defaults, transitions before min-shot": lambda: run_product(FastDetector(), sources, raw=True),
        "mmir-fast defaults, every frame <= 30 fps (before)": lambda: run_product(FastDetector(), sources, before=True),
        "mmir-fast defaults, non-ref frames skipped": lambda: run_product(FastDetector(), sources, nonref=True),
        "mmir-fast, chosen on validation": lambda: run_product(fast, sources),
        "mmir-fast chosen, every frame decoded": lambda: run_product(fast, sources, every_frame=True),
        "mmir-fast chosen, non-ref frames skipped (old)": lambda: run_product(fast, sources, nonref=True),
        "pyscenedetect detect-adaptive (user API)": lambda: run_scenedetect("adaptive", sources),
        "pyscenedetect detect-content (user API)": lambda: run_scenedetect("content", sources),
        f"scenedetect-histogram adapter {histogram.options}": lambda: run_product(histogram, sources, True),
    }
    if transnet:
        runs["transnetv2 (every frame, CPU)"] = lambda: run_product(TransNetV2Detector(), sources, True)
    rows = []
    print(
        f"\ndetection time over {duration:.0f} s of footage (decoding excluded except for PySceneDetect, which "
        f"decodes full-size frames itself); load average {os.getloadavg()[0]:.1f}"
    )
    for label, run in runs.items():
        started = time.perf_counter()
        rows.append((label, run()))
        seconds = time.perf_counter() - started
        print(f"  {label:46s} {seconds:6.1f} s = {duration / seconds:6.1f}x real time")
    for name, half in (("validation", val), ("test", test)):
        print(f"\n{name} half: {len(half)} parts, {count[name]} true transitions; cuts ±2 frames, gradual by overlap")
        for label, found in rows:
            row(label, score_parts(half, found))
    if speed:
        from shot_speed import speed_rows

        speed_rows(next(p.path for p in parts if p.id.startswith("rick")), fast)
