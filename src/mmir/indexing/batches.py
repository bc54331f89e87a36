"""What the indexing pipeline passes between its stages: prepared files, and batches of them.

:class:`Prepared` is one file after a worker thread read, hashed and decoded it; :class:`Batches` holds the
files gathering into a batch, the batches at the encoder, and later files with the same content. Both belong to
:mod:`mmir.indexing.pipeline` (the calling thread alone uses :class:`Batches`); they are apart only to keep it readable.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from mmir.index.catalog import MediaRecord, SegmentEncoding
    from mmir.indexing.types import IndexProblem
    from mmir.media import FileEntry
    from mmir.media.metadata import MetadataText
    from mmir.models.encoder import Encoded, Encoder


@dataclass(frozen=True)
class Prepared:
    """One file after the worker stage: an array to encode, segments to store, known content, or a problem."""

    entry: FileEntry
    record: MediaRecord | None
    sha1: str = ""
    array: np.ndarray | None = None  # float32[3, S, S], to encode
    segments: tuple[SegmentEncoding, ...] | None = None  # from a media handler
    channels: dict[str, np.ndarray] = field(default_factory=dict)
    text: tuple[str, MetadataText] | None = None  # (sidecar signature, searchable text), read from the same bytes
    problem: IndexProblem | None = None
    remember: bool = False  # record the problem as a failure of this file's content


@dataclass
class Batches:
    """Items waiting to be encoded, batches at the encoder, and later items with the same content (copies).

    ``copies`` has an entry for every item not stored yet (gathering or at the encoder), so a later file
    with the same content waits for it and is stored as its copy rather than encoded again.
    """

    items: list[Prepared] = field(default_factory=list)
    copies: dict[str, list[Prepared]] = field(default_factory=dict)
    at_encoder: deque[tuple[Future[Encoded], list[Prepared]]] = field(default_factory=deque)
    dispatch: ThreadPoolExecutor | None = None

    def submit(self, encoder: Encoder) -> None:
        """Hand the gathered items to the encoder (on a dispatch thread) without waiting for the vectors."""
        if self.dispatch is None:
            # Two dispatch threads when the runner's lanes take chunks from one queue in order (ONNX): the next
            # batch's chunks then start as soon as a lane is free, with no barrier at the batch boundary.
            threads = max(1, int(getattr(encoder, "concurrent_batches", 1)))
            self.dispatch = ThreadPoolExecutor(threads, thread_name_prefix="mmir-encode")
        arrays = np.stack([item.array for item in self.items if item.array is not None])
        stored_later = [replace(item, array=None) for item in self.items]  # the stacked copy is enough
        self.at_encoder.append((self.dispatch.submit(encoder.encode_batch, arrays), stored_later))
        self.items.clear()

    def close(self) -> None:
        """Wait for the dispatch threads (their results are dropped: unstored files are indexed next run)."""
        if self.dispatch is not None:
            self.dispatch.shutdown(wait=True, cancel_futures=True)
