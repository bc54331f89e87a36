"""Errors raised when a media file cannot be used; each one names the file and says why."""

from __future__ import annotations

import os

from mmir.errors import MmirError
from mmir.media.paths import display_path


class MediaError(MmirError):
    """A media file could not be read or decoded.

    Attributes:
        path: The file's path as a ``str`` (non-UTF-8 bytes kept as surrogate escapes).
        reason: A short human-readable reason, e.g. ``"zero-byte file"``.
    """

    def __init__(self, path: str | bytes | os.PathLike[str] | os.PathLike[bytes], reason: str) -> None:
        raw = os.fspath(path)
        self.path: str = os.fsdecode(raw) if isinstance(raw, bytes) else raw
        self.reason: str = reason
        # args hold both values so that the error survives pickling (e.g. from data-loader workers)
        super().__init__(self.path, reason)

    def __str__(self) -> str:
        return f"{display_path(self.path)}: {self.reason}"


class UnreadableMediaError(MediaError):
    """The file cannot be read: missing, permission denied, a directory, a dangling symlink, an I/O error."""


class EmptyMediaError(MediaError):
    """The file has zero bytes."""


class CorruptMediaError(MediaError):
    """The file is truncated, undecodable, or not an image despite its extension."""


class TooLargeMediaError(MediaError):
    """The file has too many bytes, or its image has too many pixels (a decompression bomb)."""
