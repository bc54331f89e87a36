"""The indexing pipeline: scan → read + hash → decode → encode → store, batched, overlapped and resumable.

Worker threads read, hash and decode files (JPEG draft mode at the encoder's input side) and preprocess
them into ``float32[3, S, S]`` arrays; the calling thread gathers those into batches and hands each batch to
the encoder without waiting for it, then stores the previous batch's files (in one committed SQLite
transaction) while the encoder runs and the workers decode the next files. At most ``4 * batch + workers``
files are in flight (two batches at the encoder, two decoded ahead), so memory does not grow with the number
of files.

An interrupted run keeps all finished work; the next run skips what is unchanged (size + mtime, then
content hash) and so resumes where the last one stopped. A file whose content cannot be decoded is
remembered (:func:`mmir.index.ledger.record_failure`) and skipped until its size or mtime changes
(:mod:`mmir.indexing.planning`). The model is loaded
only once some file has decoded, so a run over unchanged and broken files never loads it.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from mmir.index import ledger
from mmir.index.catalog import MediaRecord, SegmentEncoding
from mmir.indexing.batches import Batches, Prepared
from mmir.indexing.planning import detector_of, plan_run, remove_missing
from mmir.indexing.storing import Counts, FileWriter
from mmir.indexing.thumbnails import KeptPictures, decode_with_pictures
from mmir.indexing.types import ChannelExtractor, ChannelSink, IndexOptions, IndexProblem, IndexReport, run_handlers
from mmir.media import (
    FileEntry,
    MediaError,
    UnreadableMediaError,
    decode_for_model,
    decode_image,
    display_path,
    read_file,
    scan,
    sha1_bytes,
    sha1_file,
)
from mmir.types import MediaKind

if TYPE_CHECKING:
    from PIL import Image

    from mmir.index.store import SegmentStore
    from mmir.indexing.types import MediaHandler
    from mmir.media.metadata import MetadataText
    from mmir.models.encoder import Encoder

__all__ = ["IndexOptions", "IndexProblem", "IndexReport", "Indexer"]

_FIRST_BATCH = 4  # the encoder starts once 4 files decoded, not a whole batch (~50 ms of 3.5 s for 478 photos)
_PROBE_SIDE = 1  # a JPEG probe decode at 1/8 scale still entropy-decodes all data, so truncation shows


class Indexer:
    """Indexes files into a :class:`SegmentStore` with an encoder built on first need.

    Args:
        store: The collection's store (its writer lock should be held).
        encoder: Returns the encoder; called once, and only when some file has decoded.
        options: Batch size, workers, overlap, flush interval, progress bar, limits, handlers, channels.
        channel_sink: Receives the extra channels of each stored file (needed when ``options.channels``).
    """

    def __init__(
        self,
        store: SegmentStore,
        encoder: Callable[[], Encoder],
        options: IndexOptions,
        channel_sink: ChannelSink | None = None,
    ) -> None:
        if options.channels and channel_sink is None:
            raise ValueError("IndexOptions.channels needs a channel_sink to store them")
        self.store = store
        self._get_encoder = encoder
        self._encoder: Encoder | None = None
        self._encoder_lock = threading.Lock()
        self._probe_lock = threading.Lock()  # one probe decode at a time, and none once a file has decoded
        self._one_decoded = False
        self._db_lock = threading.Lock()  # one SQLite connection: worker reads never overlap a write
        self.options = options
        self._sink = channel_sink
        self._handlers = {kind: h for h in run_handlers(options) for kind in h.kinds}  # with the shot detector
        self._detectors = {kind: detector_of(h) for kind, h in self._handlers.items() if detector_of(h)}
        self._reanalyse: set[str] = set()  # unchanged videos whose shots another detector must find again
        self._links_out: frozenset[str] = frozenset()  # symbolic links out of a root, found by the last scan
        self._listings: dict[str, frozenset[str]] = {}  # folder -> its names, for sidecars
        self._pictures = KeptPictures(store.directory) if options.thumbnails else None
        self._writer = FileWriter(store, self._db_lock, channel_sink, self._pictures, options)

    def run(self, roots: Sequence[str], on_problem: Callable[[IndexProblem], None] | None = None) -> IndexReport:
        """Index every file below ``roots``; remove catalogued files that no longer exist there."""
        started = time.perf_counter()
        problems: list[IndexProblem] = []

        def report(problem: IndexProblem) -> None:
            problems.append(problem)
            if on_problem:
                on_problem(problem)

        entries = self._scan(roots, report)
        plan = plan_run(self.store, entries, self.options)
        self._writer.had_failed, self._reanalyse = plan.had_failed, plan.reanalyse
        seen = {entry.path for entry in entries}
        removed = remove_missing(self.store, roots, seen, self._links_out, self._pictures)
        counts = Counts()
        try:
            self._process(plan.pending, counts, report)
        finally:
            self.store.flush()
        from mmir.indexing.backfill import backfill_missing

        videos = any(hasattr(h, "analyse_with_pictures") for h in self._handlers.values())  # keyframe pictures
        backfilled, pictured = backfill_missing(
            self.store.catalog, entries, self.options, (self._sink, self._pictures, videos), self._input_side, report
        )
        return IndexReport(
            scanned=len(entries), added=counts.added, updated=counts.updated,
            unchanged=plan.unchanged + counts.touched, reused=counts.reused, removed=removed,
            encoded=counts.encoded, problems=tuple(problems), seconds=time.perf_counter() - started,
            failed_before=plan.failed_before, backfilled=backfilled, thumbnails_backfilled=pictured,
        )  # fmt: skip

    def _scan(self, roots: Sequence[str], report: Callable[[IndexProblem], None]) -> list[FileEntry]:
        def on_scan_problem(error: MediaError) -> None:
            report(IndexProblem(display_path(error.path), error.reason))

        from mmir.media.scan import SkipReason, report_skipped

        entries: dict[str, FileEntry] = {}
        skipped: list[tuple[str, SkipReason]] = []  # other extensions, links out of a root: said once per run
        for root in roots:
            for entry in scan(root, on_problem=on_scan_problem, on_skip=lambda p, why: skipped.append((p, why))):
                entries[entry.path] = entry
        report_skipped(skipped)
        self._links_out = frozenset(p for p, why in skipped if why is SkipReason.LINK_OUTSIDE_ROOT)
        return list(entries.values())

    def _input_side(self) -> int:
        """The encoder's input side: recorded in the ledger when the encoder last ran, else from the encoder."""
        recorded = ledger.producer(self.store.catalog, ledger.ENCODER)
        side = recorded.detail.get("input_side") if recorded is not None else None
        return int(side) if isinstance(side, int) else int(self._encoder_now().input_side)

    # -- the two stages -------------------------------------------------------------------------------

    def _process(
        self,
        pending: list[tuple[FileEntry, MediaRecord | None]],
        counts: Counts,
        report: Callable[[IndexProblem], None],
    ) -> None:
        tell, done = self.options.on_progress, 0
        if tell is not None:
            tell(0, len(pending))
        if not pending:
            return
        from tqdm import tqdm

        last_flush = time.monotonic()
        bar = tqdm(total=len(pending), unit="file", desc="indexing", disable=not self.options.progress)
        batch = Batches()
        pool = ThreadPoolExecutor(max_workers=self.options.workers, thread_name_prefix="mmir-decode")
        try:
            for group in self._prepared(pool, pending):
                for item in group:
                    self._take(item, batch, counts, report)
                    if len(batch.items) >= self._submit_size(batch):
                        self._encode(batch, counts)
                if not self.options.overlap:
                    self._encode(batch, counts, drain=True)  # the old loop encoded each chunk as it came
                bar.update(len(group))
                done += len(group)
                if tell is not None:
                    tell(done, len(pending))
                if time.monotonic() - last_flush > self.options.flush_every_s:
                    self.store.flush()
                    last_flush = time.monotonic()
            self._encode(batch, counts, drain=True)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            batch.close()
            bar.close()

    def _prepared(
        self, pool: ThreadPoolExecutor, pending: list[tuple[FileEntry, MediaRecord | None]]
    ) -> Iterator[list[Prepared]]:
        """Worker results in input order; a bounded window of files is in flight while the caller encodes."""
        if not self.options.overlap:
            for start in range(0, len(pending), self._batch_size()):
                chunk = pending[start : start + self._batch_size()]
                yield list(pool.map(self._prepare, chunk))
            return
        todo = iter(pending)
        window: deque[Future[Prepared]] = deque()

        def fill() -> None:
            # Until the encoder (and so its batch size) is known, keep just the workers busy.
            ahead = 2 * self._batch_size() if self._encoder is not None else self.options.workers
            while len(window) < ahead + self.options.workers:
                item = next(todo, None)
                if item is None:
                    return
                window.append(pool.submit(self._prepare, item))

        fill()
        while window:
            result = window.popleft().result()
            fill()  # before the caller encodes, so the workers stay busy meanwhile
            yield [result]

    def _submit_size(self, batch: Batches) -> int:
        """Items to gather before submitting: a batch, but the first one goes early so the encoder starts sooner.

        Not in the old sequential loop (``overlap=False``), which encodes whole decoded chunks.
        """
        size = self._batch_size()
        return min(size, _FIRST_BATCH) if batch.dispatch is None and self.options.overlap else size

    def _batch_size(self) -> int:
        if self.options.batch_size is not None:
            return self.options.batch_size
        return int(getattr(self._encoder, "batch_size", 16)) if self._encoder is not None else 16

    # -- worker side ----------------------------------------------------------------------------------

    def _prepare(self, item: tuple[FileEntry, MediaRecord | None]) -> Prepared:
        """Read, hash and (for new content) decode and preprocess one file. Runs in a worker thread."""
        entry, record = item
        handler = self._handlers.get(entry.kind)
        try:
            if entry.kind is not MediaKind.IMAGE and handler is None:
                raise UnreadableMediaError(entry.path, f"{entry.kind.value} files are not indexed yet")
            data = read_file(entry.path, limits=self.options.limits) if handler is None else None
            sha1 = sha1_bytes(data) if data is not None else sha1_file(entry.path)
            if entry.path not in self._reanalyse and self._known(record, sha1):
                return Prepared(entry, record, sha1)
            if handler is not None:  # its text stored with its shots: a run killed before the sync still has it
                segments = tuple(self._analyse(handler, entry.path, data, sha1))
                return Prepared(entry, record, sha1, segments=segments, text=self._text(entry.path, data))
            assert data is not None
            return self._decode(entry, record, sha1, data)
        except MediaError as error:
            problem = IndexProblem(display_path(entry.path), error.reason)
            return Prepared(entry, record, problem=problem, remember=not isinstance(error, UnreadableMediaError))

    def _analyse(self, handler: MediaHandler, path: str, data: bytes | None, sha1: str) -> Sequence[SegmentEncoding]:
        """A handler's segments; its keyframes' pictures kept too when it can give them (same decode)."""
        pictures, limits = self._pictures, self.options.limits
        with_pictures = getattr(handler, "analyse_with_pictures", None)
        if pictures is None or with_pictures is None:
            return handler.analyse(path, data, self._encoder_now, limits)
        pictures.forget_keyframes(sha1)
        segments: Sequence[SegmentEncoding] = with_pictures(
            path, data, self._encoder_now, limits, lambda at_s, made: pictures.keep(sha1, made, at_s)
        )
        return segments

    def _known(self, record: MediaRecord | None, sha1: str) -> bool:
        if record is not None and record.sha1 == sha1:
            return True
        with self._db_lock:
            return self.store.catalog.media_with_sha1(sha1) is not None

    def _decode(self, entry: FileEntry, record: MediaRecord | None, sha1: str, data: bytes) -> Prepared:
        limits = self.options.limits
        # Prove one file decodes before the model loads, so a folder of broken files never loads it. One file is
        # enough: each probe is a second decode, and for a 100-MP PNG (no reduced decode) it costs a whole one.
        with self._probe_lock:
            if self._encoder is None and not self._one_decoded:
                decode_image(data, entry.path, limits=limits, min_side=_PROBE_SIDE)
                self._one_decoded = True
        encoder = self._encoder_now()
        if self._pictures is None:
            image = decode_for_model(data, entry.path, encoder.input_side, limits=limits)
        else:  # one decode for the model and the photo's card and preview
            image, pictures = decode_with_pictures(data, entry.path, encoder.input_side, limits=limits)
            self._pictures.keep(sha1, pictures)
        channels = {channel.name: _channel(channel, image) for channel in self.options.channels}
        array = encoder.preprocess(image)
        return Prepared(entry, record, sha1, array=array, channels=channels, text=self._text(entry.path, data))

    def _text(self, path: str, data: bytes | None) -> tuple[str, MetadataText]:
        """The file's metadata text, from the bytes already read when there are any (a video's are not: its file
        name, folder and sidecars then); the sync after the run skips the file."""
        # Imported here, as in mmir.index.metadata_text: every command imports this module, and the metadata
        # readers load PIL's metadata plugins and an XML parser that only indexing needs.
        from mmir.media.metadata import extract_metadata_text, folder_names, sidecar_signature

        folder = os.path.dirname(path)
        names = self._listings.get(folder)
        if names is None:  # two workers may list a folder at once; either listing will do
            names = self._listings[folder] = folder_names(folder)
        return sidecar_signature(path, names), extract_metadata_text(path, names, data)

    def _encoder_now(self) -> Encoder:
        with self._encoder_lock:
            if self._encoder is None:
                self._encoder = self._get_encoder()
            return self._encoder

    # -- writer side (the calling thread) -------------------------------------------------------------

    def _take(self, item: Prepared, batch: Batches, counts: Counts, report: Callable[[IndexProblem], None]) -> None:
        """Route one prepared file: report it, store it, queue it for encoding, or store it as a copy."""
        if item.problem is not None:
            report(item.problem)
            if item.remember:
                self._writer.remember(item)
        elif item.segments is not None:
            self._writer.store_analysed(item, self._detectors.get(item.entry.kind), counts)
            counts.encoded += _images_encoded(item.segments)
        elif item.array is None:
            self._writer.reuse(item, counts)
        elif item.sha1 in batch.copies:
            batch.copies[item.sha1].append(replace(item, array=None, channels={}))
        elif self._known(None, item.sha1):  # a copy stored since this file was read
            self._writer.reuse(replace(item, array=None), counts)
        else:
            batch.items.append(item)
            batch.copies[item.sha1] = []

    def _encode(self, batch: Batches, counts: Counts, drain: bool = False) -> None:
        """Submit the gathered items, then store finished batches: all of them (``drain``) or all but the newest."""
        if batch.items:
            assert self._encoder is not None  # set by the worker that decoded these items
            batch.submit(self._encoder)
        while len(batch.at_encoder) > (0 if drain else 1):
            future, items = batch.at_encoder.popleft()
            self._writer.store_encoded(items, future.result(), counts)
            for item in items:
                for copy in batch.copies.pop(item.sha1):
                    self._writer.reuse(copy, counts)


def _channel(channel: ChannelExtractor, image: Image.Image) -> np.ndarray:
    return np.asarray(channel.extract(image), dtype=np.float32).reshape(-1)


def _images_encoded(segments: Sequence[SegmentEncoding]) -> int:
    """Frames a media handler encoded for ``segments``: the sampled frames their video rows carry.

    A video's encoded frames all hang off the first keyframe row of their shot (:mod:`mmir.index.frames`).
    Rows without frames count 0: the Ray executor's image rows arrive here too, and it counts those itself.
    """
    return sum(len(seg.extras.frame_times) for seg in segments if seg.extras is not None)
