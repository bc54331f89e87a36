"""Types of the indexing pipeline: its options, report and problems, and its extension points.

* :class:`MediaHandler` — turns a file of another kind (video) into segments; images are handled by the
  pipeline itself, batched. A handler is listed in :func:`default_handlers` (one line) or passed in
  :attr:`mmir.indexing.pipeline.IndexOptions.handlers`.
* :class:`ChannelExtractor` + :class:`ChannelSink` — extra descriptors computed from the already decoded
  image in the same pass (no second decode), handed to a sink that stores them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from mmir.media import ImageLimits

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

    from mmir.index.catalog import SegmentEncoding
    from mmir.models.encoder import Encoder
    from mmir.types import MediaKind


EncoderSource = Callable[[], "Encoder"]
"""Returns the encoder, loading it on the first call (thread-safe); call it only once a frame decoded."""


@runtime_checkable
class MediaHandler(Protocol):
    """Analyses one file of a kind the pipeline does not decode itself (e.g. a video) into segments.

    ``analyse`` runs in a pipeline worker thread; it may call ``encoder()`` (and then
    ``encode_batch``) from there. It must bound its own memory (e.g. decode frames at a reduced rate).
    """

    @property
    def kinds(self) -> frozenset[MediaKind]:
        """The media kinds it handles (a plain or frozen-dataclass attribute satisfies this)."""
        ...

    def analyse(
        self, path: str, data: bytes | None, encoder: EncoderSource, limits: ImageLimits
    ) -> Sequence[SegmentEncoding]:
        """The segments of ``path`` (each with start/end/keyframe seconds and its encodings).

        Args:
            path: The file.
            data: Its content, or ``None`` when the pipeline did not read it (large files: read by path).
            encoder: Loads the encoder on first call; call it only after something decoded, so that a
                broken file never loads the model.
            limits: The run's size limits.

        Raises:
            MediaError: The file cannot be used (one line naming it and the reason). Content errors are
                remembered until the file's size or mtime changes; ``UnreadableMediaError`` is retried.
        """
        ...


def default_handlers() -> tuple[MediaHandler, ...]:
    """The handlers every indexing run uses unless :class:`~mmir.indexing.pipeline.IndexOptions` says otherwise.

    A new media kind plugs in by adding its handler here (import it lazily inside this function).
    """
    from mmir.indexing.video import VideoHandler  # PyAV itself is imported only when a video is analysed

    return (VideoHandler(),)


@dataclass(frozen=True)
class IndexProblem:
    """A file that could not be indexed, and why."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass(frozen=True)
class IndexReport:
    """What an indexing run did.

    ``problems`` are this run's failures only; ``failed_before`` counts files skipped because they failed in an
    earlier run and did not change since (not retried unless :attr:`IndexOptions.retry_failed`).
    ``backfilled``: indexed files that got a missing producer's output (e.g. a new descriptor channel).
    ``thumbnails_backfilled``: indexed files that got their missing thumbnails and previews.
    """

    scanned: int
    added: int
    updated: int
    unchanged: int
    reused: int
    removed: int
    encoded: int
    problems: tuple[IndexProblem, ...]
    seconds: float
    failed_before: int = 0
    backfilled: int = 0
    thumbnails_backfilled: int = 0

    @property
    def images_per_second(self) -> float:
        """Files encoded per second of the whole run."""
        return self.encoded / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class IndexOptions:
    """Knobs of an indexing run.

    Attributes:
        batch_size: Images per encoder call; ``None`` takes the encoder's own ``batch_size`` (chosen for
            its backend), else 16.
        workers: Threads that read, hash, decode and preprocess.
        overlap: ``False`` reproduces the old sequential loop (read a chunk, decode it, encode it, store
            it, then the next chunk), for comparison in benchmarks.
        flush_every_s: Seconds between saves of the vector index.
        progress: Show a progress bar.
        limits: Size limits for files and images.
        handlers: Handlers for media kinds other than images (see :class:`MediaHandler`).
        channels: Extra descriptor channels computed from each decoded image (see :class:`ChannelExtractor`).
            Files already indexed without one of them get it back-filled (a decode pass, no encoder).
        retry_failed: Try again the files that failed before and did not change since (else only counted).
        on_progress: Called as ``on_progress(done, to_do)`` with the files of this run processed so far and the
            files this run has to process (new or changed), from the indexing thread (the web UI's progress).
        shot_detector: Shot detector for videos by ``mmir shots`` name (``fast``, ``transnetv2``, ...); ``None``
            keeps each handler's own (``fast``). Only video analysis depends on it.
        thumbnails: Keep card thumbnails and previews of photos and shot keyframes under the collection, made
            from the decode already done (:mod:`mmir.indexing.thumbnails`); files indexed without them get them
            back-filled (no encoder).
    """

    batch_size: int | None = None
    workers: int = 2
    overlap: bool = True
    flush_every_s: float = 30.0
    progress: bool = True
    limits: ImageLimits = field(default_factory=ImageLimits)
    handlers: tuple[MediaHandler, ...] = field(default_factory=default_handlers)
    channels: tuple[ChannelExtractor, ...] = ()
    retry_failed: bool = False
    on_progress: Callable[[int, int], None] | None = None
    shot_detector: str | None = None
    thumbnails: bool = True


def run_handlers(options: IndexOptions) -> tuple[MediaHandler, ...]:
    """``options.handlers`` with ``options.shot_detector`` given to those that detect shots."""
    if options.shot_detector is None:
        return options.handlers
    return tuple(
        handler.with_shot_detector(options.shot_detector) if hasattr(handler, "with_shot_detector") else handler
        for handler in options.handlers
    )


@runtime_checkable
class ChannelExtractor(Protocol):
    """Computes one extra descriptor channel from a decoded image, in the pipeline's worker threads.
    """

    @property
    def name(self) -> str:
        """The channel's name (unique within a run), e.g. ``"colour"``."""
        ...

    def extract(self, image: Image.Image) -> np.ndarray:
        """An upright RGB image (reduced-size decode: shorter side ≥ the encoder's ``input_side``, or the
        original size when smaller) → ``float32[K]``."""
        ...


@runtime_checkable
class ChannelSink(Protocol):
    """Stores extra channels; called from the pipeline's single writer thread, after the file's commit.

    A kill between a file's commit and ``store`` leaves that file without channels (it is unchanged on the
    next run); a sink that must be complete can list files without channels and ask for them again.
    """

    def store(self, media_id: int, vectors: Mapping[str, np.ndarray]) -> None:
        """Store the channels (``{name: float32[K]}``) of a file just indexed (replacing older ones)."""
        ...

    def copy(self, source_media_id: int, media_id: int) -> None:
        """A file was indexed as a copy of ``source_media_id`` (same content): copy its channels."""
        ...
