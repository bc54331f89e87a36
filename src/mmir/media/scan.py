"""Walk a root (a directory or one media file) and list the media files under it, in sorted order."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from mmir.media._fs import os_error_reason, stat_path, stat_regular_file
from mmir.media.errors import MediaError, UnreadableMediaError
from mmir.types import MediaKind

IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff"}
)
"""Extensions (lower case, with the dot) of the image files that :func:`scan` lists."""

VIDEO_EXTENSIONS: frozenset[str] = frozenset({".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v"})
"""Extensions (lower case, with the dot) of the video files that :func:`scan` lists."""

ProblemHandler = Callable[[MediaError], None]


@dataclass(frozen=True)
class FileEntry:
    """One media file found by :func:`scan`.

    Attributes:
        path: Absolute, normalised path; for a symlink this is the link's own path, not its target's.
        size: Size in bytes (of the target, for a symlink).
        mtime: Modification time in seconds since the epoch (of the target, for a symlink).
        kind: Image or video.
    """

    path: str
    size: int
    mtime: float
    kind: MediaKind


def _media_kind(name: str) -> MediaKind | None:
    """Return the kind a file name's extension stands for, or ``None`` when it is not indexed."""
    ext = os.path.splitext(name)[1].lower()
    if ext in IMAGE_EXTENSIONS:
        return MediaKind.IMAGE
    return MediaKind.VIDEO if ext in VIDEO_EXTENSIONS else None


def _entry_for(path: str, kind: MediaKind) -> FileEntry:
    """Stat ``path`` (following a final symlink) and build its entry.

    Raises:
        UnreadableMediaError: The path is missing, a dangling symlink, a directory or not a regular file.
    """
    st = stat_regular_file(path)
    return FileEntry(path=path, size=st.st_size, mtime=st.st_mtime, kind=kind)


def _sort_key(entry: os.DirEntry[str]) -> str:
    """Sort key that makes a depth-first walk yield paths in plain string order.

    A directory ``d`` sorts as ``"d/"`` so that its files (``root/d/...``) fall where their full paths sort
    among its siblings (``root/d.jpg`` < ``root/d/x.jpg`` because ``"."`` < ``"/"``).
    """
    try:
        is_dir = entry.is_dir(follow_symlinks=False)
    except OSError:
        is_dir = False
    return entry.name + "/" if is_dir else entry.name


def _list_dir(directory: str) -> list[os.DirEntry[str]]:
    """Return the visible entries of ``directory``, sorted by :func:`_sort_key`."""
    with os.scandir(directory) as it:
        entries = [entry for entry in it if not entry.name.startswith(".")]
    entries.sort(key=_sort_key)
    return entries


def _list_root(directory: str) -> list[os.DirEntry[str]]:
    """List the root directory, raising :class:`UnreadableMediaError` when it cannot be listed."""
    try:
        return _list_dir(directory)
    except OSError as exc:
        raise UnreadableMediaError(directory, os_error_reason(exc)) from exc


def _walk(directory: str, on_problem: ProblemHandler) -> Iterator[FileEntry]:
    """Yield the media files under a subdirectory, reporting it to ``on_problem`` when it cannot be listed."""
    try:
        entries = _list_dir(directory)
    except OSError as exc:
        on_problem(UnreadableMediaError(directory, os_error_reason(exc)))
        return
    yield from _walk_entries(directory, entries, on_problem)


def _walk_entries(
    directory: str, entries: list[os.DirEntry[str]], on_problem: ProblemHandler
) -> Iterator[FileEntry]:
    """Yield the media files among ``entries`` of ``directory`` depth-first, in sorted path order."""
    for entry in entries:
        path = os.path.join(directory, entry.name)
        try:
            if entry.is_dir(follow_symlinks=False):
                yield from _walk(path, on_problem)
                continue
        except OSError as exc:
            on_problem(UnreadableMediaError(path, os_error_reason(exc)))
            continue
        kind = _media_kind(entry.name)
        if kind is None:
            continue
        if entry.is_symlink() and os.path.isdir(path):
            continue  # symlinked directories are not followed (no loops, no escaping the root)
        try:
            yield _entry_for(path, kind)
        except UnreadableMediaError as error:
            on_problem(error)


def _ignore(_: MediaError) -> None:
    """Default problem handler: skip the file silently."""


def scan(
    root: str | bytes | os.PathLike[str] | os.PathLike[bytes],
    *,
    on_problem: ProblemHandler | None = None,
) -> Iterator[FileEntry]:
    """List the image and video files under ``root`` in sorted path order.

    Hidden files and directories (names starting with ``"."``, such as the collection's own ``.mmir``) are
    skipped, symlinked directories are not followed, symlinked files are listed under the link's path.
    Extensions are matched case-insensitively; files with other extensions are ignored silently.

    Args:
        root: A directory (walked recursively) or a single image file. A symlink given as the root is
            followed.
        on_problem: Called with an :class:`UnreadableMediaError` for each image-named entry or subdirectory
            that cannot be used (dangling symlink, permission denied, ...); the walk then goes on.
            ``None`` skips such entries silently.

    Returns:
        An iterator of one :class:`FileEntry` per image file, ordered by ``path``. Subdirectories are read
        lazily, as the iterator is consumed.

    Raises:
        UnreadableMediaError: ``root`` is missing or cannot be listed (raised by the call, not lazily).
        MediaError: ``root`` is a file without an image extension.
    """
    raw = os.fspath(root)
    path = os.path.abspath(os.fsdecode(raw) if isinstance(raw, bytes) else raw)
    handler = on_problem if on_problem is not None else _ignore
    st = stat_path(path)
    if stat.S_ISDIR(st.st_mode):
        entries = _list_root(path)  # fail now, not on the first next(), when the root cannot be listed
        return _walk_entries(path, entries, handler)
    kind = _media_kind(path)
    if kind is None:
        ext = os.path.splitext(path)[1] or "no extension"
        raise MediaError(
            path,
            f"not an image or video file ({ext}); expected one of "
            f"{', '.join(sorted(IMAGE_EXTENSIONS | VIDEO_EXTENSIONS))}",
        )
    return iter([_entry_for(path, kind)])
