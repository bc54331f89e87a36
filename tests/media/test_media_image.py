"""Tests of safe image reading and decoding, with bad inputs made in the test."""

from __future__ import annotations

import io
import os
import random
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

import mmir.media.image as image_module
from mmir.media import (
    CorruptMediaError,
    EmptyMediaError,
    ImageLimits,
    MediaError,
    TooLargeMediaError,
    UnreadableMediaError,
    decode_image,
    load_image,
    read_file,
)


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    """Encode ``image`` to bytes in format ``fmt`` with PIL save parameters ``params``."""
    buf = io.BytesIO()
    image.save(buf, fmt, **params)
    return buf.getvalue()


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _bomb_png(width: int, height: int) -> bytes:
    """A valid 1-bit greyscale PNG of all-black rows: tiny on disk, huge once decoded."""
    row = b"\0" * (1 + (width + 7) // 8)  # filter byte + packed bits
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row * 500) for _ in range(height // 500)) + packer.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def _write(path: Path | str, data: bytes) -> str:
    Path(path).write_bytes(data)
    return os.fspath(path)


# --- good images -------------------------------------------------------------------------------------------


def test_load_real_jpeg_and_png_photo(
    tmp_path: Path, photo: Image.Image, photo_jpeg: bytes, photo_png: bytes
) -> None:
    from_png = load_image(_write(tmp_path / "cat.png", photo_png))
    assert from_png.mode == "RGB"
    assert from_png.size == (451, 300)
    assert np.array_equal(np.asarray(from_png), np.asarray(photo))
    from_jpeg = load_image(_write(tmp_path / "CAT.JPG", photo_jpeg))
    assert from_jpeg.size == (451, 300)
    diff = np.abs(np.asarray(from_jpeg, dtype=np.int16) - np.asarray(photo, dtype=np.int16))
    assert diff.mean() < 4  # same picture, lossy encoding


def test_load_image_with_unicode_space_and_non_utf8_names(tmp_path: Path, photo_png: bytes) -> None:
    for name in ["a cat é 猫.png", os.fsdecode(b"caf\xe9.png")]:
        path = _write(os.path.join(os.fsdecode(bytes(tmp_path)), name), photo_png)
        assert load_image(path).size == (451, 300)
    assert load_image(os.fsencode(tmp_path) + b"/caf\xe9.png").size == (451, 300)


@pytest.mark.parametrize(
    ("min_side", "expected"),
    # libjpeg-turbo scales by M/8: the smallest M whose shorter side still reaches min_side (7/8, 2/8, 1/8 here).
    [(None, (1600, 1200)), (1000, (1400, 1050)), (300, (400, 300)), (150, (200, 150))],
)
def test_jpeg_draft_mode_keeps_shorter_side_at_least_min_side(
    photo: Image.Image, min_side: int | None, expected: tuple[int, int]
) -> None:
    big = encode(photo.resize((1600, 1200)), "JPEG", quality=85)
    im = decode_image(big, "big.jpg", min_side=min_side)
    assert im.size == expected
    assert im.mode == "RGB"
    if min_side is not None:
        assert min(im.size) >= min_side


def test_a_photo_decoded_for_the_model_is_never_enlarged_by_its_resize(photo: Image.Image) -> None:
    # 427 px tall: the 4/8 scale (214 px) is 96 % of Lite0's 224-px side. Enlarging it cost keyword mAP (issue 18).
    jpeg = encode(photo.resize((640, 427)), "JPEG", quality=90)
    im = image_module.decode_for_model(jpeg, "coco.jpg", 224)
    assert min(im.size) >= 224


def test_min_side_does_not_resize_other_formats(photo: Image.Image) -> None:
    assert decode_image(encode(photo, "PNG"), "cat.png", min_side=50).size == (451, 300)


def test_min_side_must_be_positive(photo_jpeg: bytes) -> None:
    with pytest.raises(ValueError):
        decode_image(photo_jpeg, "cat.jpg", min_side=0)


def _two_colour(size: tuple[int, int] = (40, 20)) -> Image.Image:
    im = Image.new("RGB", size, (255, 0, 0))
    im.paste((0, 0, 255), (size[0] // 2, 0, size[0], size[1]))  # left red, right blue
    return im


@pytest.mark.parametrize("min_side", [None, 8])
def test_exif_orientation_6_is_applied(min_side: int | None) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    data = encode(_two_colour((320, 160)), "JPEG", quality=95, exif=exif.tobytes())
    im = decode_image(data, "rotated.jpg", min_side=min_side)
    width, height = im.size
    assert height > width  # width and height swapped
    arr = np.asarray(im, dtype=np.int16)
    top, bottom = arr[2, width // 2], arr[-3, width // 2]
    assert top[0] > 200 and top[2] < 60  # the stored left (red) half is now on top
    assert bottom[2] > 200 and bottom[0] < 60


def test_rgba_is_composited_on_white() -> None:
    im = Image.new("RGBA", (4, 2), (0, 0, 0, 0))
    im.putpixel((1, 0), (255, 0, 0, 255))
    im.putpixel((2, 0), (0, 0, 0, 128))
    out = decode_image(encode(im, "PNG"), "alpha.png")
    assert out.mode == "RGB"
    assert out.getpixel((0, 0)) == (255, 255, 255)
    assert out.getpixel((1, 0)) == (255, 0, 0)
    assert all(120 <= c <= 135 for c in out.getpixel((2, 0)))  # half black over white


def test_palette_gif_with_transparency_and_la_become_rgb_on_white() -> None:
    pal = Image.new("P", (3, 1), 0)
    pal.putpalette([0, 0, 0, 0, 255, 0] + [0] * 762)
    pal.putpixel((1, 0), 1)
    out = decode_image(encode(pal, "GIF", transparency=0), "pal.gif")
    assert [out.getpixel((x, 0)) for x in range(3)] == [(255, 255, 255), (0, 255, 0), (255, 255, 255)]
    la = Image.new("LA", (2, 1), (50, 255))
    la.putpixel((1, 0), (50, 0))
    out = decode_image(encode(la, "PNG"), "la.png")
    assert [out.getpixel((x, 0)) for x in range(2)] == [(50, 50, 50), (255, 255, 255)]


def test_palette_without_transparency_keeps_colours() -> None:
    pal = _two_colour((8, 2)).convert("P", palette=Image.Palette.ADAPTIVE, colors=2)
    out = decode_image(encode(pal, "PNG"), "pal.png")
    assert out.getpixel((0, 0)) == (255, 0, 0)
    assert out.getpixel((7, 0)) == (0, 0, 255)


@pytest.mark.parametrize(
    ("mode", "fmt"), [("L", "PNG"), ("L", "JPEG"), ("1", "BMP"), ("CMYK", "JPEG"), ("CMYK", "TIFF")]
)
@pytest.mark.parametrize("min_side", [None, 16])
def test_greyscale_bilevel_and_cmyk_become_rgb(mode: str, fmt: str, min_side: int | None) -> None:
    src = _two_colour((16, 16)).convert(mode)
    out = decode_image(encode(src, fmt), f"img.{fmt.lower()}", min_side=min_side)
    assert out.mode == "RGB"
    assert out.size == (16, 16)
    expected = np.asarray(src.convert("RGB"), dtype=np.int16)
    assert np.abs(np.asarray(out, dtype=np.int16) - expected).max() <= 12


def test_16_bit_greyscale_is_scaled_not_clipped() -> None:
    arr = np.array([[0, 257 * 100, 65535]], dtype=np.uint16)
    im16 = Image.fromarray(arr)
    assert im16.mode.startswith("I;16")
    out = decode_image(encode(im16, "PNG"), "deep.png")
    assert [out.getpixel((x, 0)) for x in range(3)] == [(0, 0, 0), (100, 100, 100), (255, 255, 255)]


def test_float_and_32_bit_images_become_rgb() -> None:
    f = Image.fromarray(np.array([[0.0, 0.5, 1.0]], dtype=np.float32))
    out = decode_image(encode(f, "TIFF"), "float.tif")
    assert [out.getpixel((x, 0))[0] for x in range(3)] == [0, 128, 255]


def test_animated_gif_gives_first_frame() -> None:
    frames = [Image.new("RGB", (8, 8), colour) for colour in [(255, 0, 0), (0, 0, 255)]]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert Image.open(io.BytesIO(data)).n_frames == 2
    assert decode_image(data, "anim.gif").getpixel((4, 4)) == (255, 0, 0)


def test_decoded_image_is_detached_from_input(photo_jpeg: bytes) -> None:
    im = decode_image(photo_jpeg, "cat.jpg")
    im.putpixel((0, 0), (1, 2, 3))  # a loaded, writable, independent image
    assert im.getpixel((0, 0)) == (1, 2, 3)
    assert getattr(im, "fp", None) is None


# --- bad inputs --------------------------------------------------------------------------------------------


def test_zero_byte_file(tmp_path: Path) -> None:
    path = _write(tmp_path / "empty.jpg", b"")
    with pytest.raises(EmptyMediaError, match=r"empty\.jpg: zero-byte file"):
        read_file(path)
    with pytest.raises(EmptyMediaError):
        load_image(path)
    with pytest.raises(EmptyMediaError):
        decode_image(b"", "empty.jpg")


@pytest.mark.parametrize("min_side", [None, 50])
@pytest.mark.parametrize("fmt", ["jpeg", "png"])
def test_truncated_image_is_corrupt(
    tmp_path: Path, photo_jpeg: bytes, photo_png: bytes, fmt: str, min_side: int | None
) -> None:
    data = photo_jpeg if fmt == "jpeg" else photo_png
    path = _write(tmp_path / f"half.{fmt}", data[: len(data) // 2])
    with pytest.raises(CorruptMediaError) as info:
        load_image(path, min_side=min_side)
    assert "truncated" in info.value.reason
    assert f"half.{fmt}" in str(info.value)
    assert not ImageFile.LOAD_TRUNCATED_IMAGES  # decoding did not switch the global on


def test_text_file_and_random_bytes_are_not_images(tmp_path: Path) -> None:
    text = _write(tmp_path / "notes.jpg", b"these are not the pixels you are looking for\n")
    noise = _write(tmp_path / "noise.png", random.Random(0).randbytes(4096))
    for path in (text, noise):
        with pytest.raises(CorruptMediaError) as info:
            load_image(path)
        assert info.value.reason == "not a recognised image file"
        assert os.path.basename(path) in str(info.value)


def test_directory_named_like_an_image(tmp_path: Path) -> None:
    (tmp_path / "x.jpg").mkdir()
    with pytest.raises(UnreadableMediaError, match=r"x\.jpg: is a directory"):
        load_image(tmp_path / "x.jpg")


def test_missing_file_and_dangling_symlink(tmp_path: Path) -> None:
    with pytest.raises(UnreadableMediaError, match=r"gone\.png: no such file or directory"):
        read_file(tmp_path / "gone.png")
    os.symlink(tmp_path / "gone.png", tmp_path / "link.png")
    with pytest.raises(UnreadableMediaError, match=r"link\.png: dangling symbolic link"):
        load_image(tmp_path / "link.png")


def test_fifo_is_not_read(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.jpg")  # reading it would block forever
    with pytest.raises(UnreadableMediaError, match="not a regular file"):
        read_file(tmp_path / "pipe.jpg")


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read a chmod-000 file")
def test_permission_denied(tmp_path: Path, photo_png: bytes) -> None:
    path = _write(tmp_path / "locked.png", photo_png)
    os.chmod(path, 0)
    with pytest.raises(UnreadableMediaError, match=r"locked\.png: permission denied"):
        load_image(path)


def test_file_over_max_bytes_is_refused_before_reading(
    tmp_path: Path, photo_png: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path / "big.png", photo_png)
    limits = ImageLimits(max_bytes=1000)

    def no_open(*args: object, **kwargs: object) -> None:
        raise AssertionError("the file was opened although stat showed it is too large")

    monkeypatch.setattr(image_module, "open", no_open, raising=False)
    with pytest.raises(TooLargeMediaError) as info:
        load_image(path, limits=limits)
    assert "big.png" in str(info.value)
    assert "1000" in info.value.reason
    with pytest.raises(TooLargeMediaError):
        decode_image(photo_png, "big.png", limits=limits)


def test_read_file_returns_content_within_limit(tmp_path: Path, photo_png: bytes) -> None:
    path = _write(tmp_path / "ok.png", photo_png)
    assert read_file(path, limits=ImageLimits(max_bytes=len(photo_png))) == photo_png


def test_pixel_limit_uses_header(photo_png: bytes) -> None:
    with pytest.raises(TooLargeMediaError) as info:
        decode_image(photo_png, "cat.png", limits=ImageLimits(max_pixels=451 * 300 - 1))
    assert "451x300" in info.value.reason
    assert decode_image(photo_png, "cat.png", limits=ImageLimits(max_pixels=451 * 300)).size == (451, 300)


def _header_only_png(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` RGB pixels but whose data is a few bytes."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(b"\0" * 64))


def test_header_claiming_huge_size_is_refused_before_decoding() -> None:
    with pytest.raises(TooLargeMediaError, match="2500000000 pixels"):
        decode_image(_header_only_png(50_000, 50_000), "claims.png")
    # decoding this one would fail as truncated: TooLarge shows the check came first
    with pytest.raises(TooLargeMediaError, match="9000x9000"):
        decode_image(_header_only_png(9_000, 9_000), "claims.png", limits=ImageLimits(max_pixels=10**6))
    with pytest.raises(CorruptMediaError, match="truncated"):
        decode_image(_header_only_png(300, 200), "claims.png")


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize(("width", "height"), [(20_000, 20_000), (12_000, 9_000)])
def test_bomb_png_is_too_large_without_warnings(width: int, height: int) -> None:
    data = _bomb_png(width, height)
    assert len(data) < 200_000  # tiny on disk
    with pytest.raises(TooLargeMediaError) as info:
        decode_image(data, "bomb.png")  # 400 M: PIL's own guard; 108 M: over ours, under PIL's
    assert "bomb.png" in str(info.value)
    assert "pixels" in info.value.reason


def test_bomb_png_within_raised_limit_hits_pils_hard_guard() -> None:
    with pytest.raises(TooLargeMediaError, match="decode safely"):
        decode_image(_bomb_png(20_000, 20_000), "bomb.png", limits=ImageLimits(max_pixels=10**9))


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError):
        ImageLimits(max_pixels=0)
    with pytest.raises(ValueError):
        ImageLimits(max_bytes=-1)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "BMP", "TIFF", "WEBP"])
def test_damaged_bytes_give_an_image_or_a_media_error_naming_the_file(photo: Image.Image, fmt: str) -> None:
    data = encode(photo.resize((48, 32)), fmt)
    rng = random.Random(fmt)
    for trial in range(25):
        damaged = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        cut = damaged[: rng.randrange(1, len(damaged) + 1)] if trial % 3 == 0 else damaged
        try:
            im = decode_image(bytes(cut), "dam aged.img")
        except MediaError as err:
            assert str(err).startswith("dam aged.img: ")
            assert err.reason
        else:
            assert im.mode == "RGB"


@pytest.mark.parametrize(
    ("name", "content", "error"),
    [
        ("zero.jpg", b"", EmptyMediaError),
        ("text.jpg", b"hello", CorruptMediaError),
        (os.fsdecode(b"caf\xe9 bad.png"), b"\x89PNG\r\n\x1a\nnope", CorruptMediaError),
    ],
)
def test_error_messages_name_the_file_and_a_reason(
    tmp_path: Path, name: str, content: bytes, error: type[MediaError]
) -> None:
    path = os.path.join(os.fsdecode(bytes(tmp_path)), name)
    _write(path, content)
    with pytest.raises(error) as info:
        load_image(path)
    message = str(info.value)
    message.encode("utf-8")  # printable even for a non-UTF-8 name
    assert info.value.path == path
    shown = name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    assert message.endswith(f"{shown}: {info.value.reason}")
    assert len(info.value.reason) > 5


@pytest.mark.parametrize("orientation", range(1, 9))
def test_scaled_jpeg_decode_matches_full_decode_for_every_orientation(photo: Image.Image, orientation: int) -> None:
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encode(photo.resize((800, 600)), "JPEG", quality=92, exif=exif.tobytes())
    full = decode_image(data, "o.jpg")
    scaled = decode_image(data, "o.jpg", min_side=240)  # 3/8 of 600 = 225 is too small: 4/8
    assert scaled.size == (full.width // 2, full.height // 2)
    reference = np.asarray(full.resize(scaled.size, Image.Resampling.BOX), dtype=np.int16)
    assert np.abs(np.asarray(scaled, dtype=np.int16) - reference).mean() < 3  # same picture, same way up
