"""Safe image reading and decoding: size guards, draft-mode JPEG decoding, EXIF orientation, RGB output.

Every failure is a :class:`~mmir.media.errors.MediaError` that names the file; no PIL, ``OSError`` or
``ValueError`` escapes. PIL's global ``LOAD_TRUNCATED_IMAGES`` is left alone (truncated files are errors), but
valid pixels are not thrown away for the sake of their wrapping: a PNG whose text chunks break PIL's limits (a
zTXt bomb) is decoded without them, and a complete JPEG with damaged entropy data is decoded leniently as libjpeg
does; each with a one-line note on the ``mmir.media`` logger. Large images are converted and reduced in bands of
rows under a process-wide memory budget (:mod:`mmir.media._pixels`); large PNGs are streamed row by row through
libvips when it is installed, so their full-size pixels are never held (:mod:`mmir.media._png_stream`).
"""

from __future__ import annotations

import functools
import importlib.util
import io
import math
import os
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from mmir.media import _png_stream
from mmir.media._fs import os_error_reason, stat_regular_file
from mmir.media._pixels import (
    DECODE_BUDGET,
    HIGH_DEPTH_MODES,
    DecodeBudget,
    decode_cost,
    shrink_factor,
    to_eight_bit,
)
from mmir.media._salvage import is_complete_jpeg, note_once, png_exif, without_png_text
from mmir.media.errors import (
    CorruptMediaError,
    EmptyMediaError,
    MediaError,
    TooLargeMediaError,
    UnreadableMediaError,
)

PathArg = str | bytes | os.PathLike[str] | os.PathLike[bytes]

__all__ = ["DECODE_BUDGET", "DecodeBudget", "ImageLimits", "decode_for_model", "decode_image", "load_for_model",
           "load_image", "read_file", "register_optional_plugins"]  # fmt: skip


_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
_WHITE = (255, 255, 255, 255)


@functools.cache
def register_optional_plugins() -> None:
    """Let PIL open HEIC/HEIF photos when ``pillow-heif`` is installed (once per process; a no-op otherwise)."""
    if importlib.util.find_spec("pillow_heif") is not None:
        import pillow_heif

        pillow_heif.register_heif_opener()


@dataclass(frozen=True)
class ImageLimits:
    """Upper bounds that protect decoding from huge files and decompression bombs.

    Attributes:
        max_pixels: Largest ``width * height`` (read from the header) that will be decoded.
        max_bytes: Largest file size in bytes that will be read.
    """

    max_pixels: int = 100_000_000
    max_bytes: int = 256 * 2**20

    def __post_init__(self) -> None:
        if self.max_pixels < 1 or self.max_bytes < 1:
            raise ValueError(f"image limits must be positive, got {self}")


def _path_str(path: PathArg) -> str:
    """Return ``path`` as a ``str`` (bytes decoded with the file-system encoding)."""
    raw = os.fspath(path)
    return os.fsdecode(raw) if isinstance(raw, bytes) else raw


def read_file(path: PathArg, *, limits: ImageLimits = ImageLimits()) -> bytes:
    """Read a whole media file into memory after checking its size with ``stat``.

    Args:
        path: The file to read (a symlink is followed).
        limits: ``limits.max_bytes`` bounds the file size.

    Returns:
        The file content (never empty).

    Raises:
        UnreadableMediaError: Missing, dangling symlink, directory, not a regular file, permission denied,
            or an I/O error.
        EmptyMediaError: The file has zero bytes.
        TooLargeMediaError: The file is larger than ``limits.max_bytes``.
    """
    name = _path_str(path)
    size = stat_regular_file(name).st_size
    if size == 0:
        raise EmptyMediaError(name, "zero-byte file")
    if size > limits.max_bytes:
        raise TooLargeMediaError(name, f"file is {size} bytes, over the limit of {limits.max_bytes} bytes")
    try:
        with open(name, "rb") as f:
            data = f.read(limits.max_bytes + 1)  # the file may have grown since stat
    except OSError as exc:
        raise UnreadableMediaError(name, os_error_reason(exc)) from exc
    if not data:
        raise EmptyMediaError(name, "zero-byte file")
    if len(data) > limits.max_bytes:
        raise TooLargeMediaError(name, f"file is over the limit of {limits.max_bytes} bytes")
    return data


def _to_rgb(im: Image.Image, min_side: int | None = None) -> Image.Image:
    """Convert any PIL mode to ``RGB``, compositing transparency onto white.

    A large image (over 4.2 MP, with ``min_side``) or a 16/32-bit one is first made 8-bit and box-reduced band
    by band (:func:`~mmir.media._pixels.to_eight_bit`), so no full-size copy is made beside the decoder's buffer.
    """
    factor = shrink_factor(im.size, min_side)
    if factor > 1 or im.mode in HIGH_DEPTH_MODES:
        im = to_eight_bit(im, factor)
    if im.mode in _ALPHA_MODES or "transparency" in im.info:
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, _WHITE)
        return Image.alpha_composite(background, rgba).convert("RGB")
    return im.convert("RGB")


def _check_size(im: Image.Image, name: str, limits: ImageLimits) -> None:
    width, height = im.size
    if width * height > limits.max_pixels:
        raise TooLargeMediaError(
            name, f"image is {width}x{height} = {width * height} pixels, over the limit of {limits.max_pixels}"
        )
    if width < 1 or height < 1:
        raise CorruptMediaError(name, f"image has an empty size {width}x{height}")


def _decode(data: bytes, name: str, limits: ImageLimits, min_side: int | None) -> Image.Image:
    """Open, check, decode and normalise an image; PIL errors propagate to :func:`decode_image`."""
    with Image.open(io.BytesIO(data)) as im:
        _check_size(im, name, limits)
        if min_side is not None and im.format in ("JPEG", "MPO"):
            scaled = _decode_jpeg_scaled(data, im.mode, im.size[0], im.size[1], min_side)
            if scaled is not None:
                return _upright(scaled, _orientation(im))
            im.draft(im.mode, (min_side, min_side))  # decode at 1/2, 1/4 or 1/8 scale, both sides >= min_side
        factor = shrink_factor(im.size, min_side)
        if im.format == "PNG" and factor > 1 and _png_stream.available():
            with DECODE_BUDGET.reserve(_png_stream.stream_cost(im.size[0])):
                streamed = _png_stream.reduce_png(data, factor)
            if streamed is not None:  # else libvips declined the file: PIL decodes it and names any problem
                return _upright(_to_rgb(streamed), _png_orientation(data))
        with DECODE_BUDGET.reserve(decode_cost(im.mode, im.size)):
            im.load()
            # After load: a PNG's EXIF may follow its pixels. Converting makes the copy that outlives the file;
            # turning that (reduced) copy upright is cheaper than turning the decoded one.
            image = _upright(_to_rgb(im, min_side), _orientation(im))
            im.close()  # frees the decoded buffer before its share of the budget is given back
            return image


def _decode_jpeg_scaled(
    data: bytes, mode: str, width: int, height: int, min_side: int, strict: bool = True
) -> Image.Image | None:
    """Decode a JPEG with libjpeg-turbo's DCT scaling (any of its M/8 factors), or ``None`` to let PIL do it.

    Why simplejpeg and not PIL alone: PIL's draft mode only scales by 1/2, 1/4 or 1/8, so a 640×427 photo whose
    half size (320×213) is below ``min_side`` decodes at full size; libjpeg-turbo's 5/8 gives 400×267 instead.
    On the COCO photos this cut decoding from 2.4 to 1.8 ms and the resize after it from 2.5 to 1.7 ms per photo
    (Lite0). Anything simplejpeg declines (CMYK, damaged data even if recoverable, a missing wheel) falls back to
    PIL, whose errors name the problem.
    """
    if mode not in ("RGB", "L"):
        return None
    try:
        import simplejpeg
    except ImportError:
        return None
    limits = {"min_height": min_side} if height <= width else {"min_width": min_side}
    try:
        pixels = simplejpeg.decode_jpeg(data, colorspace="RGB", strict=strict, **limits)
    except Exception:  # any complaint (simplejpeg raises ValueError and others): PIL decides and names it
        return None
    if pixels.shape[0] > height or pixels.shape[1] > width:  # never upscaled; guards a surprising decoder
        return None
    return Image.fromarray(pixels)  # uint8[H, W, 3]: RGB


# EXIF orientation tag value -> the transpose that makes the stored pixels upright (EXIF 2.3, tag 0x0112).
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _upright(im: Image.Image, orientation: int) -> Image.Image:
    """``im`` (decoded pixels without metadata) turned upright for an EXIF ``orientation``."""
    method = _UPRIGHT.get(orientation)
    return im if method is None else im.transpose(method)


def _png_orientation(data: bytes) -> int:
    """The EXIF orientation of a PNG read from its ``eXIf`` chunk, without decoding (PIL would load the pixels)."""
    body = png_exif(io.BytesIO(data))
    if body is None:
        return 1
    exif = Image.Exif()
    try:
        exif.load(b"Exif\x00\x00" + body)
        return int(exif.get(0x0112, 1))
    except Exception:  # unreadable EXIF metadata: keep the pixels as stored, as _orientation does
        return 1


def _orientation(im: Image.Image) -> int:
    """The EXIF orientation tag (1 = upright, also when EXIF is absent or unreadable: kept as stored)."""
    try:
        return int(im.getexif().get(0x0112, 1))
    except Exception:  # unreadable EXIF metadata: keep the pixels as stored rather than reject the image
        return 1


def _lenient_jpeg(data: bytes, min_side: int | None) -> Image.Image | None:
    """Decode a complete but damaged JPEG as libjpeg does (corrupt data skipped, warnings ignored), or ``None``."""
    try:
        with Image.open(io.BytesIO(data)) as header:
            mode, (width, height), orientation = header.mode, header.size, _orientation(header)
    except Exception:
        return None
    scaled = _decode_jpeg_scaled(data, mode, width, height, min_side or max(width, height), strict=False)
    return None if scaled is None else _upright(scaled, orientation)


def _recover(data: bytes, label: str, limits: ImageLimits, min_side: int | None, exc: Exception) -> Image.Image:
    """Valid pixels in a damaged wrapping: decode without the PNG text chunks, or the JPEG leniently.

    Raises:
        CorruptMediaError: neither applies, or the second try failed too (the first error is named).
    """
    stripped = without_png_text(data)
    if stripped is not None:
        try:
            image = _decode(stripped, label, limits, min_side)
        except Exception:
            raise CorruptMediaError(label, _reason(exc)) from exc
        note_once(f"{label}: text chunks dropped ({str(exc).strip() or type(exc).__name__}); pixels kept")
        return image
    if is_complete_jpeg(data):
        image_or_none = _lenient_jpeg(data, min_side)
        if image_or_none is not None:
            detail = str(exc).strip() or type(exc).__name__
            note_once(f"{label}: damaged JPEG data ({detail}); decoded leniently, as libjpeg does")
            return image_or_none
    raise CorruptMediaError(label, _reason(exc)) from exc


def _reason(exc: Exception) -> str:
    """Describe a decoder exception in a few words."""
    text = str(exc).strip() or type(exc).__name__
    if "truncated" in text.lower():
        return f"truncated image data ({text})"
    return f"cannot decode image ({text})"


# JPEG draft decoding stops at the smallest libjpeg scale (M/8) whose shorter side still reaches the model's input
# side, so a photo is only ever reduced by the resize, never enlarged. 0.9 (stop at 90 %, upscale <= 11 %) halved
# decode + resize for more photos (134 of 239 COCO photos at a smaller scale) but cost keyword quality: category mAP
# on the validation half 0.4665 at 0.9, 0.4762 at 1.0, 0.4692 decoding at full size (test half 0.4824 / 0.4839 /
# 0.4853; benchmarks/one_search_latency.py part 1), for 0.3 ms more decode per photo (2.97 -> 3.23 ms). Indexing and
# queries use the same rule, so a file and its query give the same vector.
DRAFT_TOLERANCE = 1.0


def draft_side(input_side: int) -> int:
    """The ``min_side`` to decode at for a model whose preprocessing resizes the shorter side to ``input_side``."""
    return max(1, math.ceil(input_side * DRAFT_TOLERANCE))


def decode_image(
    data: bytes,
    name: PathArg,
    *,
    limits: ImageLimits = ImageLimits(),
    min_side: int | None = None,
) -> Image.Image:
    """Decode image bytes into a fully loaded, upright RGB image.

    The pixel count is checked against ``limits.max_pixels`` from the header, before any pixel is decoded.
    Alpha is composited onto white; palette, greyscale, CMYK and 16-bit images become 8-bit RGB; an animated
    GIF or multi-page TIFF gives its first frame.

    Args:
        data: The encoded file content.
        name: The file's path or name, used in error messages only.
        limits: Size limits (``max_bytes`` applies to ``len(data)``).
        min_side: When given, JPEGs are decoded in draft mode at the smallest scale whose shorter side is
            still at least ``min_side`` pixels (faster); other images over 4.2 MP are box-reduced to at least
            ``min_side`` as they are converted (PNGs as they are decoded, with libvips); smaller ones are kept
            at full size.

    Returns:
        A new ``RGB`` image with its EXIF orientation applied.

    Raises:
        ValueError: ``min_side`` is given and less than 1 (a programming error).
        EmptyMediaError: ``data`` is empty.
        TooLargeMediaError: Too many bytes or pixels (including PIL's own decompression-bomb error).
        CorruptMediaError: Not a recognised image, truncated, or undecodable.
    """
    if min_side is not None and min_side < 1:
        raise ValueError(f"min_side must be at least 1, got {min_side}")
    label = _path_str(name)
    register_optional_plugins()
    if not data:
        raise EmptyMediaError(label, "zero-byte file")
    if len(data) > limits.max_bytes:
        raise TooLargeMediaError(
            label, f"file is {len(data)} bytes, over the limit of {limits.max_bytes} bytes"
        )
    try:
        with warnings.catch_warnings():
            # PIL warns above its own global limit when opening; our max_pixels check decides instead.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            # PIL's warnings about damaged files do not name the file; the outcome (image or error) counts.
            warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")
            return _decode(data, label, limits, min_side)
    except MediaError:
        raise
    except Image.DecompressionBombError as exc:
        raise TooLargeMediaError(label, f"image too large to decode safely ({exc})") from exc
    except UnidentifiedImageError as exc:
        raise CorruptMediaError(label, "not a recognised image file") from exc
    except MemoryError as exc:
        raise TooLargeMediaError(label, "not enough memory to decode the image") from exc
    except Exception as exc:  # decoders raise OSError, ValueError, SyntaxError, struct.error, ... on bad data
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _recover(data, label, limits, min_side, exc)


def load_image(
    path: PathArg,
    *,
    limits: ImageLimits = ImageLimits(),
    min_side: int | None = None,
) -> Image.Image:
    """Read and decode an image file (:func:`read_file` then :func:`decode_image`).

    Args:
        path: The image file.
        limits: Size limits for the file and its pixels.
        min_side: Shorter side to keep when decoding a JPEG in draft mode; ``None`` decodes at full size.

    Returns:
        A new, fully loaded, upright ``RGB`` image.

    Raises:
        MediaError: One of its subclasses, naming the file and the reason.
    """
    data = read_file(path, limits=limits)
    return decode_image(data, path, limits=limits, min_side=min_side)


def decode_for_model(
    data: bytes, name: PathArg, input_side: int, *, limits: ImageLimits = ImageLimits()
) -> Image.Image:
    """:func:`decode_image` for a model whose preprocessing resizes the shorter side to ``input_side``.

    The one decoding rule that indexing and queries share (JPEGs at :func:`draft_side`), so a file and the same
    file given as a query give the same vector, whichever path decodes them.
    """
    return decode_image(data, name, limits=limits, min_side=draft_side(input_side))


def load_for_model(path: PathArg, input_side: int, *, limits: ImageLimits = ImageLimits()) -> Image.Image:
    """:func:`read_file` then :func:`decode_for_model`."""
    return decode_for_model(read_file(path, limits=limits), path, input_side, limits=limits)

