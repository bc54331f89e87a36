"""Thumbnails and previews as derived data: made while indexing from the decode already done, kept as files.

Each photo gets a card thumbnail (about 256 px on its longest side) and, when its original is not itself fit to
show in the large view, a 1280 px preview; each video shot's keyframe gets both from the frame the analysis
decoded for the encoder. They are JPEG files under ``<collection>/thumbs``, named by the content's SHA-1 (and
the keyframe's time), so copies share them and a changed file gets new names::

    thumbs/ab/ab12…ef_256.jpg          a photo's card          thumbs/ab/ab12…ef@12500_256.jpg   a shot's card
    thumbs/ab/ab12…ef_1280.jpg         its preview (if made)   thumbs/ab/ab12…ef@12500_1280.jpg  its preview

The ledger (:mod:`mmir.index.ledger`) records the ``thumbnails`` producer per file once its files are written, so
a collection indexed before this back-fills them (:mod:`mmir.indexing.thumbnail_backfill`) and ``mmir info``
shows the coverage. Files whose content no longer belongs to any catalogued file are deleted (:meth:`prune`).

Why JPEG: indexing a 640x480 photo costs ~7 ms of the machine; a WebP card costs 3-9 ms more to encode, a JPEG
one ~0.5 ms (the budget is 10 %). A photo whose original is a web format no larger than the preview is its own
preview (no full-size decode just for it).
"""

from __future__ import annotations

import io
import logging
import math
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image

from mmir.index import ledger
from mmir.media import decode_for_model, decode_image
from mmir.media._pixels import SHRINK_ABOVE_PIXELS  # read only: the size above which decodes are reduced
from mmir.media.files import write_atomic
from mmir.media.image import draft_side
from mmir.types import ThumbSize

if TYPE_CHECKING:
    from mmir.index.catalog import Catalog
    from mmir.media import ImageLimits

log = logging.getLogger("mmir.thumbnails")

PRODUCER = "thumbnails"
SETTING = "jpeg-256-1280-v1"  # bump when the pictures change: every file is then back-filled
FOLDER = "thumbs"
JPEG_QUALITY = 80
# Formats every browser shows: such an original no larger than the preview is served as its own preview.
WEB_FORMATS = frozenset({"JPEG", "MPO", "PNG", "GIF", "WEBP"})


@dataclass(frozen=True)
class Pictures:
    """A file's (or keyframe's) encoded pictures.

    Attributes:
        card: JPEG bytes, longest side 256 px (or the picture's own, when smaller).
        preview: JPEG bytes, longest side at most 1280 px; ``None`` when the original serves as its own preview.
    """

    card: bytes
    preview: bytes | None


def stored_name(sha1: str, size: ThumbSize, keyframe_s: float | None = None) -> str:
    """The file name of a picture: ``SHA1[@MS]_SIZE.jpg`` (``MS``: the keyframe's time in milliseconds)."""
    at = "" if keyframe_s is None else f"@{round(keyframe_s * 1000)}"
    return f"{sha1}{at}_{int(size)}.jpg"


class ThumbnailFiles:
    """The stored pictures of a collection, under ``directory`` (``<collection>/thumbs``)."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def path(self, sha1: str, size: ThumbSize, keyframe_s: float | None = None) -> Path:
        """Where the picture of ``sha1`` (at ``keyframe_s`` for a video shot) at ``size`` is kept."""
        return self.directory / sha1[:2] / stored_name(sha1, size, keyframe_s)

    def write(self, sha1: str, pictures: Pictures, keyframe_s: float | None = None) -> None:
        """Write a file's (or keyframe's) pictures atomically; a preview not made removes a stale one."""
        write_atomic(self.path(sha1, ThumbSize.CARD, keyframe_s), pictures.card)
        preview = self.path(sha1, ThumbSize.PREVIEW, keyframe_s)
        if pictures.preview is not None:
            write_atomic(preview, pictures.preview)
        else:
            preview.unlink(missing_ok=True)

    def remove(self, sha1: str, keyframes_only: bool = False) -> None:
        """Delete every picture of ``sha1`` (only its keyframes' with ``keyframes_only``)."""
        folder = self.directory / sha1[:2]
        for path in folder.glob(f"{sha1}@*.jpg" if keyframes_only else f"{sha1}*.jpg"):
            path.unlink(missing_ok=True)

    def prune(self, catalog: Catalog, sha1s: Iterable[str]) -> int:
        """Delete the pictures of each of ``sha1s`` that no catalogued file has any more; how many contents went."""
        gone = 0
        for sha1 in set(sha1s):
            if sha1 and catalog.media_with_sha1(sha1) is None:
                self.remove(sha1)
                gone += 1
        return gone


# -- making the pictures -----------------------------------------------------------------------------------------


def jpeg(image: Image.Image) -> bytes:
    """JPEG bytes of an RGB image."""
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


def fit(image: Image.Image, side: int) -> Image.Image:
    """``image`` with its longest side at most ``side`` (never enlarged): an integer box reduction first (cheap),
    then one bilinear resize of the already small image."""
    longest = max(image.size)
    if longest <= side:
        return image
    factor = longest // side
    image = image.reduce(factor) if factor > 1 else image
    scale = side / max(image.size)
    if scale >= 1:
        return image
    size = (max(1, round(image.size[0] * scale)), max(1, round(image.size[1] * scale)))
    return image.resize(size, Image.Resampling.BILINEAR)


def card(image: Image.Image) -> bytes:
    """The card thumbnail of an upright RGB image: longest side 256 px (never enlarged)."""
    return jpeg(fit(image, ThumbSize.CARD))


def preview(image: Image.Image) -> bytes:
    """The preview of an upright RGB image: longest side at most 1280 px (never enlarged)."""
    return jpeg(fit(image, ThumbSize.PREVIEW))


def frame_pictures(frame: Image.Image) -> Pictures:
    """A video keyframe's pictures from the frame decoded for the encoder (its preview is that frame)."""
    return Pictures(card=card(frame), preview=preview(frame))


@dataclass(frozen=True)
class _Header:
    format: str
    width: int
    height: int


def _header(data: bytes) -> _Header | None:
    """Format and stored size from the image header (no pixels decoded), or ``None`` when PIL cannot tell."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            return _Header(str(im.format or ""), int(im.size[0]), int(im.size[1]))
    except Exception:  # the decode that follows names the problem
        return None


def decode_with_pictures(
    data: bytes, name: str, input_side: int, *, limits: ImageLimits
) -> tuple[Image.Image, Pictures]:
    """Decode a photo once: the image for the model and the photo's pictures.

    A photo that is its own preview (a web format of at most 1280 px) decodes as
    :func:`~mmir.media.decode_for_model` does (JPEGs at a DCT scale), and its card (at most 256 px, never larger
    than that decode) comes from it: its vectors are exactly as before. A larger one (or another format) needs a
    1280 px preview: it decodes once at that size (JPEG DCT scaling, or the banded reduction of a huge image),
    and the model's image is that decode resized (box filter) to the size ``decode_for_model`` gives: close to,
    but not bit-identical with, the query decode of the same file.

    Raises:
        MediaError: the file cannot be decoded (as :func:`~mmir.media.decode_for_model`).
    """
    side = draft_side(input_side)
    header = _header(data)
    if header is None:  # the decode names the problem (or decodes what the header reader could not)
        image = decode_for_model(data, name, input_side, limits=limits)
        return image, Pictures(card=card(image), preview=None)
    short, long = sorted((header.width, header.height))
    wanted = min(short, max(side, math.ceil(ThumbSize.PREVIEW * short / max(1, long))))
    if (header.format in WEB_FORMATS and long <= ThumbSize.PREVIEW) or wanted <= side:
        # Its own preview (or the model's decode is large enough): the card comes from the model's decode,
        # never larger than it (a square photo's card is ~230 px with Lite0), and the vectors stay as they were.
        image = decode_for_model(data, name, input_side, limits=limits)
        own = header.format in WEB_FORMATS and long <= ThumbSize.PREVIEW
        return image, Pictures(card=card(image), preview=None if own else preview(image))
    large = decode_image(data, name, limits=limits, min_side=wanted)
    size = _model_size(header, short, side, large.size)
    image = large if size == large.size else large.resize(size, Image.Resampling.BOX)
    small = image if max(image.size) >= ThumbSize.CARD else large  # the smaller source is the cheaper card
    return image, Pictures(card=card(small), preview=preview(large))


def _model_size(header: _Header, short: int, side: int, decoded: tuple[int, int]) -> tuple[int, int]:
    """The size :func:`~mmir.media.decode_for_model` decodes this photo at (``side``: its draft side).

    JPEGs: the smallest DCT scale M/8 that keeps ``side``; others: full size, or above 4.2 MP the banded
    reduction by ``short // side``. Upright like ``decoded`` (EXIF orientation may swap the header's sides).
    """
    width, height = header.width, header.height
    if decoded[0] < decoded[1] != (width < height):
        width, height = height, width
    if header.format in ("JPEG", "MPO"):
        scale = min(8, math.ceil(side * 8 / short))
        return math.ceil(width * scale / 8), math.ceil(height * scale / 8)
    if width * height <= SHRINK_ABOVE_PIXELS:
        return width, height
    factor = max(1, short // side)
    return -(-width // factor), -(-height // factor)


# -- the pipeline's side -----------------------------------------------------------------------------------------


class KeptPictures:
    """Writes pictures from the pipeline's worker threads and records them in the ledger once their file is stored.

    A content whose pictures could not be written (no room, a read-only collection) is not recorded, so the
    next run tries again; indexing itself goes on (one warning per run).
    """

    def __init__(self, collection: Path) -> None:
        self.files = ThumbnailFiles(Path(collection) / FOLDER)
        self._written: set[str] = set()
        self._failed: set[str] = set()
        self._lock = threading.Lock()

    def keep(self, sha1: str, pictures: Pictures, keyframe_s: float | None = None) -> None:
        """Write one file's (or keyframe's) pictures (any thread)."""
        try:
            self.files.write(sha1, pictures, keyframe_s)
        except OSError as exc:
            with self._lock:
                first = not self._failed
                self._failed.add(sha1)
            if first:
                log.warning("thumbnails not kept (%s): %s", self.files.directory, exc)
            return
        with self._lock:
            self._written.add(sha1)

    def forget_keyframes(self, sha1: str) -> None:
        """Before a video is analysed again: its keyframes (and so their pictures' names) may change."""
        self.files.remove(sha1, keyframes_only=True)

    def record(self, catalog: Catalog, stored: Iterable[tuple[int, str]]) -> None:
        """Record the producer for each stored ``(media id, sha1)`` whose pictures this run wrote."""
        with self._lock:
            ids = [media_id for media_id, sha1 in stored if sha1 in self._written and sha1 not in self._failed]
        ledger.record_files(catalog, ids, {PRODUCER: SETTING})
