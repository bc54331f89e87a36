"""When a photo was taken, from its EXIF: ``DateTimeOriginal`` (else ``DateTimeDigitized``), with its offset.

Photo managers (immich, PhotoPrism) filter and sort by this date rather than the file's modification time, which
a copy or a backup restore resets. EXIF writes ``"YYYY:MM:DD HH:MM:SS"`` in the camera's local time; the optional
``OffsetTimeOriginal`` (``"+02:00"``) says which zone that was, and without it the time is read as local time.
Best-effort like all metadata: a missing, blank (``"0000:00:00 00:00:00"``) or malformed date gives ``None``.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image

_EXIF_IFD = 0x8769
_ORIGINAL, _DIGITIZED = 0x9003, 0x9004
_OFFSETS = {_ORIGINAL: 0x9011, _DIGITIZED: 0x9012}  # OffsetTimeOriginal, OffsetTimeDigitized
_DATE = re.compile(r"^\s*(\d{4})[:\-](\d{2})[:\-](\d{2})[ T](\d{2}):(\d{2}):(\d{2})")
_OFFSET = re.compile(r"^\s*([+-])(\d{2}):?(\d{2})\s*$")


def exif_capture_time(image: Image.Image) -> float | None:
    """Seconds since the epoch at which ``image`` was taken, from its EXIF, or ``None``."""
    exif = image.getexif().get_ifd(_EXIF_IFD)
    for tag in (_ORIGINAL, _DIGITIZED):
        moment = parse_exif_time(exif.get(tag), exif.get(_OFFSETS[tag]))
        if moment is not None:
            return moment
    return None


def parse_exif_time(value: object, offset: object = None) -> float | None:
    """An EXIF date-time string (and its optional ``±HH:MM`` offset) as seconds since the epoch, or ``None``."""
    if isinstance(value, bytes):
        value = value.decode("ascii", errors="replace")
    match = _DATE.match(value) if isinstance(value, str) else None
    if match is None:
        return None
    try:
        year, month, day, hour, minute, second = (int(part) for part in match.groups())
        moment = datetime(year, month, day, hour, minute, second)
    except ValueError:  # "0000:00:00 00:00:00" or an impossible date
        return None
    zone = _OFFSET.match(offset) if isinstance(offset, str) else None
    if zone is not None:
        sign = 1 if zone.group(1) == "+" else -1
        delta = timedelta(hours=int(zone.group(2)), minutes=int(zone.group(3)))
        moment = moment.replace(tzinfo=timezone(sign * delta))
    try:
        return moment.timestamp()
    except (OverflowError, OSError, ValueError):
        return None
