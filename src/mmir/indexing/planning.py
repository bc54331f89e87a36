"""Planning an indexing run: which scanned files need work, which failed before, and which catalogued files went.

The writer thread of :mod:`mmir.indexing.pipeline` calls these before and around its two stages. A file is
unchanged when its size and mtime match the catalog (and the shot detector asked for is the one its shots were
found with); a file that failed before is skipped while it and the decoding limits are unchanged (the ledger's
failure record), unless the run retries failures.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mmir.index import ledger

if TYPE_CHECKING:
    from mmir.index.catalog import MediaRecord
    from mmir.index.store import SegmentStore
    from mmir.indexing.thumbnails import KeptPictures
    from mmir.indexing.types import IndexOptions
    from mmir.media import FileEntry


@dataclass
class RunPlan:
    """What a run does with its scanned files.

    Attributes:
        pending: Files to read (new, changed, retried, or re-analysed), with their catalog record if any.
        unchanged: Files left alone.
        failed_before: Files that failed before and did not change (counted, not reported again).
        had_failed: Pending paths with a failure record, dropped when they index.
        reanalyse: Unchanged videos whose shots another shot detector must find again.
    """

    pending: list[tuple[FileEntry, MediaRecord | None]] = field(default_factory=list)
    unchanged: int = 0
    failed_before: int = 0
    had_failed: set[str] = field(default_factory=set)
    reanalyse: set[str] = field(default_factory=set)


def limits_key(options: IndexOptions) -> str:
    """The decoding limits a failure is judged under (another limit makes failed files candidates again)."""
    return f"{options.limits.max_pixels}:{options.limits.max_bytes}"


def plan_run(store: SegmentStore, entries: Sequence[FileEntry], options: IndexOptions) -> RunPlan:
    """Split scanned ``entries`` into pending work, unchanged files and files that failed before (unchanged)."""
    catalog, plan, limits = store.catalog, RunPlan(), limits_key(options)
    asked = options.shot_detector
    other_shots = ledger.with_other_setting(catalog, ledger.SHOTS, asked) if asked is not None else set()
    for entry in entries:
        record = catalog.lookup(entry.path)
        if record and record.size == entry.size and record.mtime == entry.mtime:
            if record.id not in other_shots:
                plan.unchanged += 1
                continue
            plan.reanalyse.add(entry.path)  # same content, another shot detector asked for: analysed again
        failure = ledger.failure_of(catalog, entry.path)
        if failure:
            plan.had_failed.add(entry.path)
        if failure and not options.retry_failed and failure.still_applies(entry.size, entry.mtime, limits):
            plan.failed_before += 1
        else:
            plan.pending.append((entry, record))
    return plan


def remove_missing(
    store: SegmentStore, roots: Sequence[str], seen: set[str], links_out: frozenset[str], pictures: KeptPictures | None
) -> int:
    """Forget catalogued files under ``roots`` that vanished (or now link out of their root); their count.

    A file in an unreadable folder is kept. A failure record of a file that is gone goes too, and so do the
    pictures of content no file has any more.
    """
    gone: list[int] = []
    for root in roots:
        absolute = os.path.abspath(root)
        for media_id, path in store.catalog.media_under(absolute):
            if path not in seen and (not os.path.lexists(path) or path in links_out):
                gone.append(media_id)  # a link now leading out of the root: what it points at must not stay searchable
        for path in ledger.failures_under(store.catalog, absolute):
            if path not in seen and not os.path.lexists(path):
                ledger.forget_failure(store.catalog, path)
    contents = _contents(store, gone) if pictures is not None else []
    store.remove(gone)
    if pictures is not None:
        pictures.files.prune(store.catalog, contents)  # no file has that content any more
    return len(gone)


def _contents(store: SegmentStore, media_ids: list[int]) -> list[str]:
    """The SHA-1s of ``media_ids`` (whose pictures go once no file has them)."""
    refs = (store.catalog.media_ref(media_id) for media_id in media_ids)
    return [ref.sha1 for ref in refs if ref is not None]


def detector_of(handler: object) -> str | None:
    """The shot detector a media handler uses (``options.detector``), if it detects shots."""
    detector = getattr(getattr(handler, "options", None), "detector", None)
    return detector if isinstance(detector, str) else None
