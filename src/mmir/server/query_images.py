"""Query images kept by content hash for a while, so that a ``?image=HASH`` link works after a reload or when shared.

Only images that were decoded and searched are kept (the upload route keeps them after the search succeeds). They
live under the collection directory (``queries/``), one file per SHA-1, for ``keep_s`` seconds after their last
use, at most ``max_files`` of them (the oldest go first).
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from pathlib import Path

from mmir.media.files import write_atomic

CACHE_FOLDER = "queries"
KEY = re.compile(r"[0-9a-f]{40}")
_MAGIC = ((b"\xff\xd8\xff", "image/jpeg"), (b"\x89PNG\r\n\x1a\n", "image/png"), (b"GIF8", "image/gif"),
          (b"BM", "image/bmp"), (b"II*\x00", "image/tiff"), (b"MM\x00*", "image/tiff"))  # fmt: skip


def image_type(data: bytes) -> str:
    """The MIME type of image bytes from their first bytes (``application/octet-stream`` when unknown)."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return next((kind for magic, kind in _MAGIC if data.startswith(magic)), "application/octet-stream")


class QueryImages:
    """Uploaded query images on disk, by SHA-1.

    Args:
        directory: Where they are kept (``<collection>/queries``).
        keep_s: Seconds a kept image lives after its last use.
        max_files: Most images kept at once.
    """

    def __init__(self, directory: Path, keep_s: float = 7 * 86400.0, max_files: int = 500) -> None:
        self.directory = directory
        self.keep_s = keep_s
        self.max_files = max_files

    def keep(self, data: bytes) -> str:
        """Keep ``data`` and return its key (its SHA-1 in hex); an image kept already is only refreshed.

        Raises:
            OSError: it cannot be written (the caller still has its search answer).
        """
        key = hashlib.sha1(data).hexdigest()
        path = self.directory / key
        if path.is_file():
            os.utime(path)
            return key
        write_atomic(path, data)
        self._prune()
        return key

    def get(self, key: str) -> bytes | None:
        """The image kept under ``key``, or ``None`` (unknown, malformed or expired); a use refreshes it."""
        if not KEY.fullmatch(key):
            return None
        path = self.directory / key
        try:
            if time.time() - path.stat().st_mtime > self.keep_s:
                path.unlink(missing_ok=True)
                return None
            data = path.read_bytes()
            os.utime(path)
        except OSError:
            return None
        return data if hashlib.sha1(data).hexdigest() == key else None

    def _prune(self) -> None:
        """Drop expired images, then the least recently used beyond ``max_files``."""
        now = time.time()
        entries = []
        for path in self.directory.iterdir():
            try:
                mtime = path.stat().st_mtime
            except OSError:
                continue
            if not KEY.fullmatch(path.name) or now - mtime > self.keep_s:
                if now - mtime > 60 or KEY.fullmatch(path.name):  # a fresh .part may belong to another writer
                    path.unlink(missing_ok=True)
                continue
            entries.append((mtime, path))
        for _mtime, path in sorted(entries)[: max(0, len(entries) - self.max_files)]:
            path.unlink(missing_ok=True)
