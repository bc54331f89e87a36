"""Walk a root (a directory or one media file) and list the media files under it, in sorted order."""

from __future__ import annotations

import enum
import functools
import logging
import os
import stat
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from mmir.media._fs import link_stays_within, os_error_reason, stat_path, stat_regular_file
from mmir.media.errors import MediaError, UnreadableMediaError
from mmir.media.paths import display_path
from mmir.types import MediaKind

IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".apng", ".gif", ".bmp", ".dib", ".webp", ".tif", ".tiff"}
)
"""Extensions (lower case, with the dot) of the common image files; :func:`scan` lists these and whatever else
the installed PIL plugins open (:func:`image_extensions`)."""

VIDEO_EXTENSIONS: frozenset[str] = frozenset(
    {".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".3gp", ".3g2", ".mpg", ".mpeg", ".m2v", ".mts", ".m2ts",
     ".wmv", ".asf", ".flv", ".f4v", ".ogv", ".vob", ".mxf", ".dv"}
)  # fmt: skip
"""Extensions (lower case, with the dot) of the video files that :func:`scan` lists: containers FFmpeg demuxes
(``.ts`` is left out: it names TypeScript sources far more often than MPEG transport streams)."""

SIDECAR_SUFFIXES = (".txt", ".json", ".xmp")
"""Companion files read with a photo (its metadata text), so never reported as skipped media."""

# PIL formats whose plugin only identifies the file (no decoder: BUFR, GRIB, HDF5, WMF off Windows), that need
# an external program (EPS: Ghostscript), or that are not images (MPEG: video, listed as such; IPTC: metadata).
_NOT_DECODED_BY_PIL = frozenset({"BUFR", "GRIB", "HDF5", "WMF", "EPS", "MPEG", "IPTC"})

ProblemHandler = Callable[[MediaError], None]


class SkipReason(str, enum.Enum):
    """Why :func:`scan` passed over a file without listing it."""

    EXTENSION = "not an image or video extension"
    LINK_OUTSIDE_ROOT = "symbolic link to a file outside the indexed root (not followed)"


SkipHandler = Callable[[str, SkipReason], None]

log = logging.getLogger("mmir.media")


def report_skipped(skipped: Sequence[tuple[str, SkipReason]]) -> None:
    """Say once what a run's scans passed over: one line per reason, each file at ``DEBUG`` (``--verbose``).

    Links out of a root are a ``WARNING`` (someone may expect them indexed, or be probing); other extensions are
    ``INFO`` (a folder of photos often holds documents too).
    """
    by_reason: dict[SkipReason, list[str]] = {}
    for path, reason in skipped:
        by_reason.setdefault(reason, []).append(path)
    for reason, paths in by_reason.items():
        for path in paths:
            log.debug("skipped %s: %s", display_path(path), reason.value)
        level = logging.WARNING if reason is SkipReason.LINK_OUTSIDE_ROOT else logging.INFO
        plural = "file" if len(paths) == 1 else "files"
        log.log(level, "%d %s skipped: %s (--verbose lists them)", len(paths), plural, reason.value)


@functools.cache
def image_extensions() -> frozenset[str]:
    """:data:`IMAGE_EXTENSIONS` plus every extension an installed PIL plugin opens and decodes.

    Computed on first use (it imports all of PIL's plugins), e.g. ``.avif``, ``.qoi``, ``.tga``, ``.ico``,
    ``.jp2``, ``.psd``, ``.ppm``; with ``pillow-heif`` installed also ``.heic``/``.heif``.
    """
    from PIL import Image

    from mmir.media.image import register_optional_plugins

    register_optional_plugins()
    found = {ext for ext, fmt in Image.registered_extensions().items()
             if fmt in Image.OPEN and fmt not in _NOT_DECODED_BY_PIL}  # fmt: skip
    return IMAGE_EXTENSIONS | frozenset(found) - VIDEO_EXTENSIONS


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
    if ext in VIDEO_EXTENSIONS:
        return MediaKind.VIDEO
    return MediaKind.IMAGE if ext in image_extensions() else None


@dataclass(frozen=True)
class _Walk:
    """What every level of one walk shares: the resolved root and the two handlers."""

    root: str
    on_problem: ProblemHandler
    on_skip: SkipHandler


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


def _walk(directory: str, walk: _Walk) -> Iterator[FileEntry]:
    """Yield the media files under a subdirectory, reporting it to ``on_problem`` when it cannot be listed."""
    try:
        entries = _list_dir(directory)
    except OSError as exc:
        walk.on_problem(UnreadableMediaError(directory, os_error_reason(exc)))
        return
    yield from _walk_entries(directory, entries, walk)


def _walk_entries(directory: str, entries: list[os.DirEntry[str]], walk: _Walk) -> Iterator[FileEntry]:
    """Yield the media files among ``entries`` of ``directory`` depth-first, in sorted path order."""
    for entry in entries:
        path = os.path.join(directory, entry.name)
        try:
            if entry.is_dir(follow_symlinks=False):
                yield from _walk(path, walk)
                continue
        except OSError as exc:
            walk.on_problem(UnreadableMediaError(path, os_error_reason(exc)))
            continue
        if entry.is_symlink():
            if os.path.isdir(path):
                continue  # symlinked directories are not followed (no loops, no escaping the root)
            if not link_stays_within(path, walk.root):
                walk.on_skip(path, SkipReason.LINK_OUTSIDE_ROOT)  # images and sidecars alike
                continue
        kind = _media_kind(entry.name)
        if kind is None:
            if not entry.name.lower().endswith(SIDECAR_SUFFIXES):
                walk.on_skip(path, SkipReason.EXTENSION)
            continue
        try:
            yield _entry_for(path, kind)
        except UnreadableMediaError as error:
            walk.on_problem(error)


def _ignore(_: MediaError) -> None:
    """Default problem handler: skip the file silently."""


def _ignore_skip(_: str, __: SkipReason) -> None:
    """Default skip handler: say nothing."""


def scan(
    root: str | bytes | os.PathLike[str] | os.PathLike[bytes],
    *,
    on_problem: ProblemHandler | None = None,
    on_skip: SkipHandler | None = None,
) -> Iterator[FileEntry]:
    """List the image and video files under ``root`` in sorted path order.

    Hidden files and directories (names starting with ``"."``, such as the collection's own ``.mmir``) are
    skipped, symlinked directories are not followed, symlinked files are listed under the link's path when their
    target lies inside ``root`` (a link out of the root is never followed). Extensions are matched
    case-insensitively (:func:`image_extensions`, :data:`VIDEO_EXTENSIONS`).

    Args:
        root: A directory (walked recursively) or a single image file. A symlink given as the root is
            followed.
        on_problem: Called with an :class:`UnreadableMediaError` for each image-named entry or subdirectory
            that cannot be used (dangling symlink, permission denied, ...); the walk then goes on.
            ``None`` skips such entries silently.
        on_skip: Called with ``(path, reason)`` for each file passed over: another extension (sidecars and
            hidden files aside) or a symbolic link out of the root. ``None`` says nothing.

    Returns:
        An iterator of one :class:`FileEntry` per image file, ordered by ``path``. Subdirectories are read
        lazily, as the iterator is consumed.

    Raises:
        UnreadableMediaError: ``root`` is missing or cannot be listed (raised by the call, not lazily).
        MediaError: ``root`` is a file without an image extension.
    """
    raw = os.fspath(root)
    path = os.path.abspath(os.fsdecode(raw) if isinstance(raw, bytes) else raw)
    walk = _Walk(os.path.realpath(path), on_problem or _ignore, on_skip or _ignore_skip)
    st = stat_path(path)
    if stat.S_ISDIR(st.st_mode):
        entries = _list_root(path)  # fail now, not on the first next(), when the root cannot be listed
        return _walk_entries(path, entries, walk)
    kind = _media_kind(path)
    if kind is None:
        ext = os.path.splitext(path)[1] or "no extension"
        raise MediaError(
            path,
            f"not an image or video file ({ext}); expected one of "
            f"{', '.join(sorted(IMAGE_EXTENSIONS | VIDEO_EXTENSIONS))} (and other formats PIL opens)",
        )
    return iter([_entry_for(path, kind)])
