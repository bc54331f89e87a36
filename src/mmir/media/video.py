"""Safe, streaming video decoding with PyAV: frames at a reduced analysis rate and size, times from PTS.

What the reader guarantees:

* **Times come from presentation timestamps** (``pts * time_base``), relative to the stream start, never from
  frame counts, so variable-frame-rate files get true times. Missing timestamps are filled from the previous
  frame plus one nominal frame period; timestamps that go backwards are repaired the same way (and counted).
* **Rotation metadata** (the display matrix phones write) is applied, so frames come out upright.
* **Two reduced outputs per kept frame**: a tiny ``small`` frame (default 48x27, what TransNetV2 and the
  histogram detectors need) at up to ``analysis_fps``, and a larger ``image`` (shorter side ``image_side``) at
  up to ``image_fps`` for keyframes and per-frame descriptors. FFmpeg scales (libswscale); nothing is decoded
  to full-size RGB.
* **Bounded memory**: :meth:`VideoReader.frames` is a generator holding one decoded frame at a time. The Python
  side holds at most one ``small`` (``3 * W * H`` bytes) and one ``image`` (``3 * side * side * aspect``) per
  step, independent of the video's length; FFmpeg's decoder additionally keeps its reference frames and one
  frame per decoding thread, i.e. about ``(16 + threads) * width * height * 1.5`` bytes for 8-bit 4:2:0
  (about 290 MB for 4K, 36 MB for 720p), also independent of the length.
* **Bad input** is a :class:`~mmir.media.errors.MediaError` naming the file and the reason; a video that stops
  decoding part-way keeps the frames read so far and sets :attr:`VideoReader.problem` to say so.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, replace
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np

from mmir.errors import require
from mmir.media._fs import os_error_reason, stat_regular_file
from mmir.media.errors import CorruptMediaError, EmptyMediaError, MediaError, TooLargeMediaError, UnreadableMediaError
from mmir.media.packet_skip import NearCuts, near_cut_filter
from mmir.media.video_frames import FrameScaler, declared_duration, frame_rotation, stream_rotation
from mmir.media.video_frames import ffmpeg_reason as _ffmpeg_reason

if TYPE_CHECKING:
    import av.container


class NoVideoStreamError(MediaError):
    """The file has no video stream (e.g. audio only)."""


class EmptyVideoError(CorruptMediaError):
    """The file has a video stream but not one decodable frame."""


@dataclass(frozen=True)
class VideoLimits:
    """Bounds that keep decoding of hostile or broken files cheap.

    Attributes:
        max_side: Largest coded width or height accepted.
        max_pixels: Largest ``width * height`` accepted (8K UHD is 33 Mpx).
        max_duration_s: Longest declared duration accepted; decoding also stops there.
        max_bad_packets: Consecutive undecodable packets after which decoding gives up (partial result).
    """

    max_side: int = 16_384
    max_pixels: int = 40_000_000
    max_duration_s: float = 48 * 3600.0
    max_bad_packets: int = 50


@dataclass(frozen=True)
class DecodeOptions:
    """What to decode and at which reduced rate and size.

    Attributes:
        analysis_fps: Largest rate of ``small`` frames (shot detection); the native rate if lower.
        small_size: ``(width, height)`` of ``small`` frames.
        image_fps: Largest rate of ``image`` frames (keyframe candidates, per-frame descriptors); 0 for none.
        image_side: Shorter side of ``image`` frames in pixels.
        threads: FFmpeg decoding threads (frame + slice threading).
        skip_nonref_above_fps: Above this nominal frame rate, frames no other frame references (B-frames of
            most H.264/HEVC streams) are not decoded at all (``skip_frame = NONREF``): decoding is the costliest
            step, and at 50/60 fps the detector still sees about 25 frames a second. ``0`` skips them at any
            rate, ``math.inf`` never. Times still come from each decoded frame's own timestamp.
        skip_loop_filter: Skip the in-loop deblocking filter (``skip_loop_filter = all``): decoding costs about
            20 % less, but the images drift from the true pictures within a GOP (measured on 720p H.264:
            descriptors at cosine 0.993 on average, 0.976 at worst, top-1 concept unchanged for 93 %), so it is
            off by default.
        nonref_near_cuts: Up to ``skip_nonref_above_fps``, decode non-reference frames only near likely cuts
            (H.264; :mod:`mmir.media.packet_skip`), for shot detection alone; ``None`` decodes them all.
    """

    analysis_fps: float = 25.0
    small_size: tuple[int, int] = (48, 27)
    image_fps: float = 2.0
    image_side: int = 224
    threads: int = 2
    skip_nonref_above_fps: float = 30.0
    skip_loop_filter: bool = False
    nonref_near_cuts: NearCuts | None = None


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about the video stream (display orientation).

    Attributes:
        path: The file.
        container: Demuxer name, e.g. ``"mov,mp4,m4a,3gp,3g2,mj2"``.
        codec: Codec name, e.g. ``"h264"``.
        width: Display width in pixels (after rotation).
        height: Display height in pixels (after rotation).
        rotation: Counter-clockwise rotation in degrees declared by the container (0, 90, 180, 270); frames are
            turned upright from their own display matrix, which FFmpeg attaches to each decoded frame.
        fps: Average frame rate (nominal; frame times still come from timestamps).
        duration_s: Declared duration in seconds (0 when unknown).
    """

    path: str
    container: str
    codec: str
    width: int
    height: int
    rotation: int
    fps: float
    duration_s: float


@dataclass(frozen=True)
class AnalysisFrame:
    """One kept frame.

    Attributes:
        index: Position among the kept ``small`` frames (0, 1, 2, ...).
        time_s: Presentation time in seconds from the start of the stream.
        small: ``uint8[h, w, 3]`` RGB at ``DecodeOptions.small_size``.
        image: ``uint8[H, W, 3]`` RGB with shorter side ``image_side``, or ``None`` between image samples.
    """

    index: int
    time_s: float
    small: np.ndarray
    image: np.ndarray | None


def _av() -> Any:
    return require("av", "video")


class VideoReader:
    """Opens a video, checks it against :class:`VideoLimits` and streams :class:`AnalysisFrame` objects.

    Args:
        path: The video file.
        options: Analysis rate and sizes.
        limits: Bounds on dimensions, duration and corruption.

    Raises:
        UnreadableMediaError, EmptyMediaError: the file cannot be read or has zero bytes.
        CorruptMediaError: not a container FFmpeg can open, or its stream has impossible dimensions.
        NoVideoStreamError: no video stream.
        TooLargeMediaError: dimensions or declared duration beyond ``limits``.
    """

    def __init__(self, path: str | os.PathLike[str], options: DecodeOptions = DecodeOptions(),
                 limits: VideoLimits = VideoLimits()) -> None:  # fmt: skip
        self.path = os.fspath(path)
        self.options = options
        self.limits = limits
        self.problem: str | None = None
        self.repaired_timestamps = 0
        self.bad_packets = 0
        self.last_time_s = 0.0
        self._container = self._open()
        try:
            self.info = self._inspect()
            self._scaler = FrameScaler(self.info.rotation)
        except BaseException:
            self._container.close()
            raise

    def _open(self) -> av.container.InputContainer:
        av = _av()
        try:
            if stat_regular_file(self.path).st_size == 0:
                raise EmptyMediaError(self.path, "zero-byte file")
        except OSError as exc:  # stat_regular_file raises MediaError for the usual cases
            raise UnreadableMediaError(self.path, os_error_reason(exc)) from exc
        try:
            return av.open(self.path, mode="r", metadata_errors="ignore")
        except av.error.PermissionError as exc:
            raise UnreadableMediaError(self.path, "permission denied") from exc
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            raise CorruptMediaError(self.path, f"not a video FFmpeg can open ({_ffmpeg_reason(exc)})") from exc

    def _inspect(self) -> VideoInfo:
        container = self._container
        if not container.streams.video:
            kinds = sorted({stream.type for stream in container.streams})
            found = ", ".join(kinds) if kinds else "no streams"
            raise NoVideoStreamError(self.path, f"no video stream ({found})")
        stream = container.streams.video[0]
        ctx = stream.codec_context
        width, height = int(ctx.width or 0), int(ctx.height or 0)
        if width <= 0 or height <= 0:
            raise CorruptMediaError(self.path, f"video stream has an empty size {width}x{height}")
        if max(width, height) > self.limits.max_side or width * height > self.limits.max_pixels:
            raise TooLargeMediaError(self.path, f"video is {width}x{height}, over the limit of "
                                     f"{self.limits.max_pixels} pixels or {self.limits.max_side} per side")  # fmt: skip
        duration = declared_duration(container, stream)
        if duration > self.limits.max_duration_s:
            raise TooLargeMediaError(self.path, f"declared duration {duration:.0f} s is over the limit of "
                                     f"{self.limits.max_duration_s:.0f} s")  # fmt: skip
        rotation = stream_rotation(stream)
        if rotation in (90, 270):
            width, height = height, width
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 0.0
        fps = fps if 0.0 < fps < 1000.0 else 25.0  # broken headers: a plausible period to fill gaps with
        return VideoInfo(self.path, container.format.name, ctx.name, width, height, rotation, fps, duration)

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:  # fmt: skip
        self.close()

    def close(self) -> None:
        """Release the container."""
        self._container.close()

    def frames(self) -> Iterator[AnalysisFrame]:
        """Decode the stream once, yielding kept frames in presentation order.

        Raises:
            EmptyVideoError: not one frame could be decoded (the error names the reason).
        """
        opts = self.options
        step_small = 1.0 / opts.analysis_fps
        step_image = 1.0 / opts.image_fps if opts.image_fps > 0 else math.inf
        next_small, next_image, index = -math.inf, 0.0, 0
        for frame, time_s in self._timed_frames():
            if index == 0:
                self._learn_rotation(frame)
            if time_s + 1e-6 < next_small:
                continue
            # Sample on a grid (not "last + step") so that jitter in VFR timestamps does not drift the rate.
            next_small = (math.floor(time_s / step_small + 1e-6) + 1) * step_small
            image = None
            if time_s + 1e-6 >= next_image:
                image = self._to_rgb(frame, self.options.image_side)  # read live: callers may raise it
                next_image = (math.floor(time_s / step_image + 1e-6) + 1) * step_image
            yield AnalysisFrame(index, time_s, self._small(frame), image)
            index += 1
        if index == 0:
            raise EmptyVideoError(self.path, f"no decodable video frames ({self.problem or 'empty stream'})")

    def frame_at(self, time_s: float, side: int) -> np.ndarray:
        """``uint8[H, W, 3]`` upright RGB (shorter side ``side``) of the frame shown at ``time_s`` (e.g. a keyframe).

        Seeks to the preceding key frame and decodes from there, so the cost does not grow with ``time_s``.

        Raises:
            CorruptMediaError: the stream cannot seek there, or (EmptyVideoError) no frame decodes from there on.
        """
        stream = self._container.streams.video[0]
        base = stream.time_base
        origin = float(stream.start_time * base) if stream.start_time is not None and base else 0.0
        if base:
            try:
                self._container.seek(int((origin + max(time_s, 0.0)) / base), stream=stream, backward=True)
            except (_av().error.FFmpegError, OSError) as exc:
                raise CorruptMediaError(self.path, f"cannot seek to {time_s:.2f} s ({_ffmpeg_reason(exc)})") from exc
        last = None
        for frame in self._decoded():
            last = frame
            shown = float(frame.pts * base) - origin if frame.pts is not None and base else math.inf
            if shown >= time_s - 0.5 / self.info.fps:  # the first frame on screen at time_s
                break
        if last is None:
            raise EmptyVideoError(self.path, f"no decodable video frame at {time_s:.2f} s")
        return self._to_rgb(last, side)

    def read_rotation(self) -> VideoInfo:
        """Decode the first frame to learn the display rotation the container did not expose; returns ``info``.

        Newer PyAV versions give the display matrix only on decoded frames, so :attr:`info` says 0 until a
        frame is seen (:meth:`frames` updates it on its first frame too). Reads the stream from the start.
        """
        av = _av()
        try:
            for frame in self._container.decode(video=0):
                self._learn_rotation(frame)
                break
        except (av.error.FFmpegError, ValueError):
            pass  # an undecodable first frame: the declared orientation stands; frames() reports the problem
        self._container.seek(0)
        return self.info

    def _learn_rotation(self, frame: Any) -> None:
        """Take the frame's display rotation into :attr:`info` (width and height in display orientation)."""
        rotation = frame_rotation(frame, self.info.rotation)
        self._scaler.rotation = rotation
        if rotation != self.info.rotation:
            turned = (rotation in (90, 270)) != (self.info.rotation in (90, 270))
            width, height = (self.info.height, self.info.width) if turned else (self.info.width, self.info.height)
            self.info = replace(self.info, rotation=rotation, width=width, height=height)

    def _timed_frames(self) -> Iterator[tuple[Any, float]]:
        """Decoded frames with repaired, monotonic times relative to the stream start."""
        stream = self._container.streams.video[0]
        origin: float | None = float(stream.start_time * stream.time_base) if stream.start_time is not None \
            and stream.time_base is not None else None  # fmt: skip
        period = 1.0 / self.info.fps
        previous = -math.inf
        for frame in self._decoded(near_cuts=self.options.nonref_near_cuts):
            raw = float(frame.pts * frame.time_base) if frame.pts is not None and frame.time_base else None
            if origin is None:
                origin = raw if raw is not None else 0.0
            time_s = raw - origin if raw is not None else -math.inf
            if time_s <= previous or not math.isfinite(time_s):
                self.repaired_timestamps += previous != -math.inf or raw is None
                time_s = max(previous + period, 0.0) if previous != -math.inf else max(time_s, 0.0)
            previous = time_s
            self.last_time_s = time_s
            if time_s > self.limits.max_duration_s:
                self.problem = f"stopped at the duration limit of {self.limits.max_duration_s:.0f} s"
                return
            yield frame, time_s
        self._check_complete()

    def _decoded(self, near_cuts: NearCuts | None = None) -> Iterator[Any]:
        """Frames of the video stream (non-reference ones only ``near_cuts`` if given; never for a seek); corrupt
        packets are skipped, many in a row end decoding (partial)."""
        av = _av()
        stream = self._container.streams.video[0]
        stream.thread_type = "AUTO"  # frame + slice threads: the decode is the costliest step at 720p
        stream.codec_context.thread_count = self.options.threads
        skip_all = self.info.fps > self.options.skip_nonref_above_fps
        if skip_all:
            stream.codec_context.skip_frame = "NONREF"
        if self.options.skip_loop_filter:
            stream.codec_context.options = {"skip_loop_filter": "all"}  # read when the decoder opens (first packet)
        in_a_row = 0
        packets = self._container.demux(stream)
        near = None if skip_all else near_cut_filter(stream, near_cuts, self.info.fps)
        packets = near.packets(packets) if near is not None else packets
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                return
            except (av.error.FFmpegError, OSError) as exc:  # the demuxer gave up: truncated or garbled container
                self.problem = f"stopped reading at {self.last_time_s:.2f} s: {_ffmpeg_reason(exc)}"
                yield from self._drain(stream)
                return
            try:
                decoded = packet.decode()
            except (av.error.FFmpegError, ValueError) as exc:
                self.bad_packets += 1
                in_a_row += 1
                if in_a_row >= self.limits.max_bad_packets:
                    self.problem = f"stopped at {self.last_time_s:.2f} s after {in_a_row} corrupt packets " \
                        f"({_ffmpeg_reason(exc)})"  # fmt: skip
                    return
                continue
            in_a_row = 0
            for frame in decoded:
                self.bad_packets += bool(frame.is_corrupt)  # decoded with concealed errors
                yield frame

    def _drain(self, stream: Any) -> Iterator[Any]:
        av = _av()
        try:
            yield from stream.codec_context.decode(None)
        except (av.error.FFmpegError, ValueError):
            return

    def _check_complete(self) -> None:
        declared = self.info.duration_s
        if self.problem is None and declared > 2.0 and self.last_time_s < 0.9 * declared - 1.0:
            self.problem = f"truncated: decoded {self.last_time_s:.2f} s of the declared {declared:.2f} s"
        if self.problem is None and self.bad_packets:
            self.problem = f"skipped or concealed {self.bad_packets} corrupt packets"

    def _small(self, frame: Any) -> np.ndarray:
        return self._scaler.rgb(frame, *self.options.small_size)

    def _to_rgb(self, frame: Any, side: int) -> np.ndarray:
        return self._scaler.upright(frame, side)


def iter_frames(path: str | os.PathLike[str], options: DecodeOptions = DecodeOptions(),
                limits: VideoLimits = VideoLimits()) -> Iterator[AnalysisFrame]:  # fmt: skip
    """Convenience generator over :meth:`VideoReader.frames` (the partial-decode note is lost; use the class)."""
    with VideoReader(path, options, limits) as reader:
        yield from reader.frames()


def probe(path: str | os.PathLike[str], limits: VideoLimits = VideoLimits()) -> VideoInfo:
    """Open and check a video; only its first frame is decoded (for the display rotation)."""
    with VideoReader(path, limits=limits) as reader:
        return reader.read_rotation()
