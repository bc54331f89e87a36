"""File-system helpers shared by scanning and reading: stat a file and explain OS errors in words."""

from __future__ import annotations

import errno
import os
import stat

from mmir.media.errors import UnreadableMediaError

_REASONS = {
    errno.ENOENT: "no such file or directory",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EISDIR: "is a directory",
    errno.ELOOP: "too many levels of symbolic links",
    errno.ENOTDIR: "a parent of the path is not a directory",
    errno.ENAMETOOLONG: "file name too long",
}


def os_error_reason(exc: OSError) -> str:
    """Return a short reason for an :class:`OSError` raised while opening, listing or reading a path.

    Args:
        exc: The error.

    Returns:
        e.g. ``"no such file or directory"``, ``"permission denied"`` or ``"I/O error: ..."``.
    """
    if exc.errno in _REASONS:
        return _REASONS[exc.errno]
    detail = exc.strerror or str(exc) or type(exc).__name__
    return f"I/O error: {detail}"


def stat_path(path: str) -> os.stat_result:
    """Stat ``path``, following symlinks.

    Args:
        path: A path as ``str``.

    Returns:
        The stat result of the path (or of the symlink's target).

    Raises:
        UnreadableMediaError: The path is missing, a dangling symlink, or cannot be reached.
    """
    try:
        return os.stat(path)
    except OSError as exc:
        reason = os_error_reason(exc)
        if exc.errno == errno.ENOENT and os.path.islink(path):
            reason = "dangling symbolic link"
        raise UnreadableMediaError(path, reason) from exc


def stat_regular_file(path: str) -> os.stat_result:
    """Stat ``path`` (following symlinks) and check that it is a regular file.

    Args:
        path: A path as ``str``.

    Returns:
        The stat result of the file.

    Raises:
        UnreadableMediaError: The path is missing, a dangling symlink, a directory, or not a regular file
            (a FIFO or a device, which reading could block on).
    """
    st = stat_path(path)
    if stat.S_ISDIR(st.st_mode):
        raise UnreadableMediaError(path, "is a directory")
    if not stat.S_ISREG(st.st_mode):
        raise UnreadableMediaError(path, "not a regular file")
    return st


def is_within(path: str, folder: str) -> bool:
    """Whether ``path`` is ``folder`` or lies below it (both absolute and already resolved)."""
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def link_stays_within(path: str, folder: str) -> bool:
    """``False`` only when ``path`` is a symbolic link whose final target lies outside ``folder``.

    Links are resolved completely (a chain of links, ``..`` in targets), and ``folder`` too, so a root given
    through a link still contains its own files.
    """
    if not os.path.islink(path):
        return True
    return is_within(os.path.realpath(path), os.path.realpath(folder))
