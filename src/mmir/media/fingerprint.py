"""Content fingerprints of media files."""

from __future__ import annotations

import hashlib


def sha1_bytes(data: bytes) -> str:
    """Return the hex SHA-1 digest of ``data``.

    Args:
        data: File content.

    Returns:
        40 lower-case hexadecimal characters.
    """
    return hashlib.sha1(data, usedforsecurity=False).hexdigest()
