"""Byte-level helpers for keeping valid pixels from damaged wrappings, and notes said once.

Used by :mod:`mmir.media.image`: a PNG whose text chunks break PIL's limits (a zTXt bomb) is decoded again
without them; a JPEG that ends with its end-of-image marker is complete, so damage inside it is corruption that
libjpeg decodes past, not truncation (which stays an error).
"""

from __future__ import annotations

import collections
import logging
import struct
import threading
from collections.abc import Iterator

log = logging.getLogger("mmir.media")

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_TEXT_CHUNKS = (b"tEXt", b"zTXt", b"iTXt")

_recent_notes: collections.OrderedDict[str, None] = collections.OrderedDict()
_notes_lock = threading.Lock()


def note_once(message: str) -> None:
    """Log a note unless it was among the last 256 (indexing probes a file, then decodes it for the model)."""
    with _notes_lock:
        if message in _recent_notes:
            return
        _recent_notes[message] = None
        if len(_recent_notes) > 256:
            _recent_notes.popitem(last=False)
    log.warning("%s", message)


def _png_chunks(data: bytes) -> Iterator[tuple[bytes, int, int]]:
    """``(type, start, end)`` of each chunk of a PNG (``data[start:end]`` is the whole chunk, CRC included).

    Walks the chunk list by its length fields (linear); a damaged chunk list ends the walk.
    """
    position = 8
    while position + 12 <= len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        end = position + 12 + length
        yield data[position + 4 : position + 8], position, min(end, len(data))
        position = end


def without_png_text(data: bytes) -> bytes | None:
    """``data`` with its PNG text chunks (tEXt, zTXt, iTXt) removed, or ``None`` if it is no PNG or has none.

    Walks the chunk list by its length fields (linear); a damaged chunk list ends the walk and keeps the rest.
    """
    if not data.startswith(_PNG_SIGNATURE):
        return None
    kept, position, dropped = [data[:8]], 8, False
    for kind, start, end in _png_chunks(data):
        if kind in _PNG_TEXT_CHUNKS:
            dropped = True
        else:
            kept.append(data[start:end])
        position = end
    kept.append(data[position:])
    return b"".join(kept) if dropped else None


def png_exif(data: bytes) -> bytes | None:
    """The body of a PNG's ``eXIf`` chunk (before or after the pixels), or ``None``: read without decoding."""
    if not data.startswith(_PNG_SIGNATURE):
        return None
    for kind, start, end in _png_chunks(data):
        if kind == b"eXIf":
            return data[start + 8 : end - 4]
    return None


def is_complete_jpeg(data: bytes) -> bool:
    """A JPEG that ends with its end-of-image marker (damage inside it is not truncation)."""
    return data.startswith(b"\xff\xd8") and data.rstrip(b"\x00\r\n")[-2:] == b"\xff\xd9"
