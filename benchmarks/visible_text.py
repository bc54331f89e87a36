"""Visible text (OCR): word recall/precision of the engines, keyword R@1, and the cost of OCR while indexing.

Data (all offline):
  real       photos with scene text from ../shared/data/coco-mini (signs, shop fronts, a scoreboard, packaging,
             buses), opencv-doc's messi5.jpg; every legible word annotated BY HAND by looking at the photo (not
             copied from any OCR output): see ANNOTATIONS (202 words in 27 photos). Split by photo into a
             validation half (settings are chosen there) and a test half.
  synthetic  random dictionary words rendered on COCO photos WITHOUT text (several fonts, sizes, angles, colours);
             seeded; the same images for every row.

Rows (every row tried is printed):
  rapidocr det_side=S conf=C   mmir's engine (mmir.media.ocr.OcrEngine, the product's code path) per setting
  tesseract (Debian 5.x)       the classic engine, ``tesseract IMG stdout --psm 11`` (sparse text), for comparison
Word recall = annotated words found / annotated words; precision = read words that are annotated / read words
(words: case-folded, accents stripped, apostrophes dropped, split on non-alphanumerics, 2+ characters).
Keyword R@1: for every annotated word that occurs in exactly one annotated photo, `Collection.search_fields(word,
shows)` over a collection of the annotated photos plus COCO photos without text; hit if that photo ranks first.
Throughput: the same photos indexed by `Collection.index` with OCR off and on (photos/s, OCR ms per photo).

Usage: python benchmarks/visible_text.py [--quick] [--product] [--distractors 60] [--throughput 120]
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unicodedata
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

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


def read_rapidocr(images: list[Image.Image], det_side: int, conf: float, up: bool) -> tuple[list[set[str]], float]:
    from mmir.media.ocr import OcrEngine, OcrSettings

    engine = OcrEngine(OcrSettings(det_side=det_side, min_confidence=conf, upscale=up), threads=2)
    engine.read(Image.new("RGB", (64, 64), "white"))  # gate only; then load the models outside the clock
    engine._load()
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


def engine_rows(sets: dict[str, tuple[list[Image.Image], list[set[str]]]], quick: bool) -> tuple[int, float, bool]:
    """Print every engine row on every set; return the (det_side, conf) with the best validation F1."""
    grid = [(960, 0.6, False)] if quick else [
        (960, 0.5, False), (960, 0.6, False), (960, 0.7, False), (960, 0.6, True), (1280, 0.6, True),
    ]  # fmt: skip
    print(f"{'engine':34s} " + "  ".join(f"{name:>24s}" for name in sets) + "   ms/photo")
    best, best_f1 = grid[0], -1.0
    rows: list[tuple[str, object]] = [
        (f"rapidocr det_side={s}{' up' if u else ''} conf={c}", (s, c, u)) for s, c, u in grid
    ]
    if shutil.which("tesseract"):
        rows.append(("tesseract --psm 11", None))
    for label, setting in rows:
        cells, cost = [], 0.0
        for name, (images, truth) in sets.items():
            if setting is None:
                found, per = read_tesseract(images)
            else:
                found, per = read_rapidocr(images, *setting)  # type: ignore[misc]
            recall, precision, total = score(found, truth)
            cost = max(cost, per)
            cells.append(f"R {recall:.3f} P {precision:.3f} ({total:3d})")
            f1 = 2 * recall * precision / max(recall + precision, 1e-9)
            if name == "real validation" and setting is not None and f1 > best_f1:
                best, best_f1 = setting, f1  # type: ignore[assignment]
        print(f"{label:34s} " + "  ".join(f"{c:>24s}" for c in cells) + f"   {cost * 1000:8.0f}")
    print(f"chosen on the real validation photos (best F1): det_side={best[0]} upscale={best[2]} conf={best[1]}")
    return best


def keyword_r1(setting: tuple[int, float, bool], distractors: int, folder: Path) -> None:
    """R@1 of one-photo words over annotated photos + distractors, through Collection.search_fields."""
    from mmir.api import Collection
    from mmir.index.visible_text import TextField
    from mmir.indexing.pipeline import IndexOptions
    from mmir.indexing.text import TextOptions
    from mmir.media.ocr import OcrSettings

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
    unique = {w: names[0] for w, names in owners.items() if len(names) == 1}
    settings = OcrSettings(det_side=setting[0], min_confidence=setting[1], upscale=setting[2])
    options = TextOptions(speech=False, ocr_settings=settings)
    with Collection.open(folder / "coll", create=True) as coll:
        coll.index([photos], IndexOptions(progress=False), text=options)
        for split, keep in (("validation", 0), ("test", 1)):
            chosen = {w: n for w, n in unique.items() if _split_of(n) == keep}
            first = 0
            for word, name in chosen.items():
                hits = coll.search_fields(word, [TextField.SHOWS], k=1)
                first += bool(hits) and Path(hits[0].media.path).name == name
            print(f"keyword R@1 ({split}, {len(chosen)} one-photo words, {len(plain[:distractors])} distractors): "
                  f"{first / max(len(chosen), 1):.3f}  (goal ≥ 0.8; baseline without OCR: 0.000)")  # fmt: skip


def _split_of(name: str) -> int:
    """0 = validation, 1 = test: alternate photos in a fixed order (by name)."""
    names = sorted(key.replace("/", "_").replace(":", "_") for key in ANNOTATIONS)
    return names.index(name) % 2


def throughput(count: int, setting: tuple[int, float, bool], folder: Path) -> None:
    """Collection.index photos/s with OCR off and on, same photos, same run."""
    from mmir.api import Collection
    from mmir.indexing.pipeline import IndexOptions
    from mmir.indexing.text import TextOptions
    from mmir.media.ocr import OcrSettings

    photos = folder / "tp"
    photos.mkdir()
    for p in sorted(COCO.rglob("*.jpg"))[:count]:
        shutil.copy(p, photos / p.name)
    settings = OcrSettings(det_side=setting[0], min_confidence=setting[1], upscale=setting[2])
    ocr = TextOptions(speech=False, ocr_settings=settings)
    results = {}
    for label, text in (("OCR off", None), ("OCR on", ocr), ("OCR off again", None)):
        target = folder / f"tp_{label.replace(' ', '_')}"
        with Collection.open(target, create=True) as coll:
            coll.encoder.encode_batch  # noqa: B018  (the model loads outside the clock)
            started = time.perf_counter()
            coll.index([photos], IndexOptions(progress=False), text=text)
            results[label] = count / (time.perf_counter() - started)
    for label, rate in results.items():
        print(f"indexing {count} COCO photos, {label:14s}: {rate:6.1f} photos/s")
    off = (results["OCR off"] + results["OCR off again"]) / 2
    print(f"OCR on / off: {results['OCR on'] / off:.2f} (goal ≥ 0.75); "
          f"OCR cost {1000 * (1 / results['OCR on'] - 1 / off):.0f} ms per photo")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one rapidocr setting, fewer synthetic/distractor photos")
    parser.add_argument("--distractors", type=int, default=60)
    parser.add_argument("--throughput", type=int, default=120)
    parser.add_argument(
        "--product",
        action="store_true",
        help="only the product's default OcrSettings (no grid, no tesseract): R@1 and throughput",
    )
    args = parser.parse_args()
    if not COCO.exists():
        sys.exit(f"{COCO} not found: this benchmark needs the COCO photos of ../shared/data")
    keys = sorted(ANNOTATIONS)
    sets = {}
    for name, keep in (("real validation", 0), ("real test", 1)):
        chosen = [k for k in keys if _split_of(k.replace("/", "_").replace(":", "_")) == keep]
        sets[name] = (
            [Image.open(photo_path(k)).convert("RGB") for k in chosen],
            [words(ANNOTATIONS[k]) for k in chosen],
        )
    made = synthetic(12 if args.quick else 40)
    sets["synthetic"] = ([im for im, _, _ in made], [w for _, w, _ in made])
    total = sum(len(words(t)) for t in ANNOTATIONS.values())
    print(
        f"real: {len(ANNOTATIONS)} photos, {total} distinct hand-annotated words per photo summed; "
        f"synthetic: {len(made)} photos (fonts × sizes 18/28/44 px × angles 0/10/25°)"
    )
    if args.product:
        from mmir.media.ocr import OcrSettings

        default = OcrSettings()
        best = (default.det_side, default.min_confidence, default.upscale)
        print(f"product default: det_side={best[0]} upscale={best[2]} conf={best[1]}")
    else:
        best = engine_rows(sets, args.quick)
    with tempfile.TemporaryDirectory() as folder:
        keyword_r1(best, 20 if args.quick else args.distractors, Path(folder))
        throughput(40 if args.quick else args.throughput, best, Path(folder))


if __name__ == "__main__":
    main()
