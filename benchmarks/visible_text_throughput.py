"""Indexing throughput with OCR on vs off, same photos, same run (issue 21's goal: within 25 %, a ratio ≥ 0.75).

Photos: the first N COCO-mini photos by path (an ordinary mix: people, animals, food, streets; 6 of the first 60
show hand-annotated text) or the first N without annotated text. Rows, each `Collection.index` (vision pass) then
`produce_text` (the OCR back-fill `mmir index --ocr` runs): OCR off; OCR on (the product's settings); OCR on with
the settings before the two looks (baseline); optionally without the first look; and two bounds for ANY cheaper
text-presence gate (visible_text_gate.py measures real ones): every photo rejected by the pixel gate (what re-reading
and decoding a photo costs), and a perfect gate that knows which photos have annotated text (full OCR on those only,
the pixel gate's ~1 ms on the rest). Every row runs ``repeats`` times, every other sequence in reverse order (load
drifts on a shared machine); medians of wall time and of this process's CPU time (load-robust) are printed.

Usage: python benchmarks/visible_text_throughput.py [--photos mix|plain|both] [--count 60] [--repeats 2]
       (also run by visible_text.py)
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from visible_text import ANNOTATIONS, COCO, GRID, Setting, ocr_settings

if TYPE_CHECKING:
    from mmir.media import ImageLimits
    from mmir.media.ocr import OcrResult, OcrSettings


PERFECT = ("perfect_gate", True)  # marks the throughput row of the perfect-gate bound (not an OcrSettings field)


def throughput(count: int, setting: Setting, folder: Path, no_gate: bool, plain: bool = False, repeats: int = 2,
               baseline: Setting = GRID[0]) -> None:  # fmt: skip
    """``Collection.index`` photos/s with OCR off and on, same photos, same run (OCR off measured before and after).

    The photos are the first ``count`` COCO-mini photos by path (an ordinary mix: people, animals, food, streets;
    the count with hand-annotated text is printed), or with ``plain`` the first ``count`` without annotated text.
    Besides the chosen setting: ``baseline`` (the settings before the two looks), with ``no_gate`` one without the
    detector's first look, and two bounds for ANY cheaper gate (visible_text_gate.py tries real ones): every photo
    rejected by the pixel gate (what re-reading and decoding costs) and a perfect gate that knows which photos
    have annotated text (the full OCR on those only, the pixel gate's cost on the rest).
    """
    photos = folder / ("tp_plain" if plain else "tp")
    photos.mkdir()
    everything = sorted(COCO.rglob("*.jpg"))
    chosen = [p for p in everything if not plain or str(p.relative_to(COCO)) not in ANNOTATIONS][:count]
    for p in chosen:
        shutil.copy(p, photos / p.name)
    texts = [photos / p.name for p in chosen if str(p.relative_to(COCO)) in ANNOTATIONS]
    rows: list[tuple[str, Setting | None]] = [("OCR off", None), ("OCR on", setting)]
    if baseline != setting:
        rows.append(("OCR on, baseline", baseline))
    if no_gate:
        rows.append(
            ("OCR on, no first look", (*(kv for kv in setting if kv[0] != "first_side"), ("first_side", 100_000)))
        )
    rows += [
        ("bound: all gated", (*setting, ("min_presence", 2.0))),
        ("bound: perfect gate", (*setting, PERFECT)),
        ("OCR off again", None),
    ]
    walls: dict[str, list[float]] = {name: [] for name, _ in rows if name != "OCR off again"}
    cpus: dict[str, list[float]] = {name: [] for name in walls}
    notes: dict[str, str] = {}
    load = os.getloadavg()[0]
    for repeat in range(repeats):  # every other sequence reversed: load drifts between rows on a shared machine
        for name, row in rows if repeat % 2 == 0 else rows[::-1]:
            wall, cpu, notes[name] = _index_once(folder / f"tp_{plain}_{repeat}_{name}", photos, row, texts)
            name = "OCR off" if name == "OCR off again" else name
            walls[name].append(wall / len(chosen))
            cpus[name].append(cpu / len(chosen))
    which = "without annotated text" if plain else "by path"
    print(f"throughput: the first {len(chosen)} COCO-mini photos {which} ({len(texts)} with hand-annotated text); "
          f"median of {repeats} runs (OCR off: {2 * repeats}); load average {load:.1f} -> {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} cores; ratio = OCR off / row, by wall time and by CPU time (load-robust)")  # fmt: skip
    off_wall, off_cpu = float(np.median(walls["OCR off"])), float(np.median(cpus["OCR off"]))
    for name in walls:
        wall, cpu = float(np.median(walls[name])), float(np.median(cpus[name]))
        extra = "" if name == "OCR off" else (
            f"; ratio wall {off_wall / wall:.2f} CPU {off_cpu / cpu:.2f} (goal ≥ 0.75); "
            f"OCR {1000 * (wall - off_wall):.0f} ms/photo wall, {1000 * (cpu - off_cpu):.0f} ms CPU"
        )  # fmt: skip
        print(
            f"  indexing, {name:20s}: {1 / wall:6.1f} photos/s, {1000 * cpu:5.0f} ms CPU/photo ({notes[name]}{extra})"
        )


def _index_once(folder: Path, photos: Path, row: Setting | None, texts: list[Path]) -> tuple[float, float, str]:
    """Index ``photos`` into a new collection, then OCR with ``row``'s settings unless ``None`` (behind the perfect
    gate that passes only ``texts`` where ``row`` holds ``PERFECT``): ``(wall s, CPU s of this process, note)``."""
    from mmir.api import Collection
    from mmir.indexing.pipeline import IndexOptions
    from mmir.indexing.text import TextOptions, produce_text

    with Collection.open(folder, create=True) as coll:
        coll.encoder.encode_batch  # noqa: B018  (the model loads outside the clock)
        cpu, started = _cpu_s(), time.perf_counter()
        coll.index([photos], IndexOptions(progress=False))
        vision = time.perf_counter() - started
        if row is None:
            return vision, _cpu_s() - cpu, f"vision pass {vision * 1000 / len(list(photos.iterdir())):.0f} ms/photo"
        perfect = PERFECT in row
        options = TextOptions(speech=False, ocr_settings=ocr_settings(tuple(kv for kv in row if kv != PERFECT)))
        if perfect:
            engine = PerfectGate(options.ocr_settings or ocr_settings(()), texts, IndexOptions().limits)
            report = produce_text(coll.store.catalog, engine, None, IndexOptions().limits, options.workers)
        else:
            report = coll.produce_text(options)  # what Collection.index(..., text=options) runs after the vision pass
        wall = time.perf_counter() - started
    return wall, _cpu_s() - cpu, f"{report.ocr_skipped} of {report.ocr_files} photos gated (no full OCR)"


def _cpu_s() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class PerfectGate:
    """An OCR engine behind a perfect, nearly free gate (a bound, for the throughput rows of visible_text.py): the
    photos in ``texts`` get the product's full OCR, every other photo only the pixel gate (~1 ms).

    Photos are recognised by their decoded pixels: the same decode the text producer runs on the same file.
    """

    def __init__(self, settings: OcrSettings, texts: list[Path], limits: ImageLimits) -> None:
        from mmir.media import decode_image, read_file
        from mmir.media.ocr import OcrEngine

        self._engine = OcrEngine(settings)
        self.settings, self.version = settings, self._engine.version
        side = max(1, settings.det_side * 3 // 4)  # as mmir.indexing.text._images decodes a photo
        self._texts = {
            _key(decode_image(read_file(str(p), limits=limits), str(p), limits=limits, min_side=side)) for p in texts
        }

    def read(self, image: Image.Image) -> OcrResult:
        from mmir.media.ocr import OcrResult, text_presence

        if _key(image) in self._texts:
            return self._engine.read(image)
        return OcrResult((), text_presence(image), gated=True)


def _key(image: Image.Image) -> bytes:
    return str(image.size).encode() + np.asarray(image.convert("L"))[::7, ::7].tobytes()


def main() -> None:
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", choices=("mix", "plain", "both"), default="both")
    parser.add_argument("--count", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--no-gate-row", action="store_true", help="also OCR without the first look")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        for plain in {"mix": (False,), "plain": (True,), "both": (False, True)}[args.photos]:
            throughput(args.count, (), Path(folder), args.no_gate_row, plain, args.repeats)


if __name__ == "__main__":
    main()
