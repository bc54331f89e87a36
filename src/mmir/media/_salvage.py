"""Byte-level helpers for keeping valid pixels from damaged wrappings, and notes said once.

Used by :mod:`mmir.media.image`: a PNG whose text chunks break PIL's limits (a zTXt bomb) is decoded again
without them; a JPEG that ends with its end-of-image marker is complete, so damage inside it is corruption that
libjpeg decodes past, not truncation (which stays an error). Also used by :mod:`mmir.media.metadata`: a PNG's
EXIF is read from its chunk list, not by decoding its pixels as PIL does.
"""

from __future__ import annotations

import collections
import io
import logging
import struct
import threading
from collections.abc import Iterator
from typing import IO

from PIL import Image

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


_EXIF_MAX_BYTES = 1 << 22  # an eXIf chunk larger than this is not read (JPEG caps EXIF at 64 KB)
_CHUNKS_MAX = 200_000  # chunk headers walked looking for eXIf (~0.2 s): a PNG cut into more is read as without


def png_exif(fp: IO[bytes]) -> bytes | None:
    """The body of a PNG's ``eXIf`` chunk, before or after the pixels, or ``None``: chunk headers only, no pixels.

    Seeks over every other chunk, so a 9999² PNG costs a few reads; ``fp``'s position is restored.
    """
    start = fp.tell()
    try:
        fp.seek(0)
        if fp.read(8) != _PNG_SIGNATURE:
            return None
        for _ in range(_CHUNKS_MAX):
            head = fp.read(8)
            if len(head) < 8:
                return None
            length, kind = struct.unpack(">I4s", head)
            if kind == b"eXIf":
                body = fp.read(length) if length <= _EXIF_MAX_BYTES else b""
                return body if len(body) == length else None
            if kind == b"IEND":
                return None
            fp.seek(length + 4, io.SEEK_CUR)
        return None
    finally:
        fp.seek(start)


def png_exif_without_pixels(image: Image.Image) -> None:
    """Let ``image.getexif()`` of a PNG opened by PIL read EXIF without decoding every pixel.

    Why: PIL's ``PngImageFile.getexif`` loads the whole image to look for an ``eXIf`` chunk after the pixels; for
    a 9999² RGBA PNG that is 400 MB and seconds, just to read its metadata. Here the chunk is found by walking
    the chunk headers (:func:`png_exif`) and put where PIL looks first (``info["exif"]``, empty when there is
    none). Other images are left alone.
    """
    fp = getattr(image, "fp", None)
    if image.format != "PNG" or "exif" in image.info or fp is None:
        return
    body = png_exif(fp)
    image.info["exif"] = b"Exif\x00\x00" + body if body else b""


def is_complete_jpeg(data: bytes) -> bool:
    """A JPEG that ends with its end-of-image marker (damage inside it is not truncation)."""
    return data.startswith(b"\xff\xd8") and data.rstrip(b"\x00\r\n")[-2:] == b"\xff\xd9"
