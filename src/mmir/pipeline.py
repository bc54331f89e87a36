"""The indexing pipeline: scan → read + hash → decode → encode → store, batched and resumable.

Every file is committed on its own (one SQLite transaction per batch item), so an interrupted run
keeps all finished work; the next run skips what is unchanged (size + mtime, then content hash) and
so resumes where the last one stopped. Files are read and decoded in worker threads while the
model encodes the previous batch.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from mmir.index.catalog import MediaRecord, SegmentEncoding
from mmir.media import FileEntry, ImageLimits, MediaError, decode_image, display_path, read_file, scan, sha1_bytes

if TYPE_CHECKING:
    import torch

    from mmir.index.store import SegmentStore
    from mmir.models.encoder import Encoder


@dataclass(frozen=True)
class IndexProblem:
    """A file that could not be indexed, and why."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass(frozen=True)
class IndexReport:
    """What an indexing run did."""

    scanned: int
    added: int
    updated: int
    unchanged: int
    reused: int
    removed: int
    encoded: int
    problems: tuple[IndexProblem, ...]
    seconds: float

    @property
    def images_per_second(self) -> float:
        """Files encoded per second of the whole run."""
        return self.encoded / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class IndexOptions:
    """Knobs of an indexing run."""

    batch_size: int = 16
    workers: int = 2
    flush_every_s: float = 30.0
    progress: bool = True
    limits: ImageLimits = field(default_factory=ImageLimits)


@dataclass(frozen=True)
class _Prepared:
    entry: FileEntry
    record: MediaRecord | None
    sha1: str = ""
    data: bytes | None = None
    tensor: torch.Tensor | None = None
    problem: IndexProblem | None = None


@dataclass
class _Counts:
    added: int = 0
    updated: int = 0
    reused: int = 0
    encoded: int = 0
    touched: int = 0


class Indexer:
    """Indexes files into a :class:`SegmentStore` with an encoder built on first need.

    Args:
        store: The collection's store (its writer lock should be held).
        encoder: Returns the encoder; called only if some file really needs encoding.
        options: Batch size, worker threads, flush interval, progress bar.
    """

    def __init__(self, store: SegmentStore, encoder: Callable[[], Encoder], options: IndexOptions) -> None:
        self.store = store
        self._get_encoder = encoder
        self._encoder: Encoder | None = None
        self.options = options

    def run(self, roots: Sequence[str], on_problem: Callable[[IndexProblem], None] | None = None) -> IndexReport:
        """Index every image below ``roots``; remove catalogued files that no longer exist there."""
        started = time.perf_counter()
        problems: list[IndexProblem] = []

        def report(problem: IndexProblem) -> None:
            problems.append(problem)
            if on_problem:
                on_problem(problem)

        entries = self._scan(roots, report)
        pending, unchanged = self._plan(entries)
        removed = self._remove_missing(roots, {entry.path for entry in entries})
        counts = _Counts()
        try:
            self._process(pending, counts, report)
        finally:
            self.store.flush()
        return IndexReport(
            scanned=len(entries), added=counts.added, updated=counts.updated,
            unchanged=unchanged + counts.touched, reused=counts.reused, removed=removed,
            encoded=counts.encoded, problems=tuple(problems), seconds=time.perf_counter() - started,
        )  # fmt: skip

    def _scan(self, roots: Sequence[str], report: Callable[[IndexProblem], None]) -> list[FileEntry]:
        def on_scan_problem(error: MediaError) -> None:
            report(IndexProblem(display_path(error.path), error.reason))

        entries: dict[str, FileEntry] = {}
        for root in roots:
            for entry in scan(root, on_problem=on_scan_problem):
                entries[entry.path] = entry
        return list(entries.values())

    def _plan(self, entries: list[FileEntry]) -> tuple[list[tuple[FileEntry, MediaRecord | None]], int]:
        pending, unchanged = [], 0
        for entry in entries:
            record = self.store.catalog.lookup(entry.path)
            if record and record.size == entry.size and record.mtime == entry.mtime:
                unchanged += 1
            else:
                pending.append((entry, record))
        return pending, unchanged

    def _remove_missing(self, roots: Sequence[str], seen: set[str]) -> int:
        gone: list[int] = []
        for root in roots:
            for media_id, path in self.store.catalog.media_under(os.path.abspath(root)):
                # Only files that really vanished: a file in an unreadable folder is kept.
                if path not in seen and not os.path.lexists(path):
                    gone.append(media_id)
        self.store.remove(gone)
        return len(gone)

    def _process(
        self,
        pending: list[tuple[FileEntry, MediaRecord | None]],
        counts: _Counts,
        report: Callable[[IndexProblem], None],
    ) -> None:
        if not pending:
            return
        from tqdm import tqdm

        last_flush = time.monotonic()
        bar = tqdm(total=len(pending), unit="img", desc="indexing", disable=not self.options.progress)
        with ThreadPoolExecutor(max_workers=self.options.workers) as pool:
            for chunk in _chunks(pending, self.options.batch_size):
                hashed = list(pool.map(self._read, chunk))
                if any(item.data is not None for item in hashed) and self._encoder is None:
                    self._encoder = self._get_encoder()  # loaded only when some content is new
                prepared = list(pool.map(self._decode, hashed))
                self._store_batch(prepared, counts, report)
                bar.update(len(chunk))
                if time.monotonic() - last_flush > self.options.flush_every_s:
                    self.store.flush()
                    last_flush = time.monotonic()
        bar.close()

    def _read(self, item: tuple[FileEntry, MediaRecord | None]) -> _Prepared:
        """Read and hash a file; keep its bytes only when its content is not in the catalog yet."""
        entry, record = item
        try:
            data = read_file(entry.path, limits=self.options.limits)
        except MediaError as error:
            return _Prepared(entry, record, problem=IndexProblem(display_path(entry.path), error.reason))
        sha1 = sha1_bytes(data)
        known = (record is not None and record.sha1 == sha1) or self.store.catalog.media_with_sha1(sha1) is not None
        return _Prepared(entry, record, sha1, data=None if known else data)

    def _decode(self, item: _Prepared) -> _Prepared:
        if item.data is None:
            return item
        encoder = self._encoder
        assert encoder is not None
        try:
            image = decode_image(item.data, item.entry.path, limits=self.options.limits, min_side=encoder.input_side)
        except MediaError as error:
            return replace(item, data=None, problem=IndexProblem(display_path(item.entry.path), error.reason))
        return replace(item, data=None, tensor=encoder.transform(image))

    def _store_batch(
        self, prepared: list[_Prepared], counts: _Counts, report: Callable[[IndexProblem], None]
    ) -> None:
        import torch

        to_encode = [p for p in prepared if p.tensor is not None]
        if to_encode:
            encoder = self._encoder
            assert encoder is not None
            encoded = encoder.encode_tensor(torch.stack([p.tensor for p in to_encode if p.tensor is not None]))
            counts.encoded += len(to_encode)
            for row, item in enumerate(to_encode):
                seg = SegmentEncoding(encoded.descriptors[row], encoded.concepts[row])
                self._put(item, [seg], counts)
        for item in prepared:
            if item.problem:
                report(item.problem)
            elif item.tensor is None and item.sha1:
                self._reuse(item, counts)

    def _put(self, item: _Prepared, segments: list[SegmentEncoding], counts: _Counts) -> None:
        entry = item.entry
        self.store.put(entry.path, entry.kind, entry.size, entry.mtime, item.sha1, segments)
        if item.record is None:
            counts.added += 1
        else:
            counts.updated += 1

    def _reuse(self, item: _Prepared, counts: _Counts) -> None:
        if item.record is not None and item.record.sha1 == item.sha1:
            self.store.touch(item.record.id, item.entry.size, item.entry.mtime)
            counts.touched += 1
            return
        source = self.store.catalog.media_with_sha1(item.sha1)
        if source is None:  # the twin vanished meanwhile: nothing to copy; retried next run
            return
        self._put(item, self.store.catalog.segment_encodings(source), counts)
        counts.reused += 1


def _chunks(items: list[tuple[FileEntry, MediaRecord | None]], size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
