"""Videos → shot segments for the catalog: decode once, detect shots, pick keyframes, encode, aggregate.

One decoding pass (:class:`~mmir.media.video.VideoReader`) feeds two things at once:

* 48x27 frames at up to 25 fps to the shot detector, in windows of ``chunk_frames`` with ``context`` frames of
  overlap (a transition belongs to the window that holds its centre), so detection memory is bounded;
* candidate frames at ``image_fps`` (2/s) to the encoder in batches, on one worker thread so that decoding goes
  on meanwhile (at most one batch in flight); frames themselves are never accumulated.

Every frame is decoded up to 30 fps; above that, frames no other frame references (most B-frames) are not
decoded at all (``DecodeOptions.skip_nonref_above_fps``), which still leaves the detector 25-30 frames a second.
Skipping them at 25 fps doubled the motion between the frames the detector compares and cost a tenth of the cuts
on real footage (benchmarks/shot_detection.py --real); times come from each decoded frame's own timestamp.
Shots alone (``mmir shots``) decode non-reference H.264 frames only near packets that look like cuts and skip
the loop filter (``VideoIndexOptions.shots_near_cuts``): the same cut F1 on the real validation half, for about
half the decoding CPU.
  Each candidate keeps its ``float16`` descriptor (2.5 KB; stored as the per-frame descriptors); its concepts
  and JPEG thumbnail (~6.5 KB more) are freed as soon as detection has closed its shot and it is not a keyframe.
  So memory is bounded by the detection window (``chunk_frames`` x 3.9 KB ≈ 6 MB) plus the open shot's
  candidates plus **~18 MB per hour of video** for the descriptors that go into the catalog anyway.

Each shot (long shots split at ``max_shot_s``, as VISIONE caps segments at ~16 s) becomes 1–3 catalog rows, one
per keyframe, sharing the shot's start/end: every keyframe's own descriptor goes into the vector index, so an
example image finds the exact shot. The rows carry the shot's concepts as the **maximum** over its keyframes:
a shot "contains" a concept if any of its keyframes shows it (a mean would halve a dog seen in one of two
keyframes); the per-keyframe rows still rank by their own evidence for query by example. Uniform keyframes
(black, white, flat) are avoided when the shot has other candidates and are flagged so that near-duplicate
detection leaves them out.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from mmir.errors import MissingExtraError
from mmir.index.catalog import SegmentEncoding
from mmir.index.frames import SegmentExtras
from mmir.indexing.thumbnails import Pictures
from mmir.indexing.video_candidates import (  # AnalysedShot and VideoAnalysis: re-exported
    AnalysedShot,  # noqa: F401
    BackgroundEncoder,
    Candidates,
    VideoAnalysis,
    assemble,
    prune_closed_shots,
)
from mmir.media import ImageLimits, UnreadableMediaError
from mmir.media.packet_skip import NearCuts
from mmir.media.shot_detectors import make_detector
from mmir.media.shot_windows import ChunkedDetector
from mmir.media.shots import (
    KeyframeStrategy,
    Shot,
    ShotDetector,
    needs_every_frame,
    shots_from_transitions,  # fmt: skip
)
from mmir.media.video import DecodeOptions, VideoInfo, VideoLimits, VideoReader
from mmir.types import MediaKind

log = logging.getLogger("mmir.video")

EncoderSource = Callable[[], object]


@dataclass(frozen=True)
class VideoIndexOptions:
    """How videos are analysed.

    Attributes:
        detector: Shot detector name (see :func:`mmir.media.shot_detectors.make_detector`).
        analysis_fps: Rate of the small frames the detector sees.
        image_fps: Rate of candidate frames that are encoded (keyframe choice, per-frame descriptors).
        min_shot_s: Shortest shot; closer transitions are dropped.
        max_shot_s: Longer shots are split into equal parts.
        max_keyframes: Keyframes per shot (one more for each ``keyframe_every_s`` beyond the first).
        keyframe_every_s: Shot duration per additional keyframe.
        strategy: How keyframes are chosen (the benchmark compares them).
        chunk_frames: Detection window (bounds detection memory: 3.9 KB per 48x27 frame).
        context: Overlap between detection windows, frames.
        thumbnail_side: Longer side of keyframe thumbnails (JPEG).
        batch_size: Candidate frames per encoder call.
        decoding: Decoder settings (threads, frame and loop-filter skipping); rates and sizes above win.
        pictures: Keep each keyframe's card and preview (:mod:`mmir.indexing.thumbnails`), made from the frame
            decoded for the encoder (JPEGs of ~25 KB per candidate, freed with the candidate's thumbnail).
        shots_near_cuts: For shots alone (``mmir shots``, no images): decode non-reference frames only near likely
            cuts (:mod:`mmir.media.packet_skip`) and skip the loop filter (``None``: decode as indexing does).
            The same cut F1 as every frame on the real validation half, for two thirds of the decoding.
    """

    detector: str = "fast"
    analysis_fps: float = 25.0
    image_fps: float = 2.0
    min_shot_s: float = 0.25  # 0.3-0.45 s shots are common in music videos and trailers
    max_shot_s: float = 16.0
    max_keyframes: int = 3
    keyframe_every_s: float = 6.0
    strategy: KeyframeStrategy = KeyframeStrategy.MEAN
    chunk_frames: int = 1500
    context: int = 50
    thumbnail_side: int = 160
    batch_size: int = 16
    # Every frame up to 30 fps (the reader's default): with non-reference frames skipped at 25 fps the fast
    # detector's cut F1 on real footage fell from 0.986 to 0.955 (its thresholds then; shot_detection.py --real).
    decoding: DecodeOptions = field(default_factory=DecodeOptions)
    pictures: bool = False
    shots_near_cuts: NearCuts | None = field(default_factory=NearCuts)

    def decode_options(self, image_side: int = 224, images: bool = True) -> DecodeOptions:
        """The reader's options: ``decoding`` with this analysis's rates and the encoder's input side."""
        options = replace(self.decoding, analysis_fps=self.analysis_fps, image_fps=self.image_fps if images else 0.0,
                          image_side=image_side)  # fmt: skip
        if images or self.shots_near_cuts is None:
            return options  # the encoder's pictures: every frame up to 30 fps, loop filter on
        return replace(options, nonref_near_cuts=self.shots_near_cuts, skip_loop_filter=True)


@dataclass(frozen=True)
class DetectedShots:
    """Shots of a video without encoding (``mmir shots``)."""

    shots: tuple[Shot, ...]
    frame_times: np.ndarray
    info: VideoInfo
    problem: str | None


def detect_shots(path: str, detector: ShotDetector, options: VideoIndexOptions = VideoIndexOptions(),
                 limits: VideoLimits = VideoLimits(), progress: bool = False) -> DetectedShots:  # fmt: skip
    """Decode ``path`` at the analysis rate (no images) and return its shots; ``progress``: a bar on stderr
    (seconds of video analysed; a model detector takes about a minute for a few minutes of video)."""
    from tqdm import tqdm

    chunked = ChunkedDetector(detector, options.chunk_frames, options.context)
    times: list[float] = []
    with VideoReader(path, _decoding(options.decode_options(images=False), detector), limits) as reader:
        total = round(reader.info.duration_s, 1) or None  # seconds of video (unknown: a counter, no bar)
        shape = "{l_bar}{bar}| {n:.0f}/{total:.0f} s [{elapsed}<{remaining}]" if total else None
        bar = tqdm(total=total, unit="s", desc="shots", disable=not progress, bar_format=shape)
        for frame in reader.frames():
            chunked.push(frame.small, frame.time_s)
            bar.update(max(0.0, frame.time_s - bar.n))
            times.append(frame.time_s)
        bar.update(max(0.0, (bar.total or 0.0) - bar.n))  # the last frame starts 1/fps before the end
        bar.close()
        problem, info = reader.problem, reader.info
        end_s = max(reader.last_time_s + 1.0 / info.fps, times[-1])
    stamps = np.asarray(times)
    shots = shots_from_transitions(chunked.finish(), stamps, min_shot_s=options.min_shot_s,
                                   max_shot_s=options.max_shot_s, end_s=end_s)  # fmt: skip
    return DetectedShots(tuple(shots), stamps, info, problem)


def analyse_video(
    path: str,
    encoder: EncoderSource,
    options: VideoIndexOptions = VideoIndexOptions(),
    limits: VideoLimits = VideoLimits(),
    detector: ShotDetector | None = None,
) -> VideoAnalysis:
    """Decode ``path`` once and return its shots, keyframes and encodings.

    Args:
        path: The video file.
        encoder: Returns the encoder (``preprocess``, ``encode_batch``, ``input_side``); called after the first
            frame decoded, so a broken file never loads the model.
        options: Analysis settings.
        limits: Decoding limits.
        detector: A detector to use instead of ``options.detector``.

    Raises:
        MediaError: the file cannot be decoded at all (partial decodes return with ``problem`` set).
    """
    detector = detector or make_detector(options.detector)
    chunked = ChunkedDetector(detector, options.chunk_frames, options.context)
    candidates = Candidates()
    pending: list[tuple[float, np.ndarray]] = []
    times: list[float] = []
    model = None
    with VideoReader(path, _decoding(options.decode_options(), detector), limits) as reader, \
            BackgroundEncoder(options) as background:  # fmt: skip
        for frame in reader.frames():
            if model is None:
                model = encoder()
                side = int(getattr(model, "input_side", 224))  # the encoder's size
                reader.options = _decoding(options.decode_options(side), detector)
            windows = chunked.windows
            chunked.push(frame.small, frame.time_s)
            times.append(frame.time_s)
            if frame.image is not None:
                pending.append((frame.time_s, frame.image))
            if len(pending) >= options.batch_size or (chunked.windows != windows and pending):
                background.submit(model, pending, candidates)
            if chunked.windows != windows:
                background.wait()  # pruning reads every candidate of the closed shots
                prune_closed_shots(chunked.found, np.asarray(times), candidates, options)
        if pending:
            background.submit(model, pending, candidates)
        background.wait()
        problem = reader.problem
        end_s = max(reader.last_time_s + 1.0 / reader.info.fps, times[-1] if times else 0.0)
    return assemble(chunked.finish(), np.asarray(times), end_s, candidates, options, problem)


def _decoding(decoding: DecodeOptions, detector: ShotDetector) -> DecodeOptions:
    """Decoder settings for ``detector``: one that must see every frame (TransNetV2) gets non-reference ones too."""
    every = replace(decoding, skip_nonref_above_fps=math.inf, nonref_near_cuts=None)
    return every if needs_every_frame(detector) else decoding


def to_segments(analysis: VideoAnalysis) -> list[SegmentEncoding]:
    """Catalog rows: one per keyframe; the shot's sampled frames hang off its first row."""
    rows = []
    for shot in analysis.shots:
        for rank, key in enumerate(shot.keyframes):
            members = list(shot.members) if rank == 0 else []
            extras = SegmentExtras(
                frame_times=analysis.candidate_times[members],
                frames=analysis.descriptors[members],
                thumbnail=analysis.thumbnails[key],
                blank=bool(analysis.blank[key]),
            )
            rows.append(SegmentEncoding(
                descriptor=analysis.descriptors[key], concepts=shot.concepts, start_s=shot.shot.start_s,
                end_s=shot.shot.end_s, keyframe_s=float(analysis.candidate_times[key]), extras=extras,
            ))  # fmt: skip
    return rows


@dataclass(frozen=True)
class VideoHandler:
    """The pipeline's handler for videos (:class:`mmir.indexing.types.MediaHandler`)."""

    options: VideoIndexOptions = field(default_factory=VideoIndexOptions)
    limits: VideoLimits = field(default_factory=VideoLimits)
    kinds: frozenset[MediaKind] = frozenset({MediaKind.VIDEO})

    def with_shot_detector(self, name: str) -> VideoHandler:
        """This handler with another shot detector (``IndexOptions.shot_detector``); the name is checked now."""
        make_detector(name)  # an unknown name fails before any file is read
        return replace(self, options=replace(self.options, detector=name))

    def analyse(self, path: str, data: bytes | None, encoder: EncoderSource,
                limits: ImageLimits) -> Sequence[SegmentEncoding]:  # fmt: skip
        """Shots of ``path`` as catalog rows; a partial decode is logged (one line) and its shots kept."""
        return to_segments(self._analysed(path, encoder, self.options))

    def analyse_with_pictures(
        self, path: str, data: bytes | None, encoder: EncoderSource, limits: ImageLimits,
        on_keyframe: Callable[[float, Pictures], None],
    ) -> Sequence[SegmentEncoding]:  # fmt: skip
        """:meth:`analyse`, handing each keyframe's pictures (with its time) to ``on_keyframe`` (same decode)."""
        analysis = self._analysed(path, encoder, replace(self.options, pictures=True))
        for shot in analysis.shots:
            for key in shot.keyframes:
                pictures = analysis.pictures[key] if key < len(analysis.pictures) else None
                if pictures is not None:
                    on_keyframe(float(analysis.candidate_times[key]), pictures)
        return to_segments(analysis)

    def _analysed(self, path: str, encoder: EncoderSource, options: VideoIndexOptions) -> VideoAnalysis:
        try:
            analysis = analyse_video(path, encoder, options, self.limits)
        except MissingExtraError as exc:  # reported per file and retried once PyAV is installed
            raise UnreadableMediaError(path, f"videos need PyAV: pip install 'mmir[{exc.extra}]'") from exc
        if analysis.problem:
            log.warning("%s: %s; kept %d shots", path, analysis.problem, len(analysis.shots))
        return analysis
