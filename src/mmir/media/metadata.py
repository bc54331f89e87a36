"""The words a photo carries besides its pixels: file and folder names, embedded metadata, sidecar files.

Photo managers let people search ``IMG_2031 beach.jpg``'s "beach", an EXIF description, XMP/IPTC keywords
and a caption in ``photo.txt`` beside the file; mmir indexes the same text (SQLite FTS5, see
:mod:`mmir.index.metadata_text`). Everything here is best-effort: unreadable metadata yields no text rather than
failing the file (the pixels decide whether a file is usable), and every field is bounded in size.

Every source is untrusted: the parsers (:mod:`mmir.media._bounded`) are linear-time and depth-limited, each file
has a time budget (:data:`MAX_SECONDS`), any failure drops that source's text with a one-line note on the
``mmir.media`` logger, and a sidecar that is a symbolic link is read only when its target lies in the photo's own
folder (or below it), so a link to ``/etc/passwd`` cannot turn search into an oracle over the server's files.
"""

from __future__ import annotations

import enum
import io
import logging
import os
import re
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageFile, IptcImagePlugin, UnidentifiedImageError

from mmir.media._bounded import MetadataRefused, json_strings, xml_elements, xmp_packet
from mmir.media._fs import link_stays_within, os_error_reason
from mmir.media._salvage import png_exif_without_pixels
from mmir.media.errors import CorruptMediaError, UnreadableMediaError
from mmir.media.paths import display_path
from mmir.media.scan import SIDECAR_SUFFIXES

MAX_FIELD_CHARS = 4096  # per field: captions are short, and a huge sidecar must not bloat the catalog
MAX_SIDECAR_BYTES = 1 << 20
FOLDER_LEVELS = 2  # the file's folder and its parent: "2019/holiday/IMG_1.jpg" → "2019 holiday"
MAX_SECONDS = 2.0  # per file, all sources together; linear parsers over ≤ 1 MiB each take well under 0.1 s

log = logging.getLogger("mmir.media")

_EXIF_DESCRIPTION = 0x010E
_EXIF_IFD = 0x8769
_EXIF_USER_COMMENT = 0x9286
_XP_TAGS = {0x9C9B: "title", 0x9C9C: "comment", 0x9C9E: "keywords", 0x9C9F: "subject"}  # Windows, UTF-16LE
_IPTC_KEYWORDS, _IPTC_CAPTION, _IPTC_HEADLINE, _IPTC_OBJECT = (2, 25), (2, 120), (2, 105), (2, 5)
_XMP_TEXT_TAGS = {"subject": "keywords", "hierarchicalSubject": "keywords", "description": "description",
                  "title": "description", "Headline": "description", "UserComment": "description"}  # fmt: skip
_WORD_SPLIT = re.compile(r"[^\w]+|_")
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Za-z])(?=\d)|(?<=\d)(?=[A-Za-z])")


class TextField(str, enum.Enum):
    """The kinds of metadata text kept per file (one FTS5 column each)."""

    NAME = "name"  # tokenised file name and folder names
    DESCRIPTION = "description"  # EXIF ImageDescription / UserComment, XMP/IPTC captions and titles
    KEYWORDS = "keywords"  # XMP dc:subject, IPTC keywords, Windows XPKeywords
    SIDECAR = "sidecar"  # .txt / .json / .xmp files beside the photo


@dataclass(frozen=True)
class MetadataText:
    """The text of one file, by field; empty strings where it has none.

    ``taken``: when the photo was taken (EXIF ``DateTimeOriginal``, seconds since the epoch), or ``None``.
    """

    fields: dict[TextField, str]
    taken: float | None = None

    def get(self, field: TextField) -> str:
        """The text of ``field`` ("" when absent)."""
        return self.fields.get(field, "")


def name_words(path: str | os.PathLike[str]) -> str:
    """File stem and the names of its :data:`FOLDER_LEVELS` folders, split into words.

    ``"/p/2019/Summer_Holiday/IMG_2031 beach.jpg"`` → ``"2019 Summer Holiday IMG 2031 beach"``: underscores,
    punctuation, camelCase and letter–digit boundaries separate words.
    """
    p = Path(path)
    parts = [*p.parent.parts[-FOLDER_LEVELS:], p.stem] if p.parent.parts else [p.stem]
    words = [w for part in parts if part not in ("/", "") for w in _WORD_SPLIT.split(_CAMEL.sub(" ", part)) if w]
    return " ".join(words)


def sidecar_paths(path: str | os.PathLike[str], siblings: frozenset[str] | None = None) -> list[Path]:
    """Existing sidecar files of ``path``: ``photo.txt``/``.json``/``.xmp`` and ``photo.jpg.xmp`` etc.

    Args:
        path: The photo.
        siblings: The names in the photo's folder, if the caller listed it (one listing per folder instead of
            six ``stat`` calls per file: a no-change re-index of a large collection checks every file).
    """
    folder, name = os.path.split(os.fspath(path))
    names = [n for n in _sidecar_names(name, SIDECAR_SUFFIXES) if siblings is None or n in siblings]
    return [c for c in (Path(folder, n) for n in names) if _usable_sidecar(c)]


def _usable_sidecar(candidate: Path) -> bool:
    """A regular file, or a link to one inside the photo's folder (never a link out of it)."""
    return candidate.is_file() and link_stays_within(os.fspath(candidate), os.path.dirname(candidate))


def _sidecar_names(name: str, suffixes: tuple[str, ...], full_name_first: bool = False) -> list[str]:
    """Sidecar names of the file ``name``: ``stem<suffix>`` and ``name<suffix>`` (in that order unless
    ``full_name_first``), without repeats and never the file itself."""
    by_stem = [os.path.splitext(name)[0] + s for s in suffixes]
    by_name = [name + s for s in suffixes]
    ordered = by_name + by_stem if full_name_first else by_stem + by_name
    return [n for n in dict.fromkeys(ordered) if n != name]


def _read_capped(path: Path) -> bytes:
    """At most :data:`MAX_SIDECAR_BYTES` of a sidecar, so a huge file cannot exhaust memory."""
    with open(path, "rb") as handle:
        return handle.read(MAX_SIDECAR_BYTES)


def folder_names(folder: str | os.PathLike[str]) -> frozenset[str]:
    """The names in ``folder`` (empty when it cannot be listed)."""
    try:
        return frozenset(os.listdir(folder))
    except OSError:
        return frozenset()


def sidecar_signature(path: str | os.PathLike[str], siblings: frozenset[str] | None = None) -> str:
    """A string that changes whenever a sidecar of ``path`` appears, disappears or is modified."""
    parts = []
    for sidecar in sidecar_paths(path, siblings):
        try:
            stat = sidecar.stat()
        except OSError:
            continue
        parts.append(f"{sidecar.name}:{stat.st_size}:{stat.st_mtime_ns}")
    return "|".join(parts)


def read_sidecar(path: str | os.PathLike[str], suffixes: tuple[str, ...]) -> tuple[Path, str] | None:
    """The first sidecar of ``path`` that exists (``name.jpg<suffix>``, then ``name<suffix>``) and its text.

    At most :data:`MAX_SIDECAR_BYTES` are read, so a huge file cannot exhaust memory.

    Raises:
        CorruptMediaError: the sidecar is not UTF-8 text. UnreadableMediaError: it cannot be read.
    """
    folder, name = os.path.split(os.fspath(path))
    for sidecar in (Path(folder, n) for n in _sidecar_names(name, suffixes, full_name_first=True)):
        if not _usable_sidecar(sidecar):
            continue
        try:
            return sidecar, _read_capped(sidecar).decode("utf-8")
        except OSError as exc:
            raise UnreadableMediaError(str(sidecar), f"cannot read tags ({os_error_reason(exc)})") from exc
        except UnicodeDecodeError as exc:
            raise CorruptMediaError(str(sidecar), f"cannot read tags ({exc})") from exc
    return None


def _clip(text: str) -> str:
    return " ".join(text.split())[:MAX_FIELD_CHARS]


def _decode_user_comment(raw: bytes | str) -> str:
    """EXIF UserComment: an 8-byte character-code prefix, then the text."""
    if isinstance(raw, str):
        return raw
    code, body = raw[:8], raw[8:]
    encoding = "utf-8"  # ASCII, undefined (all zeros) and JIS codes: UTF-8 reads ASCII and replaces the rest
    if code.startswith(b"UNICODE"):
        encoding = "utf-16" if body[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-16-be"
        if body[:1] != b"\x00" and body[1:2] == b"\x00":  # no BOM, little-endian writers (most cameras)
            encoding = "utf-16-le"
    return body.decode(encoding, errors="replace").strip("\x00 ")


def _xp_text(raw: Any) -> str:
    data = bytes(raw) if isinstance(raw, (bytes, tuple, list)) else str(raw).encode()
    return data.decode("utf-16-le", errors="replace").strip("\x00 ")


def _exif_fields(image: Image.Image) -> Iterator[tuple[TextField, str]]:
    exif = image.getexif()
    if isinstance(exif.get(_EXIF_DESCRIPTION), str):
        yield TextField.DESCRIPTION, exif[_EXIF_DESCRIPTION]
    comment = exif.get_ifd(_EXIF_IFD).get(_EXIF_USER_COMMENT)
    if comment:
        yield TextField.DESCRIPTION, _decode_user_comment(comment)
    for tag, kind in _XP_TAGS.items():
        if tag in exif:
            yield TextField.KEYWORDS if kind == "keywords" else TextField.DESCRIPTION, _xp_text(exif[tag])


def _iptc_fields(image: ImageFile.ImageFile) -> Iterator[tuple[TextField, str]]:
    info = IptcImagePlugin.getiptcinfo(image) or {}
    for key, field in ((_IPTC_KEYWORDS, TextField.KEYWORDS), (_IPTC_CAPTION, TextField.DESCRIPTION),
                       (_IPTC_HEADLINE, TextField.DESCRIPTION), (_IPTC_OBJECT, TextField.DESCRIPTION)):  # fmt: skip
        values = info.get(key)
        for value in values if isinstance(values, list) else [values] if values else []:
            yield field, value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)


def xmp_fields(data: bytes, deadline: float = float("inf")) -> Iterator[tuple[TextField, str]]:
    """Keywords and captions of the XMP packet in ``data`` (``dc:subject``, ``dc:description``, ``dc:title``, …).

    Raises:
        ValueError: the packet breaks a limit (:class:`~mmir.media._bounded.MetadataRefused`) or is not XML
            (``ParseError`` is a ``SyntaxError``, also caught by the caller).
    """
    packet = xmp_packet(data)
    if packet is None:
        return
    for local, texts, attributes in xml_elements(packet, deadline):
        field = _XMP_TEXT_TAGS.get(local)
        if field is None:
            continue
        for text in [*texts, *(v for k, v in attributes.items() if k == local)]:
            yield TextField(field), text


def _embedded_fields(source: Path | io.BytesIO) -> tuple[list[tuple[TextField, str]], bytes | None, float | None]:
    """EXIF and IPTC text of an image, its raw XMP packet (parsed apart, so its failure keeps the rest), and when it
    was taken (EXIF)."""
    from mmir.media.capture_time import exif_capture_time

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PIL warns about odd EXIF; the text is best-effort
        with Image.open(source) as image:  # header only: no pixel decoding
            png_exif_without_pixels(image)  # else PIL decodes a PNG's every pixel to look for EXIF after them
            fields = [*_exif_fields(image), *_iptc_fields(image)]
            xmp = image.info.get("xmp") or image.info.get("XML:com.adobe.xmp")
            taken = exif_capture_time(image)
    return fields, (xmp.encode() if isinstance(xmp, str) else bytes(xmp)) if xmp else None, taken


def _sidecar_text(sidecar: Path, deadline: float) -> str:
    data = _read_capped(sidecar)
    if sidecar.suffix.lower() == ".xmp":
        return " ".join(text for _, text in xmp_fields(data, deadline))
    text = data.decode("utf-8", errors="replace")
    if sidecar.suffix.lower() == ".json":
        return " ".join(json_strings(text, deadline))
    return text


def _note(source: str | os.PathLike[str], exc: BaseException) -> None:
    """One line for a metadata source whose text was dropped (the file itself is kept)."""
    reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
    log.warning("%s: metadata text dropped (%s)", display_path(source), reason)


def extract_metadata_text(
    path: str | os.PathLike[str], siblings: frozenset[str] | None = None, data: bytes | None = None
) -> MetadataText:
    """All searchable text of one file (never raises for bad metadata; a missing file gives its name only).

    Args:
        path: The file.
        siblings: The names in the file's folder, when the caller listed it (see :func:`sidecar_paths`).
        data: The file's content when the caller has already read it (indexing), so it is not read again.
    """
    deadline = time.monotonic() + MAX_SECONDS
    found: dict[TextField, list[str]] = {TextField.NAME: [name_words(path)]}
    taken: float | None = None
    try:
        fields, xmp, taken = _embedded_fields(Path(path) if data is None else io.BytesIO(data))
    except (OSError, UnidentifiedImageError):
        fields, xmp = [], None  # not an image, or unreadable: the pixels' decode reports the file, not this
    except Exception as exc:  # any parser failure (recursion, memory, limits, bad values): drop, say so, go on
        fields, xmp = [], None
        _note(path, exc)
    if xmp is not None:
        try:
            fields += list(xmp_fields(xmp, deadline))  # all or nothing
        except Exception as exc:
            _note(path, exc)
    for field, text in fields:
        found.setdefault(field, []).append(text)
    for sidecar in sidecar_paths(path, siblings):
        try:
            if time.monotonic() > deadline:
                raise MetadataRefused(f"over the per-file time budget of {MAX_SECONDS:g} s")
            found.setdefault(TextField.SIDECAR, []).append(_sidecar_text(sidecar, deadline))
        except OSError:
            continue  # vanished or unreadable since it was listed: no text, as if it were not there
        except Exception as exc:
            _note(sidecar, exc)
    return MetadataText({field: _clip(" ".join(dict.fromkeys(texts))) for field, texts in found.items()}, taken)
