"""Content fingerprints of media files."""

from __future__ import annotations

import hashlib

from mmir.media._fs import os_error_reason
from mmir.media.errors import UnreadableMediaError


def sha1_bytes(data: bytes) -> str:
    """Return the hex SHA-1 digest of ``data``.

    Args:
        data: File content.

    Returns:
        40 lower-case hexadecimal characters.
    """
    return hashlib.sha1(data, usedforsecurity=False).hexdigest()


def sha1_file(path: str) -> str:
    """The hex SHA-1 of a file read in 1 MiB blocks (for media too large to hold in memory, e.g. videos).

    Raises:
        UnreadableMediaError: The file cannot be read (the reason names the OS error).
    """
    digest = hashlib.sha1(usedforsecurity=False)
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(2**20), b""):
                digest.update(block)
    except OSError as exc:
        raise UnreadableMediaError(path, os_error_reason(exc)) from exc
    return digest.hexdigest()
