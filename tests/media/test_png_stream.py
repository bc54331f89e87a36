"""Large PNGs streamed in bands (libvips) give the in-memory decode's pixels, in a fraction of its memory."""

from __future__ import annotations

import functools
import io
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mmir.media import CorruptMediaError, decode_image
from mmir.media import _png_stream as png_stream

needs_vips = pytest.mark.skipif(not png_stream.available(), reason="pyvips/libvips not installed (the png extra)")

_SIZE = (2100, 2000)  # 4.2 MP: just over the threshold above which decodes are reduced in bands


def _encode(image: Image.Image, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG", **params)
    return buffer.getvalue()


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png16(samples: np.ndarray) -> bytes:
    """A 16-bit PNG (grey, grey+alpha, RGB or RGBA by the last axis) written by hand: PIL cannot save these."""
    height, width, channels = samples.shape
    colour_type = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    rows = samples.astype(">u2").reshape(height, width * channels).view(np.uint8)
    raw = np.hstack([np.zeros((height, 1), np.uint8), rows]).tobytes()  # filter byte 0 before each row
    header = struct.pack(">IIBBBBB", width, height, 16, colour_type, 0, 0, 0)
    idat = zlib.compress(raw, 1)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def _pattern(channels: int, seed: int = 0) -> np.ndarray:
    """uint8[H, W, channels]: gradients with noise, so every box of a reduction averages different values."""
    width, height = _SIZE
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 255, width)[None, :] + np.linspace(0, 255, height)[:, None]
    layers = [(ramp * (k + 1) * 0.7 + rng.integers(0, 60, (height, width))) % 256 for k in range(channels)]
    return np.stack(layers, axis=-1).astype(np.uint8)


@functools.cache
def _kind(name: str) -> bytes:
    rgb = Image.fromarray(_pattern(3))
    if name == "L":
        return _encode(rgb.convert("L"))
    if name == "L+tRNS":
        grey = rgb.convert("L")
        return _encode(grey, transparency=int(np.asarray(grey)[0, 0]))
    if name == "1":
        return _encode(rgb.convert("1"))
    if name in ("LA", "RGB", "RGBA"):
        return _encode(Image.fromarray(_pattern(len(name)).squeeze(), name))
    if name == "RGB+tRNS":
        return _encode(rgb, transparency=tuple(int(v) for v in np.asarray(rgb)[0, 0]))
    if name in ("P", "P+tRNS"):
        palette = Image.fromarray(_pattern(1).squeeze() // 4, "P")  # 64 colours
        palette.putpalette(np.random.default_rng(2).integers(0, 256, 64 * 3, dtype=np.uint8).tobytes())
        return _encode(palette, transparency=5) if name == "P+tRNS" else _encode(palette)
    channels = {"I;16": 1, "LA;16": 2, "RGB;16": 3, "RGBA;16": 4}[name]
    return _png16(_pattern(channels).astype(np.uint16) * 257 + _pattern(channels, seed=1))


_KINDS = ["L", "L+tRNS", "1", "LA", "RGB", "RGB+tRNS", "RGBA", "P", "P+tRNS", "I;16", "LA;16", "RGB;16", "RGBA;16"]


def _in_memory(data: bytes, min_side: int, monkeypatch: pytest.MonkeyPatch) -> Image.Image:
    """The decode as it is without libvips: PIL decodes the whole image, then reduces it in bands."""
    with monkeypatch.context() as patch:
        patch.setattr(png_stream, "available", lambda: False)
        return decode_image(data, "in-memory.png", min_side=min_side)


@needs_vips
@pytest.mark.parametrize("kind", _KINDS)
@pytest.mark.parametrize("min_side", [202, 1])  # the model's decode; indexing's probe (the largest factor)
def test_streamed_decode_gives_the_in_memory_pixels(kind: str, min_side: int, monkeypatch: pytest.MonkeyPatch) -> None:
    data = _kind(kind)
    streamed_calls: list[bool] = []
    reduce_png = png_stream.reduce_png

    def spy(data: bytes, factor: int) -> Image.Image | None:
        result = reduce_png(data, factor)
        streamed_calls.append(result is not None)
        return result

    monkeypatch.setattr(png_stream, "reduce_png", spy)
    streamed = decode_image(data, f"{kind}.png", min_side=min_side)
    assert streamed_calls == [True]  # libvips decoded it, nothing fell back to PIL
    reference = _in_memory(data, min_side, monkeypatch)
    assert streamed.mode == reference.mode == "RGB" and streamed.size == reference.size
    assert min(streamed.size) >= min_side and streamed.size[0] < _SIZE[0]
    difference = np.abs(np.asarray(streamed, np.int16) - np.asarray(reference, np.int16))
    assert difference.max() == 0, f"{kind}: {np.count_nonzero(difference)} values differ, max {difference.max()}"


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_an_opaque_alpha_png_reduces_exactly_as_without_alpha(mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Opaque bands skip premultiplying (the costliest step); the pixels are those of the same image without alpha."""
    opaque = Image.fromarray(_pattern(3)).convert(mode)
    opaque.putpixel((0, 0), (1, 2, 3, 254) if mode == "RGBA" else (1, 254))  # one band keeps its premultiplying
    plain = opaque.convert(mode[:-1])
    for decode in (decode_image, lambda data, name, min_side: _in_memory(data, min_side, monkeypatch)):
        with_alpha = np.asarray(decode(_encode(opaque), "alpha.png", min_side=202), np.int16)
        without = np.asarray(decode(_encode(plain), "plain.png", min_side=202), np.int16)
        assert np.abs(with_alpha - without).max() <= 1 and (with_alpha[8:] == without[8:]).all()


def test_large_png_with_a_colour_key_is_transparent_as_a_small_one_is(monkeypatch: pytest.MonkeyPatch) -> None:
    """A tRNS colour key was dropped once an image was large enough to be reduced in bands (found here)."""
    grey = np.full(_SIZE[::-1], 40, np.uint8)
    grey[:, : _SIZE[0] // 2] = 7  # the left half is the transparent key
    data = _encode(Image.fromarray(grey), transparency=7)
    for decoded in (decode_image(data, "key.png", min_side=202), _in_memory(data, 202, monkeypatch)):
        pixels = np.asarray(decoded)
        assert (pixels[:, :5] == 255).all(), "the keyed half composites onto white"
        assert (pixels[:, -5:] == 40).all(), "the rest keeps its grey"


@needs_vips
def test_streamed_decode_turns_a_png_upright_by_its_exif(monkeypatch: pytest.MonkeyPatch) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: turn 90° clockwise
    data = _encode(Image.fromarray(_pattern(3)), exif=exif)
    streamed = decode_image(data, "rotated.png", min_side=202)
    assert streamed.size[1] > streamed.size[0]  # 2100 x 2000 stored, 2000 x 2100 upright
    assert np.array_equal(np.asarray(streamed), np.asarray(_in_memory(data, 202, monkeypatch)))


@needs_vips
@pytest.mark.parametrize(("damage", "reason"), [("truncate", "truncated"), ("flip a byte", "cannot decode")])
def test_a_damaged_large_png_is_still_an_error_naming_the_file(damage: str, reason: str) -> None:
    data = _kind("RGB")
    middle = len(data) // 2
    bad = data[:middle] if damage == "truncate" else data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :]
    with pytest.raises(CorruptMediaError) as raised:
        decode_image(bad, "damaged.png", min_side=202)
    assert "damaged.png" in str(raised.value) and reason in str(raised.value)


_MEASURE = textwrap.dedent(
    """
    import resource, sys
    from mmir.media import _png_stream, decode_for_model
    _png_stream.available()  # libvips loaded before the baseline: its code is not the decode's memory
    data = open(sys.argv[1], "rb").read()
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    image = decode_for_model(data, sys.argv[1], 224)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(image.size[0], image.size[1], (peak - base) // 1024)
    """
)


@needs_vips
@pytest.mark.slow
@pytest.mark.parametrize("mode", ["I;16", "RGBA", "RGB", "P"])
def test_a_huge_png_never_holds_its_decoded_pixels(tmp_path: Path, mode: str) -> None:
    """Peak memory of decoding a 9999² PNG for the model stays under 80 MB whatever its mode.

    PIL's full-size buffer is 95 MB (palette) to 381 MB (RGBA); the in-memory decode grew the peak by 123 to
    432 MB. Streamed, the growth is libvips' threads and one band (37-54 MB measured). Measured as the growth of
    a fresh process's peak RSS: PIL's pixel buffers are not seen by tracemalloc.
    """
    path = tmp_path / "huge.png"
    colour = 300 if mode == "I;16" else (9, 99, 199, 128) if mode == "RGBA" else (9, 99, 199) if mode == "RGB" else 5
    make = f"from PIL import Image; Image.new({mode!r}, (9999, 9999), {colour!r}).save({str(path)!r})"
    subprocess.run([sys.executable, "-c", make], check=True)
    out = subprocess.run([sys.executable, "-c", _MEASURE, str(path)], capture_output=True, text=True, check=True)
    width, height, megabytes = (int(v) for v in out.stdout.split())
    assert min(width, height) >= 202 and max(width, height) < 9999
    decoded = 9999 * 9999 * {"I;16": 2, "RGBA": 4, "RGB": 4, "P": 1}[mode] / 2**20
    assert megabytes < 80, f"{mode}: peak grew {megabytes} MB (the decoded image is {decoded:.0f} MB)"


def _with_exif_after_pixels(png: bytes, exif: Image.Exif) -> bytes:
    """``png`` with an ``eXIf`` chunk moved after its image data (allowed by the PNG spec, read by PIL)."""
    body = exif.tobytes()
    body = body.removeprefix(b"Exif\x00\x00")
    end = png.rindex(b"IEND") - 4  # the IEND chunk starts with its 4-byte length
    return png[:end] + _chunk(b"eXIf", body) + png[end:]


def test_reading_a_pngs_metadata_never_decodes_its_pixels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """PIL's PNG ``getexif()`` decoded every pixel to look for EXIF after them: 400 MB and seconds for a 9999²
    RGBA PNG, per file, in indexing's metadata pass (found here: it was most of that kind's peak memory)."""
    from PIL import PngImagePlugin

    from mmir.media.metadata import TextField, extract_metadata_text

    exif = Image.Exif()
    exif[0x010E] = "harbour at dusk"  # ImageDescription
    data = _with_exif_after_pixels(_encode(Image.new("RGB", (64, 48), (1, 2, 3))), exif)
    path = tmp_path / "after.png"
    path.write_bytes(data)
    loads: list[tuple[int, int]] = []
    load = PngImagePlugin.PngImageFile.load

    def spy(self: PngImagePlugin.PngImageFile) -> object:
        loads.append(self.size)
        return load(self)

    monkeypatch.setattr(PngImagePlugin.PngImageFile, "load", spy)
    for given in (data, None):  # the bytes indexing read, or the file
        text = extract_metadata_text(path, frozenset(), given)
        assert "harbour at dusk" in text.get(TextField.DESCRIPTION)
    assert loads == []
    with Image.open(io.BytesIO(data)) as image:  # the EXIF read matches PIL's own (which decodes to find it)
        assert image.getexif()[0x010E] == "harbour at dusk" and loads == [(64, 48)]
