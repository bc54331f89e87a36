"""Visible text (OCR): word recall/precision of the engines, keyword R@1, and the cost of OCR while indexing.

Data (all offline):
  real       photos with scene text from ../shared/data/coco-mini (signs, shop fronts, a scoreboard, packaging,
             buses), opencv-doc's messi5.jpg; every legible word annotated BY HAND by looking at the photo (not
             copied from any OCR output): see ANNOTATIONS (202 words in 27 photos). Split by photo into a
             validation half (settings are chosen there) and a test half.
  synthetic  random dictionary words rendered on COCO photos WITHOUT text (several fonts, sizes, angles, colours);
             seeded; the same images for every row.

Rows (every row tried is printed):
  keyword R@1 per OcrSettings row (GRID: the old default, the product default, without the first look's word
             test, without the first look, a smaller first look, thresholds), through the product: the photos are
             indexed once, each row re-runs only OCR (`Collection.produce_text`: the ledger sees a new version),
             then for every annotated word that occurs in exactly one annotated photo, `Collection.search_fields(
             word, shows)` (`mmir search --shows`) and `Collection.search(TextQuery(word))` (plain keyword search,
             fused) over the annotated photos plus COCO photos without annotated text; hit if that photo ranks
             first. Beside it the word recall/precision of the stored lines. The row with the best validation
             R@1 (--shows) is chosen; test figures are printed for every row, and test misses.
  engines    word recall/precision of the old default and the chosen setting (mmir.media.ocr.OcrEngine alone) and
             of tesseract (Debian 5.x, ``--psm 11``), on the real halves and the synthetic set (--skip-engines: no)
Word recall = annotated words found / annotated words; precision = read words that are annotated / read words
(words: case-folded, accents stripped, apostrophes dropped, split on non-alphanumerics, 2+ characters).
Throughput (visible_text_throughput.py): the first N COCO photos by path (an ordinary mix, some with text) and the
first N without annotated text, each indexed by `Collection.index` + `produce_text` with OCR off, on (the chosen
setting), on (the old default), two bounds for any cheaper text-presence gate (every photo rejected by the pixel
gate; a perfect gate that knows the annotated text photos); photos/s and CPU ms, how many were gated, the ratio.
Cheap gates themselves are measured by visible_text_gate.py.

Usage: python benchmarks/visible_text.py [--quick] [--skip-engines] [--no-gate-row] [--distractors 60]
       [--throughput 120] [--photos mix|plain|both] [--throughput-only]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image, ImageDraw, ImageFont

if TYPE_CHECKING:
    from mmir.api import Collection
    from mmir.media.ocr import OcrSettings

ROOT = Path(__file__).resolve().parents[1]
COCO = ROOT.parent / "shared" / "data" / "coco-mini"
OPENCV = Path("/usr/share/doc/opencv-doc/examples/data")
FONTS = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationMono-Regular.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Italic.ttf",
]
# Hand annotation: photo → the words legible in it (at full size), as written on the photo.
ANNOTATIONS: dict[str, str] = {
    "train2017/000000107438.jpg": "welcome to ardnamurchan point visitor centre",
    "train2017/000000231460.jpg": "potsdamer straße 47 129 bülowstraße noir istanbul grill gehweg schäden",
    "train2017/000000379349.jpg": "emergency use only alarm will sound if door is opened make yourself comfortable "
    "serta so comfortable you'll never have to count these guys again",
    "train2017/000000408805.jpg": "coloured extinguisher dry chemical class be used for paper wood textile oil "
    "liquid and electrical fires",
    "train2017/000000114174.jpg": "cream soda and hotcake birthday cake white mushroom chair dispenser coaster "
    "donut cushion cherry pie bed",
    "train2017/000000433998.jpg": "min tor cws det cle tb kc bos nyy laa tex sea oak garcia",
    "val2017/000000389684.jpg": "mukarba chowk bhalswa golf course bhalswa village shimla hr37c 8463",
    "val2017/000000262227.jpg": "exit checkouts overdues holds fines due date msgs copy status details check in "
    "select all",
    "val2017/000000530836.jpg": "century food kitchens where guardian service recipes are developed and tested",
    "val2017/000000189775.jpg": "daily esurance live planet dailynews",
    "val2017/000000577932.jpg": "dot cafe internet dry cleaning",
    "val2017/000000172648.jpg": "super store confectionery groceries news agent pay as you sim",
    "val2017/000000476704.jpg": "1109 18 www actransit org ac transit",
    "val2017/000000553664.jpg": "learn anywhere incase",
    "val2017/000000142585.jpg": "contact 4354073 435097 tata tn 09 ah 2872 18",
    "val2017/000000527220.jpg": "hess 281 294 306 premium",
    "train2017/000000418049.jpg": "original pedigree made with fresh meat",
    "train2017/000000145311.jpg": "dec 18 09 14 50 29 water temp 76 air high of 84 sea pests man",
    "val2017/000000338905.jpg": "smakelijk grimbergen abdijbier",
    "val2017/000000252332.jpg": "stop",
    "val2017/000000018575.jpg": "omni hotels",
    "val2017/000000568290.jpg": "qbuzz",
    "val2017/000000361919.jpg": "erdgas",
    "val2017/000000286458.jpg": "baggage",
    "val2017/000000369771.jpg": "bento 297",
    "val2017/000000463690.jpg": "quality value everyone",
    "opencv:messi5.jpg": "unicef weekmedia",
}
_SPLIT = re.compile(r"[^0-9a-z]+")
_WORD_LIST = (
    "harbour market river garden station museum bakery pharmacy library hotel street avenue bridge castle school "
    "theatre bicycle coffee summer winter orange yellow silver golden window kitchen"
)
WORDS = tuple(_WORD_LIST.split(" "))


def words(text: str) -> set[str]:
    """Case-folded, accent-free, apostrophe-free alphanumeric words of 2+ characters."""
    folded = unicodedata.normalize("NFKD", text.casefold().replace("'", "").replace("’", ""))
    plain = "".join(c for c in folded if not unicodedata.combining(c))
    return {w for w in _SPLIT.split(plain) if len(w) >= 2}


def photo_path(key: str) -> Path:
    return OPENCV / key.split(":", 1)[1] if key.startswith("opencv:") else COCO / key


def synthetic(count: int, seed: int = 0) -> list[tuple[Image.Image, set[str], str]]:
    """COCO photos without annotated text, with two random words drawn on each: ``(image, words, setting)``."""
    rng = random.Random(seed)
    fonts = [f for f in FONTS if Path(f).exists()]
    plain = [p for p in sorted(COCO.rglob("*.jpg")) if str(p.relative_to(COCO)) not in ANNOTATIONS]
    out = []
    for i in range(count):
        photo = Image.open(plain[i % len(plain)]).convert("RGB")
        size, angle = rng.choice((18, 28, 44)), rng.choice((0, 0, 10, 25))
        text = (
            f"{rng.choice(WORDS)} {rng.choice(WORDS)}".upper()
            if rng.random() < 0.5
            else f"{rng.choice(WORDS)} {rng.choice(WORDS)}"
        )
        font = ImageFont.truetype(fonts[i % len(fonts)], size)
        layer = Image.new("RGBA", (size * len(text), size * 2), (0, 0, 0, 0))
        light = rng.random() < 0.5
        ink, edge = ((250, 250, 250, 255), (0, 0, 0, 255)) if light else ((15, 15, 15, 255), (255, 255, 255, 255))
        ImageDraw.Draw(layer).text((size // 2, size // 3), text, font=font, fill=ink, stroke_width=1, stroke_fill=edge)
        layer = layer.rotate(angle, expand=True)
        x = rng.randint(0, max(0, photo.width - layer.width))
        y = rng.randint(0, max(0, photo.height - layer.height))
        photo.paste(layer, (x, y), layer)
        out.append((photo, words(text), f"{Path(fonts[i % len(fonts)]).stem} {size}px {angle}°"))
    return out


def score(found: list[set[str]], truth: list[set[str]]) -> tuple[float, float, int]:
    """(word recall, precision, annotated words) over photos."""
    hits = sum(len(f & t) for f, t in zip(found, truth, strict=True))
    total, read = sum(len(t) for t in truth), sum(len(f) for f in found)
    return hits / max(total, 1), hits / max(read, 1), total


Setting = tuple[tuple[str, object], ...]  # OcrSettings fields that differ from the defaults, as (name, value)

# Rows tried (every one printed): the old default (one look at 960 px, no enlarging), the product default (first look
# at 640, 2x enlarged second look only where it fires), the same without the first look, and threshold variants.
GRID: tuple[Setting, ...] = (
    (("first_side", 960), ("det_side", 960), ("upscale", False), ("first_read", False)),
    (),
    (("first_read", False),),  # the first look's boxes alone decide
    (("first_side", 1280), ("first_read", False)),  # no first look: the full size on every photo
    (("first_side", 480),),
    (("box_thresh", 0.4),),
    (("min_confidence", 0.5),),
)
QUICK_GRID = GRID[:3]


def label(setting: Setting) -> str:
    return "default" if not setting else " ".join(f"{k}={v}" for k, v in setting)


def ocr_settings(setting: Setting) -> OcrSettings:
    from mmir.media.ocr import OcrSettings

    return OcrSettings(**dict(setting))


def read_rapidocr(images: list[Image.Image], setting: Setting) -> tuple[list[set[str]], float]:
    from mmir.media.ocr import OcrEngine

    engine = OcrEngine(ocr_settings(setting), threads=2)
    engine._load()  # the models load outside the clock
    started = time.perf_counter()
    found = [words(engine.read(im).text) for im in images]
    return found, (time.perf_counter() - started) / max(len(images), 1)


def read_tesseract(images: list[Image.Image]) -> tuple[list[set[str]], float]:
    found, started = [], time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        for i, im in enumerate(images):
            path = Path(folder) / f"{i}.png"
            im.save(path)
            out = subprocess.run(["tesseract", str(path), "stdout", "--psm", "11"], capture_output=True, text=True)
            found.append(words(out.stdout))
    return found, (time.perf_counter() - started) / max(len(images), 1)


def engine_rows(sets: dict[str, tuple[list[Image.Image], list[set[str]]]], settings: list[Setting]) -> None:
    """Word recall/precision of each engine setting on each set (engine alone, no index), and its ms per photo."""
    print(f"{'engine (word recall R, precision P)':44s} " + "  ".join(f"{name:>24s}" for name in sets) + "  ms/photo")
    rows: list[tuple[str, Setting | None]] = [(f"rapidocr {label(s)}", s) for s in settings]
    if shutil.which("tesseract"):
        rows.append(("tesseract --psm 11", None))
    for name_, setting in rows:
        cells, cost = [], 0.0
        for images, truth in sets.values():
            found, per = read_tesseract(images) if setting is None else read_rapidocr(images, setting)
            recall, precision, total = score(found, truth)
            cost = max(cost, per)
            cells.append(f"R {recall:.3f} P {precision:.3f} ({total:3d})")
        print(f"{name_:44s} " + "  ".join(f"{c:>24s}" for c in cells) + f"  {cost * 1000:8.0f}")


def retrieval_rows(grid: tuple[Setting, ...], distractors: int, folder: Path) -> Setting:
    """Keyword R@1 of one-photo words through the product (index with OCR, ``Collection.search_fields`` on the
    ``shows`` field and keyword search) for every setting; returns the best on the validation half."""
    from mmir.api import Collection
    from mmir.indexing.pipeline import IndexOptions
    from mmir.indexing.text import TextOptions

    photos, unique = _r1_photos(folder, distractors)
    print(f"keyword R@1: {len(ANNOTATIONS)} annotated photos + {distractors} COCO photos without annotated text; "
          f"one-photo words: validation {sum(_split_of(n) == 0 for n in unique.values())}, "
          f"test {sum(_split_of(n) == 1 for n in unique.values())}; baseline without OCR: 0.000")  # fmt: skip
    best, best_r1 = grid[0], -1.0
    with Collection.open(folder / "coll", create=True) as coll:
        coll.index([photos], IndexOptions(progress=False))  # vision once; each setting re-runs only OCR (ledger)
        for setting in grid:
            started = time.perf_counter()
            report = coll.produce_text(TextOptions(speech=False, ocr_settings=ocr_settings(setting)))
            per = (time.perf_counter() - started) / max(report.ocr_files, 1)
            cells, misses = [], []
            for split in (0, 1):
                chosen = {w: n for w, n in unique.items() if _split_of(n) == split}
                r1_shows, r1_keyword, missed = _r1(coll, chosen)
                recall, precision, _ = _stored_words(coll, photos, split)
                cells.append(f"{r1_shows:.3f} / {r1_keyword:.3f} (words R {recall:.3f} P {precision:.3f})")
                misses.append(missed)
                if split == 0 and r1_shows > best_r1:
                    best, best_r1 = setting, r1_shows
            print(f"  {label(setting):44s} R@1 --shows / keyword: validation {cells[0]}, test {cells[1]}; "
                  f"{report.ocr_skipped}/{report.ocr_files} gated; {per * 1000:.0f} ms/photo OCR")  # fmt: skip
            print(f"    test misses: {' '.join(sorted(misses[1]))}")
    print(f"chosen on validation R@1 (--shows): {label(best)}")
    return best


def _r1_photos(folder: Path, distractors: int) -> tuple[Path, dict[str, str]]:
    """The annotated photos and ``distractors`` plain COCO photos in one folder; ``word → its one photo``."""
    photos = folder / "photos"
    photos.mkdir()
    owners: dict[str, list[str]] = {}
    for key, text in ANNOTATIONS.items():
        name = key.replace("/", "_").replace(":", "_")
        shutil.copy(photo_path(key), photos / name)
        for word in words(text):
            owners.setdefault(word, []).append(name)
    plain = [p for p in sorted(COCO.rglob("*.jpg")) if str(p.relative_to(COCO)) not in ANNOTATIONS]
    for p in plain[:distractors]:
        shutil.copy(p, photos / f"plain_{p.name}")
    return photos, {w: names[0] for w, names in owners.items() if len(names) == 1}


def _stored_words(coll: Collection, photos: Path, split: int) -> tuple[float, float, int]:
    """Word recall/precision of the OCR lines the collection stored for the annotated photos of ``split``."""
    from mmir.index.visible_text import shown_lines

    found, truth = [], []
    for key, text in ANNOTATIONS.items():
        name = key.replace("/", "_").replace(":", "_")
        record = coll.store.catalog.lookup(str(photos / name))
        if _split_of(name) == split and record is not None:
            found.append(words(" ".join(shown_lines(coll.store.catalog, record.id))))
            truth.append(words(text))
    return score(found, truth)


def _r1(coll: Collection, chosen: dict[str, str]) -> tuple[float, float, list[str]]:
    """``(R@1 of --shows, R@1 of plain keyword search, words --shows missed)``."""
    from mmir.errors import QueryError
    from mmir.index.visible_text import TextField
    from mmir.search.queries import TextQuery

    shows = keyword = 0
    missed = []
    for word, name in chosen.items():
        hits = coll.search_fields(word, [TextField.SHOWS], k=1)
        ok = bool(hits) and Path(hits[0].media.path).name == name
        shows += ok
        if not ok:
            missed.append(word)
        try:
            top = list(coll.search(TextQuery(word), 1))
        except QueryError:  # no concept or text matches the word at all
            top = []
        keyword += bool(top) and Path(top[0].media.path).name == name
    n = max(len(chosen), 1)
    return shows / n, keyword / n, missed


def _split_of(name: str) -> int:
    """0 = validation, 1 = test: alternate photos in a fixed order (by name)."""
    names = sorted(key.replace("/", "_").replace(":", "_") for key in ANNOTATIONS)
    return names.index(name) % 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="two settings, fewer synthetic/distractor photos")
    parser.add_argument("--distractors", type=int, default=60)
    parser.add_argument("--throughput", type=int, default=120)
    parser.add_argument("--skip-engines", action="store_true", help="no word recall rows (engines alone)")
    parser.add_argument("--no-gate-row", action="store_true", help="throughput: also OCR without the first look")
    parser.add_argument(
        "--photos",
        choices=("mix", "plain", "both"),
        default="both",
        help="throughput on the first COCO photos (mix), on those without annotated text, or both",
    )
    parser.add_argument("--repeats", type=int, default=2, help="throughput: runs of every row (medians printed)")
    parser.add_argument("--throughput-only", action="store_true", help="no R@1 rows (throughput of the default)")
    args = parser.parse_args()
    if not COCO.exists():
        sys.exit(f"{COCO} not found: this benchmark needs the COCO photos of ../shared/data")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    grid = QUICK_GRID if args.quick else GRID
    with tempfile.TemporaryDirectory() as folder:
        best = (
            () if args.throughput_only else retrieval_rows(grid, 20 if args.quick else args.distractors, Path(folder))
        )
        if not args.skip_engines and not args.throughput_only:
            engine_rows(_sets(args.quick), list(dict.fromkeys((grid[0], best))))
        from visible_text_throughput import throughput

        for plain in {"mix": (False,), "plain": (True,), "both": (False, True)}[args.photos]:
            throughput(40 if args.quick else args.throughput, best, Path(folder), args.no_gate_row, plain, args.repeats)


def _sets(quick: bool) -> dict[str, tuple[list[Image.Image], list[set[str]]]]:
    keys = sorted(ANNOTATIONS)
    sets = {}
    for name, keep in (("real validation", 0), ("real test", 1)):
        chosen = [k for k in keys if _split_of(k.replace("/", "_").replace(":", "_")) == keep]
        sets[name] = (
            [Image.open(photo_path(k)).convert("RGB") for k in chosen],
            [words(ANNOTATIONS[k]) for k in chosen],
        )
    made = synthetic(12 if quick else 40)
    sets["synthetic"] = ([im for im, _, _ in made], [w for _, w, _ in made])
    total = sum(len(words(t)) for t in ANNOTATIONS.values())
    print(
        f"real: {len(ANNOTATIONS)} photos, {total} distinct hand-annotated words per photo summed; "
        f"synthetic: {len(made)} photos (fonts × sizes 18/28/44 px × angles 0/10/25°)"
    )
    return sets


if __name__ == "__main__":
    main()
