"""File kinds for benchmarks/hostile_corpus.py: odd-but-valid, broken, hostile and skipped files, made here.

Run as a script (``hostile_kinds.py KIND FOLDER N``) it writes N seeded files of one kind into FOLDER; the
corpus benchmark calls it in a subprocess so that building a 9999² image costs the measured run nothing.
"""

from __future__ import annotations

import io
import os
import shutil
import struct
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, PngImagePlugin

Builder = Callable[[Path, int, np.random.Generator], None]


@dataclass(frozen=True)
class Kind:
    """One kind of file: what the product should do with it (indexed / error / skipped) and how to make one."""

    name: str
    expect: str
    build: Builder


def _picture(rng: np.random.Generator, size: tuple[int, int] = (320, 240)) -> Image.Image:
    """A seeded smooth picture with some texture (distinct per call, so no file is a copy of another)."""
    width, height = size
    x = np.linspace(0, 1, width)[None, :, None]
    y = np.linspace(0, 1, height)[:, None, None]
    phase = rng.random(3)[None, None, :] * 6
    base = 127 + 100 * np.sin(6 * x + 4 * y + phase)
    noise = rng.normal(0, 12, (height, width, 3))
    return Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8))


def _jpeg_bytes(image: Image.Image, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90, **options)
    return buffer.getvalue()


def _each(save: Callable[[Path, int, np.random.Generator], None]) -> Builder:
    def build(folder: Path, count: int, rng: np.random.Generator) -> None:
        for i in range(count):
            save(folder, i, rng)

    return build


def _saved(ext: str, convert: str | None = None, size: tuple[int, int] = (320, 240), **options: object) -> Builder:
    def save(folder: Path, i: int, rng: np.random.Generator) -> None:
        image = _picture(rng, size)
        (image.convert(convert) if convert else image).save(folder / f"f{i}{ext}", **options)

    return _each(save)


def _ordinary(folder: Path, count: int, rng: np.random.Generator) -> None:
    coco = Path(os.environ.get("MMIR_SHARED", "/work/shared")) / "data" / "coco-mini" / "train2017"
    photos = sorted(coco.glob("*.jpg")) if coco.is_dir() else []
    if len(photos) < count:
        import skimage

        data = Path(skimage.__file__).parent / "data"
        photos = [data / n for n in ("chelsea.png", "coffee.png", "astronaut.png", "rocket.jpg", "horse.png")]
    for photo in photos[:count]:
        shutil.copy(photo, folder / photo.name)


def _png16(folder: Path, i: int, rng: np.random.Generator, size: int = 640) -> None:
    ramp = (np.linspace(0, 65535, size, dtype=np.uint32)[None, :] + int(rng.integers(0, 999))) % 65536
    Image.fromarray(np.broadcast_to(ramp, (size * 3 // 4, size)).astype(np.uint16)).save(folder / f"f{i}.png")


def _huge(mode: str) -> Builder:
    def save(folder: Path, i: int, rng: np.random.Generator) -> None:
        channels = {"RGBA": 4, "RGB": 3}.get(mode, 1)
        colour = int(rng.integers(1, 200)) if channels == 1 else tuple(int(v) for v in rng.integers(0, 255, channels))
        image = Image.new(mode, (9999, 9999), colour)
        if mode == "P":  # a palette of its own, so no two files are the same content (a copy is not decoded again)
            image.putpalette(rng.integers(0, 256, 768, dtype=np.uint8).tobytes())
        image.save(folder / f"huge{i}.png")  # ~200 KB on disk, 100 MP

    return _each(save)


def _exif_rotated(folder: Path, i: int, rng: np.random.Generator) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    _picture(rng).save(folder / f"f{i}.jpg", exif=exif)


def _multi_frame(fmt: str, ext: str) -> Builder:
    def save(folder: Path, i: int, rng: np.random.Generator) -> None:
        frames = [_picture(rng, (160, 120)).convert("P") if fmt == "GIF" else _picture(rng, (160, 120))
                  for _ in range(3)]  # fmt: skip
        frames[0].save(folder / f"f{i}{ext}", fmt, save_all=True, append_images=frames[1:], duration=100)

    return _each(save)


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def _ztxt_bomb(folder: Path, i: int, rng: np.random.Generator) -> None:
    buffer = io.BytesIO()
    _picture(rng).save(buffer, "PNG")
    png = buffer.getvalue()
    packer = zlib.compressobj(1)
    block = b"a" * (1 << 20)
    compressed = b"".join(packer.compress(block) for _ in range(200)) + packer.flush()  # 200 MB inflated
    idat = png.index(b"IDAT") - 4
    (folder / f"f{i}.png").write_bytes(png[:idat] + _png_chunk(b"zTXt", b"Comment\x00\x00" + compressed) + png[idat:])


def _corrupt_mid_scan(folder: Path, i: int, rng: np.random.Generator) -> None:
    data = bytearray(_jpeg_bytes(_picture(rng, (640, 480))))
    middle = len(data) // 2
    data[middle : middle + 2000] = rng.integers(0, 256, 2000, dtype=np.uint8).tobytes()
    (folder / f"f{i}.jpg").write_bytes(bytes(data))


def _with_sidecar(ext: str, content: Callable[[Path], bytes | None]) -> Builder:
    """A valid photo with a hostile sidecar ``f{i}{ext}`` (``content`` may make a link instead: returns None)."""

    def save(folder: Path, i: int, rng: np.random.Generator) -> None:
        _picture(rng).save(folder / f"f{i}.jpg")
        data = content(folder / f"f{i}{ext}")
        if data is not None:
            (folder / f"f{i}{ext}").write_bytes(data)

    return _each(save)


def _link_to_passwd(path: Path) -> None:
    path.symlink_to("/etc/passwd")


def _xmp_in(fmt: str) -> Builder:
    def save(folder: Path, i: int, rng: np.random.Generator) -> None:
        if fmt == "JPEG":
            _picture(rng).save(folder / f"f{i}.jpg", xmp=b"<x:xmpmeta" * 6_500)  # one APP1 segment: < 64 KB
        else:
            info = PngImagePlugin.PngInfo()
            info.add_itxt("XML:com.adobe.xmp", "<x:xmpmeta" * 90_000)  # 900 KB
            _picture(rng).save(folder / f"f{i}.png", pnginfo=info)

    return _each(save)


def _raw(name: str, content: Callable[[np.random.Generator], bytes]) -> Builder:
    def save(folder: Path, i: int, rng: np.random.Generator) -> None:
        stem, ext = os.path.splitext(name)
        (folder / f"{stem}{i}{ext}").write_bytes(content(rng))

    return _each(save)


def _png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def _header_only_png(width: int, height: int) -> bytes:
    ihdr = _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + ihdr + _png_chunk(b"IEND", b"")


def _bomb_png(rng: np.random.Generator) -> bytes:
    rows = zlib.compress(b"\x00" * (20_000 + 1) * 20_000, 9)  # 20000² grey zeros: 400 MP in ~400 KB
    ihdr = _png_chunk(b"IHDR", struct.pack(">IIBBBBB", 20_000, 20_000, 8, 0, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + ihdr + _png_chunk(b"IDAT", rows) + _png_chunk(b"IEND", b"")


def _link_outside(folder: Path, i: int, rng: np.random.Generator) -> None:
    outside = folder.parent / "outside"
    outside.mkdir(exist_ok=True)
    _picture(rng).save(outside / f"private{i}.jpg")
    (folder / f"f{i}.jpg").symlink_to(outside / f"private{i}.jpg")


def _odd_names(folder: Path, i: int, rng: np.random.Generator) -> None:
    names = ["café ☕ photo.jpg", "line\nbreak.jpg", "-starts-with-dash.jpg", os.fsdecode(b"latin1-\xe9.jpg")]
    _picture(rng).save(folder / names[i % len(names)].replace(".jpg", f"{i}.jpg"), "JPEG")


def _video(codec: str, ext: str, container: str | None = None) -> Builder:
    def save(folder: Path, i: int, rng: np.random.Generator) -> None:
        import av

        with av.open(str(folder / f"clip{i}{ext}"), "w", format=container) as out:
            stream = out.add_stream(codec, rate=25)
            stream.width, stream.height, stream.pix_fmt = 176, 144, "yuv420p"
            for _ in range(25):
                frame = av.VideoFrame.from_image(_picture(rng, (176, 144)))
                out.mux(stream.encode(frame))
            out.mux(stream.encode())

    return _each(save)


KINDS: dict[str, Kind] = {k.name: k for k in [
    Kind("ordinary", "indexed", _ordinary),
    Kind("jpeg_progressive", "indexed", _saved(".jpg", progressive=True, quality=85)),
    Kind("jpeg_cmyk", "indexed", _saved(".jpg", "CMYK")),
    Kind("jpeg_grey", "indexed", _saved(".jpg", "L")),
    Kind("jpeg_exif_rotated", "indexed", _each(_exif_rotated)),
    Kind("jpeg_trailing_garbage", "indexed", _raw("f.jpg", lambda r: _jpeg_bytes(_picture(r)) + r.bytes(2000))),
    Kind("jpeg_corrupt_mid_scan", "indexed", _each(_corrupt_mid_scan)),
    Kind("ext_jfif", "indexed", _saved(".jfif", format="JPEG")),
    Kind("ext_jpe", "indexed", _saved(".jpe", format="JPEG")),
    Kind("ext_upper_case", "indexed", _saved(".JPG", format="JPEG")),
    Kind("wrong_extension", "indexed", _raw("png_named.jpg", lambda r: _png_bytes(_picture(r)))),
    Kind("odd_names", "indexed", _each(_odd_names)),
    Kind("png_palette", "indexed", _saved(".png", "P")),
    Kind("png_palette_transparent", "indexed", _saved(".png", "P", transparency=0)),
    Kind("png_1bit", "indexed", _saved(".png", "1")),
    Kind("png_16bit_grey", "indexed", _each(_png16)),
    Kind("png_rgba", "indexed", _saved(".png", "RGBA")),
    Kind("png_la", "indexed", _saved(".png", "LA")),
    Kind("gif_animated", "indexed", _multi_frame("GIF", ".gif")),
    Kind("tiff_multipage", "indexed", _multi_frame("TIFF", ".tif")),
    Kind("tiff_float", "indexed", _saved(".tif", "F")),
    Kind("bmp", "indexed", _saved(".bmp")),
    Kind("webp", "indexed", _saved(".webp")),
    Kind("webp_animated", "indexed", _multi_frame("WEBP", ".webp")),
    Kind("avif", "indexed", _saved(".avif")),
    Kind("qoi", "indexed", _saved(".qoi")),
    Kind("tga", "indexed", _saved(".tga")),
    Kind("ppm", "indexed", _saved(".ppm")),
    Kind("ico", "indexed", _saved(".ico")),
    Kind("jpeg2000", "indexed", _saved(".jp2")),
    Kind("tiny_1x1", "indexed", _saved(".png", size=(1, 1))),
    Kind("panorama_20000x40", "indexed", _saved(".png", size=(20_000, 40))),
    Kind("huge_jpeg_9999", "indexed", _saved(".jpg", size=(9999, 9999))),
    Kind("huge_png16", "indexed", _huge("I;16")),
    Kind("huge_rgba", "indexed", _huge("RGBA")),
    Kind("huge_png_rgb", "indexed", _huge("RGB")),
    Kind("huge_png_palette", "indexed", _huge("P")),
    Kind("ztxt_bomb", "indexed", _each(_ztxt_bomb)),
    Kind("xmp_unclosed_sidecar", "indexed", _with_sidecar(".xmp", lambda p: b"<x:xmpmeta" * 100_000)),
    Kind("xmp_unclosed_jpeg", "indexed", _xmp_in("JPEG")),
    Kind("xmp_unclosed_png", "indexed", _xmp_in("PNG")),
    Kind("xmp_entity_bomb", "indexed", _with_sidecar(".xmp", lambda p: (
        b'<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">' + b"".join(b'<!ENTITY %c "&%c;&%c;&%c;&%c;">' % (
            98 + k, 97 + k, 97 + k, 97 + k, 97 + k) for k in range(12)) + b']><x:xmpmeta>&m;</x:xmpmeta>'))),
    Kind("json_nested_sidecar", "indexed", _with_sidecar(".json", lambda p: b"[" * 100_000 + b"]" * 100_000)),
    Kind("json_huge_sidecar", "indexed", _with_sidecar(".json", lambda p: b'["' + b"word " * 1_000_000 + b'"]')),
    Kind("sidecar_link_to_passwd", "indexed", _with_sidecar(".txt", _link_to_passwd)),
    Kind("video_mpg", "indexed", _video("mpeg1video", ".mpg")),
    Kind("video_wmv", "indexed", _video("wmv2", ".wmv", "asf")),
    Kind("video_3gp", "indexed", _video("h263", ".3gp")),
    Kind("empty", "error", _raw("f.jpg", lambda r: b"")),
    Kind("truncated_jpeg", "error", _raw("f.jpg", lambda r: _jpeg_bytes(_picture(r))[:3000])),
    Kind("truncated_png", "error", _raw("f.png", lambda r: _png_bytes(_picture(r))[:3000])),
    Kind("random_bytes", "error", _raw("f.jpg", lambda r: r.bytes(5000))),
    Kind("text_as_png", "error", _raw("f.png", lambda r: b"just some text, not an image\n")),
    Kind("html_as_jpg", "error", _raw("f.jpg", lambda r: b"<html><body>404 Not Found</body></html>")),
    Kind("header_claims_50000", "error", _raw("f.png", lambda r: _header_only_png(50_000, 50_000))),
    Kind("png_bomb_20000", "error", _raw("f.png", _bomb_png)),
    Kind("link_outside_root", "skipped", _each(_link_outside)),
    Kind("pdf", "skipped", _raw("f.pdf", lambda r: b"%PDF-1.4\n%%EOF\n")),
    Kind("eps_without_ghostscript", "skipped", _saved(".eps", "RGB", format="EPS")),
]}  # fmt: skip

QUICK = ("huge_png16", "huge_rgba", "ztxt_bomb", "jpeg_corrupt_mid_scan", "xmp_unclosed_sidecar", "json_nested_sidecar",
         "sidecar_link_to_passwd", "ext_jfif", "png_1bit", "truncated_jpeg", "link_outside_root", "pdf")  # fmt: skip


if __name__ == "__main__":
    kind, target, number = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    KINDS[kind].build(target, number, np.random.default_rng(22))
