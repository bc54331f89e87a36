"""Indexing started from the UI: only configured roots, one run at a time, progress read by polling."""

from __future__ import annotations

import contextlib
import enum
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from mmir.api import Collection, IndexOptions
from mmir.errors import MmirError, QueryError
from mmir.media import display_path


class JobState(str, enum.Enum):
    """Where an indexing run is."""

    IDLE = "idle"
    SCANNING = "scanning"
    INDEXING = "indexing"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True)
class JobStatus:
    """What the UI shows about the current (or last) indexing run.

    Attributes:
        state: Where the run is.
        roots: Names of the roots being indexed.
        found: Image/video files found by the scan (``None`` until scanned).
        done: Files of this run processed so far (never goes down during a run).
        to_do: Files this run has to process, new or changed (``None`` until known).
        media: Files in the collection now.
        seconds: Time since the run started.
        added, updated, removed, problems: The run's report once done.
        error: Why the run failed.
    """

    state: JobState = JobState.IDLE
    roots: tuple[str, ...] = ()
    found: int | None = None
    done: int = 0
    to_do: int | None = None
    media: int = 0
    seconds: float = 0.0
    added: int = 0
    updated: int = 0
    removed: int = 0
    problems: int = 0
    error: str | None = None


class IndexJob:
    """Runs :meth:`Collection.index` in a background thread on a separate handle (it takes the writer lock).

    Args:
        collection: Collection directory.
        roots: The only folders that may be indexed from the UI.
    """

    def __init__(self, collection: Path, roots: Sequence[Path]) -> None:
        self._directory = collection
        self.roots = tuple(Path(root).absolute() for root in roots)
        self._status = JobStatus()
        self._started = 0.0
        self._lock = threading.Lock()
        self._handle: Collection | None = None

    def describe_roots(self) -> list[dict[str, Any]]:
        """The roots a client may ask for, by number and folder name (never the absolute path)."""
        return [{"id": number, "name": root.name or str(root)} for number, root in enumerate(self.roots)]

    def status(self) -> dict[str, Any]:
        """The current status as JSON (media count read live from the indexing handle)."""
        with self._lock:
            status = self._status
            if status.state in (JobState.SCANNING, JobState.INDEXING):
                status = replace(status, seconds=round(time.monotonic() - self._started, 1))
                handle = self._handle
                if handle is not None:
                    # The handle may close between the check and the read: then the last count stays.
                    with contextlib.suppress(Exception):
                        status = replace(status, media=handle.media_count())
        return {**asdict(status), "state": status.state.value, "root_choices": self.describe_roots()}

    def start(self, root_ids: Sequence[int]) -> None:
        """Start indexing the configured roots numbered ``root_ids``.

        Raises:
            QueryError: no roots are configured, a number is unknown, or a run is already going on.
        """
        if not self.roots:
            raise QueryError("this server has no folders to index (start it with --root FOLDER)")
        if not root_ids or any(not 0 <= number < len(self.roots) for number in root_ids):
            raise QueryError(f"choose roots by number, 0 to {len(self.roots) - 1}")
        chosen = [self.roots[number] for number in sorted(set(root_ids))]
        with self._lock:
            if self._status.state in (JobState.SCANNING, JobState.INDEXING):
                raise QueryError("an indexing run is already going on")
            self._status = JobStatus(state=JobState.SCANNING, roots=tuple(root.name for root in chosen))
            self._started = time.monotonic()
        threading.Thread(target=self._run, args=(chosen,), name="mmir-index", daemon=True).start()

    def _scrubbed(self, message: str) -> str:
        """``message`` with the collection's and the roots' absolute paths replaced by their folder names.

        Errors name the files they are about; a client sees folders by name only (as ``root_choices`` does).
        """
        folders = {*self.roots, self._directory.absolute(), *(p.resolve() for p in (*self.roots, self._directory))}
        for folder in sorted(folders, key=lambda path: -len(str(path))):  # deepest first: a root inside another
            for shown in {str(folder), display_path(folder)}:
                message = message.replace(shown, folder.name or "/")
        return message

    def _set(self, **changes: Any) -> None:
        with self._lock:
            self._status = replace(self._status, **changes)

    def _progress(self, done: int, to_do: int) -> None:
        with self._lock:  # a later run's first call resets; within a run the count only grows
            if to_do != self._status.to_do or done >= self._status.done:
                self._status = replace(self._status, done=done, to_do=to_do)

    def _run(self, roots: list[Path]) -> None:
        from mmir.media import scan

        try:
            found = sum(1 for root in roots for _entry in scan(str(root), on_problem=lambda _error: None))
            with Collection.open(self._directory) as collection:
                try:
                    self._handle = collection
                    self._set(state=JobState.INDEXING, found=found, media=collection.media_count())
                    options = IndexOptions(progress=False, on_progress=self._progress)
                    notes: list[object] = []  # text/speech a file could not fully give (damaged audio)
                    # OCR and speech run when the collection has them (it was indexed with --ocr / --speech), so
                    # files added from the page are found by their text and speech like the others.
                    text = collection.text_producers()
                    report = collection.index(roots, options, text=text, on_note=notes.append)
                    media, problems = collection.media_count(), len(report.problems) + len(notes)
                finally:
                    with self._lock:  # before the handle closes: a status() reading it finishes first (closing a
                        self._handle = None  # SQLite connection during another thread's read crashed the process)
            self._set(
                state=JobState.DONE, media=media, added=report.added, updated=report.updated,
                removed=report.removed, problems=problems, seconds=round(report.seconds, 1),
            )  # fmt: skip
        except MmirError as exc:
            self._set(state=JobState.FAILED, error=self._scrubbed(str(exc)))
        except Exception as exc:  # a background thread has no caller to raise to: report it to the UI
            self._set(state=JobState.FAILED, error=self._scrubbed(f"{type(exc).__name__}: {exc}"))
        finally:
            self._handle = None
