"""Back-fill: give files already indexed the outputs a run asks for and they lack (e.g. a new descriptor channel).

The ledger (:mod:`mmir.index.ledger`) says which files lack which producer; this stage decodes just those files
(at the encoder's input side, as the indexing pass does, so channel vectors do not depend on which pass made
them), computes only the missing channels, and stores them a batch at a time. The encoder never runs.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from mmir.index import ledger
from mmir.indexing import thumbnails
from mmir.indexing.types import ChannelExtractor, ChannelSink, IndexOptions, IndexProblem
from mmir.media import MediaError, decode_for_model, display_path, read_file
from mmir.types import MediaKind

if TYPE_CHECKING:
    from mmir.index.catalog import Catalog
    from mmir.media import FileEntry
    from mmir.types import Segment

_WRITE_BATCH = 64  # files whose channels are written per transaction


@dataclass(frozen=True)
class Backfill:
    """One indexed file and the producers it lacks (``channel:NAME`` names)."""

    entry: FileEntry
    media_id: int
    lacking: frozenset[str]


Outputs = tuple[ChannelSink | None, "thumbnails.KeptPictures | None", bool]
"""Where back-filled outputs go: the channel sink, the kept pictures (``None``: off), and whether videos get them."""


def backfill_missing(
    catalog: Catalog, entries: Sequence[FileEntry], options: IndexOptions, outputs: Outputs, side: Callable[[], int],
    report: Callable[[IndexProblem], None],
) -> tuple[int, int]:  # fmt: skip
    """Give the files of this run's roots the channels and pictures they lack; ``(files given channels,
    files given pictures)``. A decode pass each, no encoder."""
    sink, kept, videos = outputs
    channels = 0
    lacking = plan(catalog, options.channels)
    if lacking and sink is not None:
        channels = run_backfill(catalog, _lacking(catalog, entries, lacking), options, sink, side, report)
    if kept is None:
        return channels, 0
    lacking = picture_plan(catalog, videos)
    items = _lacking(catalog, entries, lacking) if lacking else []
    return channels, run_picture_backfill(catalog, items, options, kept, side)


def _lacking(catalog: Catalog, entries: Sequence[FileEntry], lacking: dict[int, frozenset[str]]) -> list[Backfill]:
    """The files under this run's roots that lack some producer (``lacking``: media id → producers)."""
    items = []
    for entry in entries:
        record = catalog.lookup(entry.path)
        if record is not None and record.id in lacking:
            items.append(Backfill(entry, record.id, lacking[record.id]))
    return items


def wanted_channels(channels: Sequence[ChannelExtractor]) -> dict[str, str]:
    """``{producer: setting}`` of the run's channels, for :func:`mmir.index.ledger.stale`."""
    return {ledger.channel_producer(channel.name): ledger.CHANNEL_VERSION for channel in channels}


def plan(catalog: Catalog, channels: Sequence[ChannelExtractor]) -> dict[int, frozenset[str]]:
    """``{media id: producers it lacks}`` for the image files lacking some of ``channels`` (empty when none asked)."""
    return ledger.stale(catalog, wanted_channels(channels)).files if channels else {}


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
    """Each item with its missing channels (or the problem that stopped it), in order, a bounded window ahead.

    The window slides: the next file is submitted before the caller gets this one, so the workers keep decoding
    while the caller writes to the catalog (chunks waited for whole left them idle at every chunk's end).
    """
    window = 4 * max(1, options.workers)
    todo = iter(items)
    running: deque[tuple[Backfill, Future[dict[str, np.ndarray] | IndexProblem]]] = deque()
    while True:
        while len(running) < window and (item := next(todo, None)) is not None:
            running.append((item, pool.submit(_one, item, extractors, side, options)))
        if not running:
            return
        done, future = running.popleft()
        yield done, future.result()


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


# -- thumbnails and previews --------------------------------------------------------------------------------------


def picture_plan(catalog: Catalog, videos: bool) -> dict[int, frozenset[str]]:
    """``{media id: {"thumbnails"}}`` for the photos (and videos, with ``videos``) lacking their pictures."""
    wanted = {thumbnails.PRODUCER: thumbnails.SETTING}
    lacking = ledger.stale(catalog, wanted).files
    if videos:
        lacking.update(ledger.stale(catalog, wanted, kind="video").files)
    return lacking


def run_picture_backfill(
    catalog: Catalog, items: Sequence[Backfill], options: IndexOptions, kept: thumbnails.KeptPictures,
    side: Callable[[], int],
) -> int:  # fmt: skip
    """Make the missing pictures of ``items`` (a decode pass, no encoder); returns how many files got them.

    Each content is decoded once (copies share its pictures). A file that no longer decodes is skipped with a
    warning on the ``mmir.thumbnails`` logger and tried again next run: it indexed before, so it is no index
    problem, and the server makes its pictures on demand meanwhile.
    """
    if not items:
        return 0
    from tqdm import tqdm

    by_content: dict[str, list[Backfill]] = {}
    for item in items:
        ref = catalog.media_ref(item.media_id)
        if ref is not None:
            by_content.setdefault(ref.sha1, []).append(item)
    input_side = side()
    bar = tqdm(total=len(by_content), unit="file", desc="back-filling thumbnails", disable=not options.progress)
    done = 0
    work = [(sha1, group[0], catalog.segments_of(group[0].media_id)) for sha1, group in by_content.items()]
    with ThreadPoolExecutor(max_workers=options.workers, thread_name_prefix="mmir-thumbs") as pool:
        try:
            for start in range(0, len(work), _WRITE_BATCH):
                chunk = work[start : start + _WRITE_BATCH]
                made = list(pool.map(lambda job: _pictures(kept, job[0], job[1], job[2], input_side, options), chunk))
                stored = [(i.media_id, sha1) for (sha1, _, _), ok in zip(chunk, made, strict=True) if ok
                          for i in by_content[sha1]]  # fmt: skip
                kept.record(catalog, stored)
                done += len(stored)
                bar.update(len(chunk))
        finally:
            bar.close()
    return done


def _pictures(
    kept: thumbnails.KeptPictures, sha1: str, item: Backfill, segments: Sequence[Segment], side: int,
    options: IndexOptions,
) -> bool:  # fmt: skip
    """Decode one file and keep its pictures (runs in a worker thread); whether it worked."""
    path = item.entry.path
    try:
        if item.entry.kind is MediaKind.VIDEO:
            _video_pictures(kept, sha1, path, sorted({s.keyframe_s for s in segments}), side)
        else:
            data = read_file(path, limits=options.limits)
            _image, pictures = thumbnails.decode_with_pictures(data, path, side, limits=options.limits)
            kept.keep(sha1, pictures)
    except MediaError as error:
        thumbnails.log.warning("%s: no thumbnails (%s)", display_path(path), error.reason)
        return False
    return True


def _video_pictures(kept: thumbnails.KeptPictures, sha1: str, path: str, times: Sequence[float], side: int) -> None:
    """Each keyframe's pictures from a seek to its time (frames at the encoder's side, as indexing decodes them)."""
    from PIL import Image

    from mmir.media.video import VideoReader

    kept.forget_keyframes(sha1)
    for at_s in times:  # a reader per seek: a reader's decoder cannot be set up again after its first frame_at
        with VideoReader(path) as reader:
            kept.keep(sha1, thumbnails.frame_pictures(Image.fromarray(reader.frame_at(at_s, side))), at_s)
