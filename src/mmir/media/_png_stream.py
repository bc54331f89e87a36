"""Large PNGs decoded as a stream of rows and box-reduced band by band, never held whole.

Why: PNG has no reduced-size decoding, so PIL inflates a 9999² PNG into one full-size buffer (400 MB for RGBA,
200 MB for 16-bit grey) before anything can be reduced, and that inflate is most of the time (about 1.6 s of CPU
for a 9999² RGBA here). libvips (``pyvips``, optional: the ``png`` extra) reads a PNG sequentially, in about a
third of that CPU, and writes its raw rows, in order, to a callback (``rawsave_target``: one pipeline; cutting
the image into crops instead fails with "out of order read" unless each crop is aligned to libvips' strips). The
rows are gathered into bands, and each band is made 8-bit and box-reduced with PIL
(:class:`~mmir.media._pixels.BandReducer`, the same reduction as the in-memory path, alpha premultiplied), so the
result is bit-identical to it. The peak is one band (~4 MB, or ``factor`` rows when more) and libvips' threads
(37-54 MB measured for 9999² images), plus the small result, whatever the image size.

libvips only speeds things up: where it is missing, or declines a file (damaged, truncated: ``fail_on="error"``),
the caller decodes with PIL as before and PIL's error names the problem.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
from types import ModuleType

import numpy as np
from PIL import Image

from mmir.media._pixels import BandReducer
from mmir.media._salvage import note_once, without_png_text

log = logging.getLogger("mmir.media")

_BAND_BYTES = 1 << 22  # decoded bytes gathered before a band is reduced
_MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}  # band count → PIL mode


@functools.cache
def _vips() -> ModuleType | None:
    """The ``pyvips`` module with its operation cache off, or ``None`` (not installed, or libvips would not load)."""
    if importlib.util.find_spec("pyvips") is None:
        return None
    try:
        import pyvips
    except Exception as exc:  # the binding is installed but its libvips is not (OSError, or pyvips' own Error)
        note_once(f"pyvips is installed but libvips did not load ({exc}); large PNGs decode with PIL (slower)")
        return None
    pyvips.cache_set_max(0)  # each file is decoded once: a cache would only keep its pixels alive
    return pyvips


def available() -> bool:
    """Whether large PNGs can be streamed here (``pyvips`` with a working libvips)."""
    return _vips() is not None


def stream_cost(width: int) -> int:
    """Bytes a streamed decode of a ``width``-wide image holds at most: two bands (a gathered one, its 8-bit copy)."""
    return 2 * max(_BAND_BYTES, width * 8)


def reduce_png(data: bytes, factor: int) -> Image.Image | None:
    """Decode a PNG row by row into 8-bit ``L``/``LA``/``RGB``/``RGBA`` box-reduced by ``factor``.

    Palette and tRNS transparency are expanded (to RGB/RGBA/LA), 16-bit samples become 8-bit as PIL makes them
    (grey: value // 257; colour and grey+alpha: the high byte). Text chunks are not read (they are metadata's).

    Args:
        data: The whole PNG file.
        factor: The box-reduction factor (≥ 1).

    Returns:
        The reduced image (alpha not yet composited), or ``None`` when libvips is missing or declines the file.
    """
    vips = _vips()
    if vips is None:
        return None
    try:
        source = vips.Image.pngload_buffer(without_png_text(data) or data, access="sequential", fail_on="error")
        if source.bands not in _MODES or source.format not in ("uchar", "ushort"):
            return None
        sink = _BandSink(source.width, source.height, source.bands, source.format == "ushort", factor)
        target = vips.TargetCustom()
        target.on_write(sink.write)
        source.rawsave_target(target)
        return sink.finish()
    except vips.Error as exc:  # damaged or truncated: PIL decodes again and names the problem
        log.debug("libvips declined a PNG (%s); decoding with PIL", str(exc).strip().replace("\n", " "))
        return None


class _BandSink:
    """Gathers raw rows written by libvips into bands of a multiple of ``factor`` rows and reduces each band."""

    def __init__(self, width: int, height: int, channels: int, deep: bool, factor: int) -> None:
        self.width, self.height, self.channels, self.deep = width, height, channels, deep
        self.row_bytes = width * channels * (2 if deep else 1)
        self.rows = max(factor, _BAND_BYTES // self.row_bytes // factor * factor)
        self.band = bytearray(self.rows * self.row_bytes)
        self.filled = 0
        self.rows_done = 0
        self.reducer = BandReducer((width, height), _MODES[channels], factor)
        self.error: Exception | None = None

    def write(self, chunk: bytes) -> int:
        """libvips' write callback: the next raw bytes of the image, in row order. Returns the bytes taken, or -1."""
        try:
            view = memoryview(chunk)
            while view:
                take = min(len(view), len(self.band) - self.filled)
                self.band[self.filled : self.filled + take] = view[:take]
                self.filled += take
                view = view[take:]
                if self.filled == len(self.band):
                    self._reduce()
            return len(chunk)
        except Exception as exc:  # raised again by finish(): libvips only sees a failed write
            self.error = exc
            return -1

    def finish(self) -> Image.Image:
        """The reduced image, after the last rows (raises what a write raised; libvips declined short data)."""
        if self.error is not None:
            raise self.error
        if self.filled:
            self._reduce()
        if self.rows_done != self.height:
            raise _vips_error(f"libvips wrote {self.rows_done} of {self.height} rows")
        return self.reducer.image

    def _reduce(self) -> None:
        count = self.filled // self.row_bytes
        if not self.deep:  # the band's first `count` rows, shared, not copied (reduced before the next write)
            mode = _MODES[self.channels]
            self.reducer.add(Image.frombuffer(mode, (self.width, count), self.band, "raw", mode, 0, 1))
        else:
            samples = np.frombuffer(self.band, dtype=np.uint16, count=count * self.row_bytes // 2)
            samples = samples.reshape(count, self.width, self.channels)
            # Grey as PIL's 16-bit path scales it (// 257); colour and grey+alpha as PIL unpacks them (high byte).
            eight = (samples // 257 if self.channels == 1 else samples >> 8).astype(np.uint8)
            self.reducer.add(Image.fromarray(eight[:, :, 0] if self.channels == 1 else eight))
        self.rows_done += count
        self.filled = 0


def _vips_error(message: str) -> Exception:
    vips = _vips()
    assert vips is not None
    return vips.Error(message)
