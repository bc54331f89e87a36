"""The writer side of the indexing pipeline: storing files, copies and failures in the catalog, with their ledger rows.

Only the pipeline's calling thread uses a :class:`FileWriter`; its writes hold the pipeline's database lock, so
worker threads' catalog reads (looking a content hash up) never overlap a write on the one SQLite connection.
Each batch of files is one committed transaction (:meth:`mmir.index.store.SegmentStore.put_many`); the ledger rows
of what was made with it (channels, shots, thumbnails) follow right after, so a run killed in between leaves files
the next run back-fills rather than outputs the ledger claims without them.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mmir.index import ledger, visible_text
from mmir.index.catalog import SegmentEncoding
from mmir.index.store import FileToStore
from mmir.indexing.planning import limits_key

if TYPE_CHECKING:
    from mmir.index.store import SegmentStore
    from mmir.indexing.batches import Prepared
    from mmir.indexing.thumbnails import KeptPictures
    from mmir.indexing.types import ChannelSink, IndexOptions
    from mmir.models.encoder import Encoded


@dataclass
class Counts:
    """What a run did to the files it read (for :class:`mmir.indexing.types.IndexReport`)."""

    added: int = 0
    updated: int = 0
    reused: int = 0
    encoded: int = 0
    touched: int = 0


class FileWriter:
    """Stores prepared files into a collection (see the module docstring).

    Args:
        store: The collection's store.
        db_lock: The pipeline's lock around the one SQLite connection.
        sink: Receives each stored file's extra channels (``None``: the run computes none).
        pictures: Where thumbnails and previews are kept (``None``: not kept).
        options: The run's options (channels, limits).
    """

    def __init__(
        self, store: SegmentStore, db_lock: threading.Lock, sink: ChannelSink | None, pictures: KeptPictures | None,
        options: IndexOptions,
    ) -> None:  # fmt: skip
        self.store = store
        self.db_lock = db_lock
        self.sink = sink
        self.pictures = pictures
        self.options = options
        self.had_failed: set[str] = set()  # pending paths with a failure record, dropped when they index

    def store_encoded(self, items: Sequence[Prepared], encoded: Encoded, counts: Counts) -> None:
        """Store a batch the encoder finished (one segment a file), with its channels and pictures."""
        counts.encoded += len(items)
        segments = [[SegmentEncoding(encoded.descriptors[row], encoded.concepts[row])] for row in range(len(items))]
        stored = self.put_many(items, segments, counts)
        for item, media_id in zip(items, stored, strict=True):
            if self.sink is not None and item.channels:
                self.sink.store(media_id, item.channels)
        if self.sink is not None and self.options.channels:  # the ledger rows after the sink stored them
            from mmir.indexing.backfill import wanted_channels

            with self.db_lock:
                ledger.record_files(self.store.catalog, stored, wanted_channels(self.options.channels))
        if self.pictures is not None:
            with self.db_lock:
                self.pictures.record(self.store.catalog, [(m, i.sha1) for m, i in zip(stored, items, strict=True)])

    def store_analysed(self, item: Prepared, detector: str | None, counts: Counts) -> int:
        """Store a file a media handler analysed into segments (a video's shots); its media id."""
        assert item.segments is not None
        media_id = self.put(item, list(item.segments), counts)
        with self.db_lock:
            if detector is not None:  # the shots producer's setting, so another detector later re-analyses it
                ledger.record_files(self.store.catalog, [media_id], {ledger.SHOTS: detector})
            if self.pictures is not None:
                self.pictures.record(self.store.catalog, [(media_id, item.sha1)])
        return media_id

    def put(self, item: Prepared, segments: list[SegmentEncoding], counts: Counts) -> int:
        """Store one file; its media id."""
        return self.put_many([item], [segments], counts)[0]

    def put_many(self, items: Sequence[Prepared], segments: list[list[SegmentEncoding]], counts: Counts) -> list[int]:
        """Store files (one committed transaction for all of them); their media ids."""
        files = [FileToStore(i.entry.path, i.entry.kind, i.entry.size, i.entry.mtime, i.sha1, tuple(segs), i.text)
                 for i, segs in zip(items, segments, strict=True)]  # fmt: skip
        with self.db_lock:
            media_ids = self.store.put_many(files)
            for item in items:
                if item.entry.path in self.had_failed:  # a write per file only where there is something to drop
                    ledger.forget_failure(self.store.catalog, item.entry.path)
            if self.pictures is not None:  # a changed file's old content: its pictures go unless a copy has it
                old = [i.record.sha1 for i in items if i.record is not None and i.record.sha1 != i.sha1]
                self.pictures.files.prune(self.store.catalog, old)
        counts.added += sum(item.record is None for item in items)
        counts.updated += sum(item.record is not None for item in items)
        return media_ids

    def reuse(self, item: Prepared, counts: Counts) -> None:
        """Store a file whose content is catalogued already: touched (same file) or a copy of another file."""
        if item.record is not None and item.record.sha1 == item.sha1:
            with self.db_lock:
                self.store.touch(item.record.id, item.entry.size, item.entry.mtime)
                if item.entry.path in self.had_failed:
                    ledger.forget_failure(self.store.catalog, item.entry.path)
            counts.touched += 1
            return
        with self.db_lock:
            source = self.store.catalog.media_with_sha1(item.sha1)
            encodings = self.store.catalog.segment_encodings(source) if source is not None else None
        if source is None or encodings is None:  # the twin vanished meanwhile: nothing to copy; retried next run
            return
        media_id = self.put(item, encodings, counts)
        if self.sink is not None:
            self.sink.copy(source, media_id)
        with self.db_lock:
            ledger.copy_files(self.store.catalog, source, media_id)  # a copy has what its source has
            visible_text.copy_words(self.store.catalog, source, media_id)  # its visible text and speech too
        counts.reused += 1

    def remember(self, item: Prepared) -> None:
        """Record a file's failure (at its size and mtime, under the run's limits) through the ledger."""
        assert item.problem is not None
        entry = item.entry
        with self.db_lock:
            ledger.record_failure(
                self.store.catalog, entry.path, entry.size, entry.mtime, limits_key(self.options), item.problem.reason
            )
