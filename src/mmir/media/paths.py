"""Path helpers: printable names and a lossless bytes form for file names that are not UTF-8."""

from __future__ import annotations

import os


def _as_str(path: str | bytes | os.PathLike[str] | os.PathLike[bytes]) -> str:
    """Return ``path`` as a ``str`` (bytes are decoded with the file-system encoding)."""
    raw = os.fspath(path)
    return os.fsdecode(raw) if isinstance(raw, bytes) else raw


def display_path(path: str | bytes | os.PathLike[str] | os.PathLike[bytes]) -> str:
    """Return a printable form of ``path`` for messages; never raises.

    Bytes that are not valid UTF-8 (kept in a ``str`` as surrogate escapes by :func:`os.fsdecode`) are
    shown as ``\\xNN``; other non-printable characters (newlines, control codes) are shown escaped too.

    Args:
        path: A path as ``str``, ``bytes`` or path-like object.

    Returns:
        A string that can be written to any UTF-8 terminal or log.
    """
    try:
        text = _as_str(path)
        raw = text.encode("utf-8", "surrogateescape")
        text = raw.decode("utf-8", "backslashreplace")
    except Exception:  # lone surrogates that are not escapes, odd path-like objects: fall back to repr
        try:
            text = repr(path)
        except Exception:
            return "<unprintable path>"
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)


def path_to_bytes(path: str | bytes | os.PathLike[str] | os.PathLike[bytes]) -> bytes:
    """Encode ``path`` to the exact bytes the operating system uses (lossless, see :func:`bytes_to_path`).

    Args:
        path: A path as ``str`` (possibly holding surrogate escapes), ``bytes`` or path-like object.

    Returns:
        The file-system bytes of the path, suitable for storing as a BLOB.
    """
    return os.fsencode(path)


def bytes_to_path(data: bytes) -> str:
    """Decode file-system bytes back to a ``str`` path; inverse of :func:`path_to_bytes`.

    Args:
        data: Bytes produced by :func:`path_to_bytes`.

    Returns:
        A ``str`` path that opens the same file (non-UTF-8 bytes become surrogate escapes).
    """
    return os.fsdecode(data)
