"""Hostile but realistic files (issue 22, media side): nothing a folder holds can crash, stall, starve or leak.

Every fixture is generated here: nested JSON, unclosed XMP (sidecar, JPEG APP1, PNG iTXt), a zTXt bomb, a JPEG
with garbage mid-scan, symlinks out of the root, odd extensions, and (slow) 9999² 16-bit and RGBA PNGs whose
decode memory is measured in a fresh subprocess.
"""

from __future__ import annotations

import io
import json
import logging
import os
import struct
import subprocess
import sys
import textwrap
import threading
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from mmir.media import CorruptMediaError, decode_for_model, decode_image
from mmir.media.metadata import TextField, extract_metadata_text, read_sidecar, sidecar_paths
from mmir.media.scan import SkipReason, scan

_XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:subject><rdf:Bag><rdf:li>lighthouse</rdf:li>'
    b"</rdf:Bag></dc:subject></rdf:Description></rdf:RDF></x:xmpmeta>"
)


def _photo(path: Path, description: str = "a quokka on Rottnest") -> Path:
    exif = Image.Exif()
    exif[0x010E] = description
    Image.new("RGB", (32, 24), (90, 120, 200)).save(path, exif=exif)
    return path


# -- 1. nesting -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [1_000, 200_000])
def test_deeply_nested_json_sidecar_drops_its_text_only(tmp_path: Path, depth: int, caplog) -> None:
    photo = _photo(tmp_path / "a.jpg")
    (tmp_path / "a.json").write_text("[" * depth + '"deep"' + "]" * depth)
    (tmp_path / "a.txt").write_text("birthday cake")
    with caplog.at_level(logging.WARNING, logger="mmir.media"):
        text = extract_metadata_text(photo)  # RecursionError before the fix
    assert "quokka" in text.get(TextField.DESCRIPTION)
    assert "birthday cake" in text.get(TextField.SIDECAR) and "deep" not in text.get(TextField.SIDECAR)
    assert any("a.json" in r.getMessage() and "nest" in r.getMessage() for r in caplog.records)


def test_shallow_json_strings_still_read(tmp_path: Path) -> None:
    photo = _photo(tmp_path / "b.jpg")
    (tmp_path / "b.json").write_text(json.dumps({"title": "cake", "tags": [["x", ["ana [sic] {"]]], "n": 3}))
    assert extract_metadata_text(photo).get(TextField.SIDECAR) == "cake x ana [sic] {"


def test_deeply_nested_xmp_sidecar_drops_its_text_only(tmp_path: Path) -> None:
    photo = _photo(tmp_path / "c.jpg")
    (tmp_path / "c.xmp").write_bytes(b'<x:xmpmeta xmlns:x="adobe:ns:meta/">' + b"<a>" * 100_000 + b"</x:xmpmeta>")
    assert "quokka" in extract_metadata_text(photo).get(TextField.DESCRIPTION)


def test_deeply_nested_embedded_xmp_keeps_the_exif_text(tmp_path: Path, caplog) -> None:
    photo = tmp_path / "k.jpg"
    exif = Image.Exif()
    exif[0x010E] = "a quokka on Rottnest"
    deep = b'<x:xmpmeta xmlns:x="adobe:ns:meta/">' + b"<a>" * 20_000 + b"</x:xmpmeta>"
    Image.new("RGB", (16, 16)).save(photo, exif=exif, xmp=deep)
    with caplog.at_level(logging.WARNING, logger="mmir.media"):
        text = extract_metadata_text(photo)
    assert "quokka" in text.get(TextField.DESCRIPTION)
    assert any("k.jpg: metadata text dropped" in r.getMessage() for r in caplog.records)


# -- 2. unclosed XMP: linear time -------------------------------------------------------------------------------


def _timed_text(photo: Path) -> tuple[float, str]:
    started = time.perf_counter()
    text = extract_metadata_text(photo)
    return time.perf_counter() - started, text.get(TextField.DESCRIPTION)


def test_unclosed_xmp_sidecar_is_linear(tmp_path: Path) -> None:
    photo = _photo(tmp_path / "d.jpg")
    (tmp_path / "d.xmp").write_bytes(b"<x:xmpmeta" * 100_000)  # 1 MB; the old pattern search was quadratic
    seconds, description = _timed_text(photo)
    assert seconds < 1.0 and "quokka" in description


def test_unclosed_xmp_in_jpeg_app1_is_linear(tmp_path: Path) -> None:
    photo = tmp_path / "e.jpg"
    Image.new("RGB", (16, 16)).save(photo, xmp=b"<x:xmpmeta" * 6_500)  # one APP1 segment holds < 64 KB
    seconds, _ = _timed_text(photo)
    assert seconds < 0.5


def test_unclosed_xmp_in_png_text_chunk_is_linear_and_closed_packets_still_read(tmp_path: Path) -> None:
    photo = tmp_path / "f.png"
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", "<x:xmpmeta" * 90_000)  # 900 KB
    Image.new("RGB", (16, 16)).save(photo, pnginfo=info)
    seconds, _ = _timed_text(photo)
    assert seconds < 1.0
    good = tmp_path / "g.png"
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", ("<x:xmpmeta junk " * 1000 + _XMP.decode()))
    Image.new("RGB", (16, 16)).save(good, pnginfo=info)
    assert extract_metadata_text(good).get(TextField.KEYWORDS) == "lighthouse"


def test_xmp_with_entity_declarations_is_refused(tmp_path: Path) -> None:
    photo = _photo(tmp_path / "h.jpg")
    bomb = b'<!DOCTYPE x [<!ENTITY a "lol">]><x:xmpmeta xmlns:x="adobe:ns:meta/">&a;</x:xmpmeta>'
    (tmp_path / "h.xmp").write_bytes(bomb)
    assert extract_metadata_text(photo).get(TextField.SIDECAR) == ""


# -- 5. symlinks out of the root --------------------------------------------------------------------------------


def test_sidecar_symlinked_outside_the_folder_is_not_read(tmp_path: Path) -> None:
    (tmp_path / "outside").mkdir()
    secret = tmp_path / "outside" / "passwd"
    secret.write_text("root:x:0:0:root:/root:/usr/sbin/nologin")
    root = tmp_path / "root"
    root.mkdir()
    photo = _photo(root / "photo.jpg")
    (root / "photo.txt").symlink_to(secret)
    (root / "photo.json").symlink_to(secret)
    assert sidecar_paths(photo) == []
    assert "nologin" not in extract_metadata_text(photo).get(TextField.SIDECAR)
    assert read_sidecar(photo, (".txt",)) is None  # weak labels read sidecars too
    (root / "notes.txt").write_text("sunset")
    (root / "photo.xmp").symlink_to("notes.txt")  # a link inside the folder is fine
    assert extract_metadata_text(photo).get(TextField.SIDECAR) == ""  # .xmp of plain text: no packet
    (root / "photo.txt").unlink()
    (root / "photo.txt").symlink_to(root / "notes.txt")
    assert extract_metadata_text(photo).get(TextField.SIDECAR) == "sunset"


def test_scan_skips_links_leaving_the_root_and_counts_them(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    _photo(outside / "private.jpg")
    (outside / "passwd.txt").write_text("nologin")
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    _photo(root / "sub" / "real.jpg")
    (root / "escape.jpg").symlink_to(outside / "private.jpg")
    (root / "photo.txt").symlink_to(outside / "passwd.txt")
    (root / "inside.jpg").symlink_to(root / "sub" / "real.jpg")
    skipped: list[tuple[str, SkipReason]] = []
    found = [e.path for e in scan(root, on_skip=lambda p, r: skipped.append((p, r)))]
    assert found == [str(root / "inside.jpg"), str(root / "sub" / "real.jpg")]
    outside_links = sorted(os.path.basename(p) for p, r in skipped if r is SkipReason.LINK_OUTSIDE_ROOT)
    assert outside_links == ["escape.jpg", "photo.txt"]


# -- 8. valid media kept ----------------------------------------------------------------------------------------


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def _ztxt_bomb_png(expanded_mb: int = 200) -> bytes:
    """A valid 64×48 PNG with a zTXt chunk that inflates to ``expanded_mb`` MB (about 200 KB on disk)."""
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 200, 30)).save(buffer, "PNG")
    png = buffer.getvalue()
    packer = zlib.compressobj(1)
    block = b"a" * (1 << 20)
    compressed = b"".join(packer.compress(block) for _ in range(expanded_mb)) + packer.flush()
    chunk = _png_chunk(b"zTXt", b"Comment\x00\x00" + compressed)
    idat = png.index(b"IDAT") - 4
    return png[:idat] + chunk + png[idat:]


def test_ztxt_bomb_keeps_the_pixels_and_drops_the_text(tmp_path: Path) -> None:
    data = _ztxt_bomb_png()
    image = decode_image(data, "bomb.png")  # was "Decompressed data too large" for the whole file
    assert image.size == (64, 48) and image.getpixel((5, 5)) == (10, 200, 30)
    assert decode_for_model(data, "bomb.png", 224).size == (64, 48)
    (tmp_path / "bomb.png").write_bytes(data)
    text = extract_metadata_text(tmp_path / "bomb.png")
    assert text.get(TextField.NAME).endswith("bomb") and text.get(TextField.DESCRIPTION) == ""


def _corrupt_mid_scan_jpeg() -> bytes:
    rng = np.random.default_rng(22)
    ramp = np.broadcast_to(np.linspace(0, 255, 640, dtype=np.uint8)[None, :, None], (480, 640, 3))
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(ramp)).save(buffer, "JPEG", quality=90)
    data = bytearray(buffer.getvalue())
    middle = len(data) // 2
    data[middle : middle + 2000] = rng.integers(0, 256, 2000, dtype=np.uint8).tobytes()
    return bytes(data)


def test_jpeg_with_garbage_mid_scan_decodes_leniently_with_a_note(caplog) -> None:
    data = _corrupt_mid_scan_jpeg()
    with caplog.at_level(logging.WARNING, logger="mmir.media"):
        image = decode_image(data, "damaged.jpg")
        small = decode_for_model(data, "damaged.jpg", 224)
    assert image.size == (640, 480) and min(small.size) >= 202
    assert np.asarray(image)[:40, :, 0].mean() == pytest.approx(127, abs=8)  # the top rows decoded as stored
    assert any("damaged.jpg" in r.getMessage() and "damaged" in r.getMessage() for r in caplog.records)


def test_truncated_jpeg_is_still_an_error() -> None:
    data = _corrupt_mid_scan_jpeg()
    with pytest.raises(CorruptMediaError):
        decode_image(data[: len(data) // 3], "cut.jpg")


@pytest.mark.parametrize("ext", [".jfif", ".jpe", ".jpg", ".avif", ".qoi", ".ppm", ".tga", ".ico"])
def test_odd_image_extensions_are_scanned_and_decode(tmp_path: Path, ext: str) -> None:
    fmt = Image.registered_extensions()[ext]
    path = tmp_path / f"pic{ext}"
    Image.new("RGB", (32, 32), (200, 30, 30)).save(path, fmt)
    assert [e.kind.value for e in scan(tmp_path)] == ["image"]
    assert decode_image(path.read_bytes(), path).size == (32, 32)


def test_heic_photos_are_scanned_and_decode_with_pillow_heif(tmp_path: Path) -> None:
    pytest.importorskip("pillow_heif")
    from mmir.media.image import register_optional_plugins

    register_optional_plugins()
    Image.new("RGB", (64, 48), (200, 10, 10)).save(tmp_path / "IMG_0001.HEIC", "HEIF")
    assert [e.kind.value for e in scan(tmp_path)] == ["image"]
    image = decode_image((tmp_path / "IMG_0001.HEIC").read_bytes(), "IMG_0001.HEIC")
    assert image.size == (64, 48) and image.getpixel((3, 3))[0] > 150


@pytest.mark.parametrize("ext", [".3gp", ".mpg", ".mts", ".m2ts", ".wmv", ".mpeg", ".flv", ".ogv"])
def test_odd_video_extensions_are_scanned(tmp_path: Path, ext: str) -> None:
    (tmp_path / f"clip{ext}").write_bytes(b"\0" * 16)
    assert [e.kind.value for e in scan(tmp_path)] == ["video"]


def test_skipped_extensions_are_reported_not_silent(tmp_path: Path) -> None:
    for name in ("a.jpg", "a.txt", "a.json", "notes.pdf", "song.flac", "Makefile", ".hidden.xyz"):
        (tmp_path / name).write_bytes(b"x")
    skipped: list[tuple[str, SkipReason]] = []
    list(scan(tmp_path, on_skip=lambda p, r: skipped.append((p, r))))
    assert sorted(os.path.basename(p) for p, r in skipped if r is SkipReason.EXTENSION) == [
        "Makefile", "notes.pdf", "song.flac",
    ]  # sidecars (.txt/.json/.xmp) and hidden files are not "skipped media"


# -- 4. decode memory -------------------------------------------------------------------------------------------


def test_decode_budget_serialises_large_decodes() -> None:
    from mmir.media.image import DecodeBudget

    budget = DecodeBudget(100)
    inside, peak = [0], [0]
    lock = threading.Lock()

    def work(cost: int) -> None:
        with budget.reserve(cost):
            with lock:
                inside[0] += 1
                peak[0] = max(peak[0], inside[0])
            time.sleep(0.05)
            with lock:
                inside[0] -= 1

    threads = [threading.Thread(target=work, args=(60,)) for _ in range(4)]
    threads += [threading.Thread(target=work, args=(500,))]  # over the whole budget: runs, alone
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert peak[0] == 1 and budget.in_use == 0


def test_decodes_reserve_their_pixels_from_the_shared_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    import mmir.media.image as image_module
    from mmir.media.image import DecodeBudget

    class Spy(DecodeBudget):
        def __init__(self) -> None:
            super().__init__(1 << 30)
            self.costs: list[int] = []

        def reserve(self, cost: int):  # type: ignore[override]
            self.costs.append(cost)
            return super().reserve(cost)

    spy = Spy()
    monkeypatch.setattr(image_module, "DECODE_BUDGET", spy)
    buffer = io.BytesIO()
    Image.new("RGBA", (3000, 2000), (0, 0, 255, 128)).save(buffer, "PNG")
    image = decode_for_model(buffer.getvalue(), "wide.png", 224)
    from mmir.media import _png_stream

    # In memory: 4 bytes a pixel decoded + 1 converting; streamed by libvips (the png extra): two bands of rows.
    expected = _png_stream.stream_cost(3000) if _png_stream.available() else 3000 * 2000 * 5
    assert spy.costs == [expected] and spy.in_use == 0
    assert min(image.size) >= 202 and image.size[0] < 3000  # reduced (6 MP is over the 4.2 MP threshold)
    assert image.getpixel((10, 10)) == pytest.approx((127, 127, 255), abs=2)  # half-transparent blue on white


_MEASURE = textwrap.dedent(
    """
    import resource, sys
    from mmir.media import decode_for_model
    data = open(sys.argv[1], "rb").read()
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    image = decode_for_model(data, sys.argv[1], 224)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(image.size[0], image.size[1], (peak - base) // 1024)
    """
)


def _peak_decode_mb(path: Path) -> tuple[tuple[int, int], int]:
    out = subprocess.run([sys.executable, "-c", _MEASURE, str(path)], capture_output=True, text=True, check=True)
    width, height, megabytes = (int(v) for v in out.stdout.split())
    return (width, height), megabytes


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["I;16", "RGBA"])
def test_decode_memory_of_huge_deep_or_alpha_png_is_bounded(tmp_path: Path, mode: str) -> None:
    path = tmp_path / "huge.png"
    make = f"from PIL import Image; Image.new({mode!r}, (9999, 9999)).save({str(path)!r})"
    subprocess.run([sys.executable, "-c", make], check=True)
    size, megabytes = _peak_decode_mb(path)
    assert min(size) >= 202 and max(size) < 9999  # reduced to the model's input, not decoded at full size
    decoded = 9999 * 9999 * (2 if mode == "I;16" else 4) / 2**20  # the decoder's own buffer, unavoidable
    assert megabytes < decoded * 1.5 + 100, f"{mode}: peak {megabytes} MB over the {decoded:.0f} MB decode"


# -- the whole product: `mmir index` over a hostile folder ------------------------------------------------------


@pytest.mark.slow  # a subprocess that loads the model
def test_index_command_keeps_every_valid_file_and_says_what_it_passed_over(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    root.mkdir()
    _photo(root / "nested.jpg")
    (root / "nested.json").write_text("[" * 1000 + "]" * 1000)
    _photo(root / "unclosed.jpg")
    (root / "unclosed.xmp").write_bytes(b"<x:xmpmeta" * 20_000)
    _photo(root / "camera.jfif")
    (root / "bomb.png").write_bytes(_ztxt_bomb_png(64))
    (root / "damaged.jpg").write_bytes(_corrupt_mid_scan_jpeg())
    (root / "report.pdf").write_bytes(b"%PDF-1.4")
    _photo(tmp_path / "private.jpg")
    (root / "escape.jpg").symlink_to(tmp_path / "private.jpg")
    (tmp_path / "passwd").write_text("nologin")
    (root / "camera.txt").symlink_to(tmp_path / "passwd")
    command = [sys.executable, "-m", "mmir", "index", str(root), "--collection", str(tmp_path / "coll"),
               "--no-progress", "--no-ocr", "--no-speech", "--verbose"]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, env=os.environ | {"HF_HUB_OFFLINE": "1"})
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 0, result.stderr
    assert "5 added" in result.stdout and "0 failed" in result.stdout, result.stdout
    notes = result.stderr
    assert "nested.json: metadata text dropped" in notes and "damaged.jpg: damaged JPEG data" in notes
    assert "bomb.png: text chunks dropped" in notes
    assert "2 files skipped: symbolic link" in notes and "1 file skipped: not an image or video" in notes
    assert f"skipped {root / 'report.pdf'}" in notes and f"skipped {root / 'escape.jpg'}" in notes


@pytest.mark.slow  # two subprocesses that load the model
def test_a_link_retargeted_out_of_the_root_is_removed_from_the_index(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    root.mkdir()
    _photo(root / "real.jpg", "a harbour")
    _photo(tmp_path / "private.jpg", "a private letter")
    (root / "link.jpg").symlink_to(root / "real.jpg")
    command = [sys.executable, "-m", "mmir", "index", str(root), "--collection", str(tmp_path / "coll"),
               "--no-progress", "--json"]  # fmt: skip
    env = os.environ | {"HF_HUB_OFFLINE": "1"}
    first = json.loads(subprocess.run(command, capture_output=True, text=True, env=env, check=True).stdout)
    assert first["scanned"] == 2 and not first["problems"]
    (root / "link.jpg").unlink()
    (root / "link.jpg").symlink_to(tmp_path / "private.jpg")
    second = json.loads(subprocess.run(command, capture_output=True, text=True, env=env, check=True).stdout)
    assert second["removed"] == 1 and second["scanned"] == 1  # was kept: the link still existed
