"""Back-fill: give files already indexed the outputs a run asks for and they lack (e.g. a new descriptor channel).

The ledger (:mod:`mmir.index.ledger`) says which files lack which producer; this stage decodes just those files
(at the encoder's input side, as the indexing pass does, so channel vectors do not depend on which pass made
them), computes only the missing channels, and stores them a batch at a time. The encoder never runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from mmir.index import ledger
from mmir.indexing.types import ChannelExtractor, ChannelSink, IndexOptions, IndexProblem
from mmir.media import MediaError, decode_for_model, display_path, read_file

if TYPE_CHECKING:
    from mmir.index.catalog import Catalog
    from mmir.media import FileEntry

_WRITE_BATCH = 64  # files whose channels are written per transaction


@dataclass(frozen=True)
class Backfill:
    """One indexed file and the producers it lacks (``channel:NAME`` names)."""

    entry: FileEntry
    media_id: int
    lacking: frozenset[str]


def wanted_channels(channels: Sequence[ChannelExtractor]) -> dict[str, str]:
    """``{producer: setting}`` of the run's channels, for :func:`mmir.index.ledger.missing`."""
    return {ledger.channel_producer(channel.name): ledger.CHANNEL_VERSION for channel in channels}


def plan(catalog: Catalog, channels: Sequence[ChannelExtractor]) -> dict[int, frozenset[str]]:
    """``{media id: producers it lacks}`` for the image files lacking some of ``channels`` (empty when none asked)."""
    return ledger.missing(catalog, wanted_channels(channels)) if channels else {}


def run_backfill(
    catalog: Catalog, items: Sequence[Backfill], options: IndexOptions, sink: ChannelSink, side: Callable[[], int],
    report: Callable[[IndexProblem], None],
) -> int:  # fmt: skip
    """Compute and store the missing channels of ``items``; returns how many files got them.

    Args:
        catalog: The collection's catalog (the ledger records each stored batch).
        items: Files to back-fill.
        options: The run's options (channels, workers, limits, progress).
        sink: Where channels are stored (it records them in the ledger).
        side: The encoder's input side (the decode size of the indexing pass).
        report: Receives files that no longer decode (reported, not remembered: they indexed before).
    """
    if not items:
        return 0
    from tqdm import tqdm

    extractors = {ledger.channel_producer(c.name): c for c in options.channels}
    names = sorted({extractors[p].name for item in items for p in item.lacking})
    input_side = side()
    bar = tqdm(total=len(items), unit="file", desc=f"back-filling {','.join(names)}", disable=not options.progress)
    done, pending = 0, []
    with ThreadPoolExecutor(max_workers=options.workers, thread_name_prefix="mmir-backfill") as pool:
        try:
            for item, vectors in _computed(pool, items, extractors, input_side, options):
                bar.update(1)
                if isinstance(vectors, IndexProblem):
                    report(vectors)
                    continue
                pending.append((item.media_id, vectors))
                if len(pending) >= _WRITE_BATCH:
                    done += _store(catalog, sink, pending)
            done += _store(catalog, sink, pending)
        finally:
            bar.close()
    return done


def _computed(
    pool: ThreadPoolExecutor, items: Sequence[Backfill], extractors: Mapping[str, ChannelExtractor], side: int,
    options: IndexOptions,
) -> Iterator[tuple[Backfill, dict[str, np.ndarray] | IndexProblem]]:  # fmt: skip
    """Each item with its missing channels (or the problem that stopped it), in order, a bounded window ahead."""
    window = 4 * max(1, options.workers)
    for start in range(0, len(items), window):
        chunk = items[start : start + window]
        yield from zip(chunk, pool.map(lambda item: _one(item, extractors, side, options), chunk), strict=True)


def _one(
    item: Backfill, extractors: Mapping[str, ChannelExtractor], side: int, options: IndexOptions
) -> dict[str, np.ndarray] | IndexProblem:
    """Decode one file and compute its missing channels (runs in a worker thread)."""
    path = item.entry.path
    try:
        image = decode_for_model(read_file(path, limits=options.limits), path, side, limits=options.limits)
    except MediaError as error:
        return IndexProblem(display_path(path), error.reason)
    return {
        extractors[p].name: np.asarray(extractors[p].extract(image), np.float32).reshape(-1)
        for p in sorted(item.lacking)
    }


def _store(catalog: Catalog, sink: ChannelSink, pending: list[tuple[int, dict[str, np.ndarray]]]) -> int:
    """Store the gathered files' channels (one transaction when the sink can), record them, empty ``pending``."""
    many = getattr(sink, "store_many", None)
    if many is not None:
        many(pending)
    else:
        for media_id, vectors in pending:
            sink.store(media_id, vectors)
    by_names: dict[tuple[str, ...], list[int]] = {}
    for media_id, vectors in pending:
        by_names.setdefault(tuple(sorted(vectors)), []).append(media_id)
    for names, media_ids in by_names.items():  # after storing: a kill in between leaves files to back-fill again
        ledger.record_files(catalog, media_ids, {ledger.channel_producer(n): ledger.CHANNEL_VERSION for n in names})
    count = len(pending)
    pending.clear()
    return count
