"""Decoded pixels → small 8-bit RGB in bounded memory, and a memory budget shared by concurrent decodes.

Why: a 9999² 16-bit grey PNG is 210 KB on disk and 200 MB decoded; converting it whole (``int64`` copies, then
clipping) peaked at 2.7 GB, and an RGBA one at ~2 GB (premultiplied copy, white background, composite). Here a
large image is converted and box-reduced **one band of rows at a time** to the size the model needs, so the only
full-size buffer is the decoder's own; and :class:`DecodeBudget` keeps concurrent decoders (indexing workers,
server uploads) from each holding such a buffer at once.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import numpy as np
from PIL import Image

HIGH_DEPTH_MODES = frozenset({"I", "I;16", "I;16L", "I;16B", "I;16N", "F"})
_REDUCIBLE = frozenset({"L", "LA", "RGB", "RGBA"})
SHRINK_ABOVE_PIXELS = 1 << 22  # 4.2 MP: below it images decode and convert as before (bit-identical vectors)
_BLOCK_BYTES = 1 << 24  # rows converted at a time: about 16 MB of source pixels


class DecodeBudget:
    """Bytes of decoded pixels that may be held at once by all decodes in this process.

    A decode reserves its estimated cost before decoding and waits while the budget is spent; a decode that
    costs more than the whole budget runs alone (it waits until nothing else holds any), so one huge file never
    fails for the budget's sake, it only stops others from piling up beside it.
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"decode budget must be positive, got {capacity}")
        self.capacity = capacity
        self.in_use = 0
        self._changed = threading.Condition()

    @contextmanager
    def reserve(self, cost: int) -> Iterator[None]:
        """Hold ``min(cost, capacity)`` bytes of the budget for the duration of the block."""
        cost = max(0, min(cost, self.capacity))
        with self._changed:
            self._changed.wait_for(lambda: self.in_use + cost <= self.capacity)
            self.in_use += cost
        try:
            yield
        finally:
            with self._changed:
                self.in_use -= cost
                self._changed.notify_all()


def _default_capacity() -> int:
    megabytes = os.environ.get("MMIR_DECODE_BUDGET_MB", "")
    return int(megabytes) * 2**20 if megabytes.isdigit() and int(megabytes) > 0 else 512 * 2**20


DECODE_BUDGET = DecodeBudget(_default_capacity())
"""The process-wide budget (512 MiB, or ``MMIR_DECODE_BUDGET_MB``): shared by indexing workers and uploads."""


def decode_cost(mode: str, size: tuple[int, int]) -> int:
    """Estimated peak bytes to decode and convert an image: PIL's buffer (1, 2 or 4 bytes a pixel) + 1 per pixel."""
    pixel_bytes = 1 if mode in ("1", "L", "P") else 2 if mode.startswith("I;16") else 4  # PIL pads RGB to 4
    return size[0] * size[1] * (pixel_bytes + 1)


def _high_depth_scale(im: Image.Image) -> tuple[float, float]:
    """``(divisor, multiplier)`` mapping the values of a 16/32-bit or float image to 0..255 (whole image)."""
    if im.mode.startswith("I;16"):
        return 257.0, 1.0  # 0..65535 → 0..255
    peak = 0.0
    for block in _row_blocks(im):
        values = np.nan_to_num(np.asarray(block, dtype=np.float64), nan=0.0, posinf=255.0, neginf=0.0)
        peak = max(peak, float(values.max(initial=0.0)))
    if im.mode == "F":
        return 1.0, 255.0 if peak <= 1.0 else 1.0  # float images in [0, 1] are scaled up
    if 255 < peak <= 65535:
        return 257.0, 1.0
    return (peak / 255.0, 1.0) if peak > 65535 else (1.0, 1.0)


def _row_blocks(im: Image.Image, multiple: int = 1) -> Iterator[Image.Image]:
    """``im`` cut into bands of whole rows (a multiple of ``multiple`` rows each) of about 16 MB."""
    width, height = im.size
    rows = max(multiple, (_BLOCK_BYTES // max(1, width * 4)) // multiple * multiple)
    for top in range(0, height, rows):
        yield im.crop((0, top, width, min(height, top + rows)))


def _block_to_l(block: Image.Image, scale: tuple[float, float]) -> Image.Image:
    if block.mode.startswith("I;16"):  # integer division of the uint16 values: 5× faster than through floats
        return Image.fromarray((np.asarray(block) // 257).astype(np.uint8))
    values = np.nan_to_num(np.asarray(block, dtype=np.float64), nan=0.0, posinf=255.0, neginf=0.0)
    divisor, multiplier = scale
    out = np.floor(values / divisor) if divisor != 1.0 else values * multiplier
    return Image.fromarray(np.clip(np.rint(out), 0, 255).astype(np.uint8))


def _reducible_mode(im: Image.Image) -> str:
    """The mode a band is converted to before box reduction (alpha kept for compositing later).

    A colour key (tRNS ``transparency``) becomes alpha here, as :func:`~mmir.media.image._to_rgb` makes it for
    small images: it is lost once the image is reduced (the key no longer names the same pixels).
    """
    has_alpha = "A" in im.mode or "a" in im.mode or "transparency" in im.info
    if im.mode in _REDUCIBLE and not (has_alpha and im.mode in ("L", "RGB")):
        return im.mode
    return "RGBA" if has_alpha else "L" if im.mode == "1" else "RGB"


def to_eight_bit(im: Image.Image, factor: int = 1) -> Image.Image:
    """``im`` in 8-bit ``L``/``LA``/``RGB``/``RGBA``, box-reduced by ``factor``, converted band by band.

    Memory beyond ``im`` itself is one band (~16 MB of source pixels) plus the reduced output.
    """
    scale = _high_depth_scale(im) if im.mode in HIGH_DEPTH_MODES else None
    target = "L" if scale is not None else _reducible_mode(im)
    bands = (
        _block_to_l(block, scale) if scale is not None else block.convert(target)
        for block in _row_blocks(im, multiple=factor)
    )
    return reduce_bands(bands, im.size, target, factor)


def reduce_bands(bands: Iterable[Image.Image], size: tuple[int, int], mode: str, factor: int) -> Image.Image:
    """Box-reduce an image given as consecutive bands of whole rows (see :class:`BandReducer`)."""
    reducer = BandReducer(size, mode, factor)
    for band in bands:
        reducer.add(band)
    return reducer.image


class BandReducer:
    """Builds the box-reduced image of a whole image fed as consecutive bands of whole rows, top to bottom.

    Args:
        size: ``(width, height)`` of the whole image.
        mode: ``L``, ``LA``, ``RGB`` or ``RGBA`` (the mode of every band and of the result).
        factor: The reduction factor (1: bands are pasted as they are). Every band but the last must be a
            multiple of ``factor`` rows tall, so no output row mixes two bands.

    Attributes:
        image: The result so far: ``ceil(width / factor) x ceil(height / factor)``, complete after the last band.
    """

    def __init__(self, size: tuple[int, int], mode: str, factor: int) -> None:
        width, height = size
        self.factor = factor
        self.image = Image.new(mode, (-(-width // factor), -(-height // factor)))
        self._top = 0

    def add(self, band: Image.Image) -> None:
        """Reduce the next band into :attr:`image`."""
        if self.factor > 1 and band.mode in ("LA", "RGBA") and band.getchannel("A").getextrema() == (255, 255):
            # Opaque (a screenshot saved with alpha): premultiplying would change nothing and is 2/3 of the cost
            # of reducing RGBA (0.53 of 0.79 s per 100 MP); the result is bit-identical.
            band = band.convert(band.mode[:-1]).reduce(self.factor).convert(band.mode)
        elif self.factor > 1:
            band = band.reduce(self.factor)  # premultiplies alpha itself, so transparent colours do not bleed
        self.image.paste(band, (0, self._top))
        self._top += band.size[1]


def shrink_factor(size: tuple[int, int], min_side: int | None) -> int:
    """The box-reduction factor that keeps the shorter side ≥ ``min_side`` (1: keep full size)."""
    if min_side is None or size[0] * size[1] <= SHRINK_ABOVE_PIXELS:
        return 1
    # A band holds `factor` rows at least: cap the factor so one band stays ~16 MB (a tiny min_side, such as
    # indexing's probe decode at 1 pixel, would otherwise make the band the whole image, copied twice).
    return max(1, min(min(size) // min_side, _BLOCK_BYTES // (4 * size[0])))
