"""One search: R@1 of edited copies of real photos, with and without spatial re-ranking, through the product.

The database is a collection indexed by the product (``Collection.index``) from the real photos of
``../shared/data/coco-mini`` (COCO 2017) and scikit-image's sample photos, copied as they are, plus
``--distractors`` CIFAR-10 training photos (``../shared/data/cifar10-jpg.tar``, 32 px); every photo that is not
the original of a query is a distractor. THE EDITS ARE OURS (seeded): ``flip`` (mirror image),
``crop40`` / ``crop60`` (exactly 40 / 60 % of each side, at a random place), ``scale40`` (down to 40 %),
``jpeg20`` (JPEG quality 20), ``rotate`` (8–20°, expanded on black), ``text`` (three lines of overlaid text) and
``grey``. Each query photo gets every edit, saved as a file (PNG, the JPEG edit as JPEG) and asked with
``Collection.search_image(path, k, spatial=...)``, the path ``mmir search --image PATH [--spatial]`` runs. R@1:
the original is the first hit. The query photos are split by photo into a VALIDATION half, on which the spatial
settings are chosen (every row tried is printed), and a TEST half, which reports plain vs spatial with the chosen
settings and with the product defaults, side by side in the same run.

Validation rows re-rank the plain search's top hits with the product's rule (``rerank_by_inliers``) on inlier
counts from the product's functions (``query_features``, ``load_segment_image``, ``extract_local``,
``count_inliers``), each (query, candidate, view) counted once and shared by the rows. Test rows run the whole
product path per query (decoding the candidates included), so their ms/query is what a user waits for.

Run:  python benchmarks/one_search.py [--quick] [--queries 40] [--distractors 3000] [--seed 0]
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from instance_retrieval import COCO, SKIMAGE_PHOTOS
from instance_retrieval import edit as instance_edit
from mmir.api import Collection
from mmir.search.spatial import (
    LocalFeatures,
    SpatialConfig,
    count_inliers,
    extract_local,
    load_segment_image,
    query_features,
    rerank_by_inliers,
)
from mmir.types import Hit

EDITS = ("flip", "crop40", "crop60", "scale40", "jpeg20", "rotate", "text", "grey")
DEPTH = 50  # plain hits kept per validation query: SpatialConfig().top
CIFAR_TAR = COCO.parent / "cifar10-jpg.tar"


@dataclass(frozen=True)
class Query:
    """One edited copy: its file, the original's path, the edit, and which half it belongs to."""

    path: Path
    original: str
    kind: str
    validation: bool


def edited(image: Image.Image, kind: str, rng: np.random.Generator) -> Image.Image:
    """Our edit ``kind`` of the RGB ``image`` (random parts drawn from ``rng``)."""
    if kind == "flip":
        return ImageOps.mirror(image)
    if kind == "grey":
        return ImageOps.grayscale(image).convert("RGB")
    if kind.startswith("crop"):
        keep = int(kind[4:]) / 100
        w, h = int(image.width * keep), int(image.height * keep)
        left, top = int(rng.integers(0, image.width - w + 1)), int(rng.integers(0, image.height - h + 1))
        return image.crop((left, top, left + w, top + h))
    if kind == "scale40":
        return image.resize(
            (max(8, int(image.width * 0.4)), max(8, int(image.height * 0.4))), Image.Resampling.BILINEAR
        )
    if kind == "jpeg20":
        return image  # saved at quality 20 by write_queries
    return instance_edit(image, kind, rng)  # rotate, text


def photo_paths() -> list[Path]:
    """The real photos: COCO-mini (sorted) and scikit-image's colour photos."""
    import skimage

    paths = sorted(COCO.glob("*/*.jpg"))
    if not paths:
        sys.exit(f"COCO-mini photos not found under {COCO} (see ../shared/README.md)")
    return paths + [p for name in SKIMAGE_PHOTOS if (p := Path(skimage.__file__).parent / "data" / name).exists()]


def add_distractors(folder: Path, count: int) -> None:
    """Write the first ``count`` CIFAR-10 training photos (class-interleaved, 32 px) into ``folder``."""
    import tarfile

    if count <= 0:
        return
    if not CIFAR_TAR.exists():
        sys.exit(f"{CIFAR_TAR} not found (see ../shared/README.md); use --distractors 0")
    folder.mkdir()
    with tarfile.open(CIFAR_TAR) as tar:
        members = [m for m in tar.getmembers() if m.name.startswith("train/") and m.name.endswith(".jpg")]
        by_class: dict[str, list[tarfile.TarInfo]] = {}
        for member in sorted(members, key=lambda m: m.name):
            by_class.setdefault(member.name.split("/")[1], []).append(member)
        interleaved = [m for group in itertools.zip_longest(*by_class.values()) for m in group if m is not None]
        for number, member in enumerate(interleaved[:count]):
            data = tar.extractfile(member)
            assert data is not None
            (folder / f"{number:05d}.jpg").write_bytes(data.read())


def build(work: Path, queries: int, distractors: int, seed: int) -> tuple[Path, list[Query]]:
    """Copy every photo into ``work/db`` (with ``distractors``) and write edits of ``queries`` into ``work/queries``."""
    db, folder = work / "db", work / "queries"
    db.mkdir()
    folder.mkdir()
    add_distractors(db / "cifar", distractors)
    paths = photo_paths()
    copies = []
    for number, path in enumerate(paths):
        copies.append(db / f"{number:04d}_{path.name}")
        shutil.copy(path, copies[-1])
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(copies), size=min(queries, len(copies)), replace=False)
    out = []
    for rank, index in enumerate(chosen.tolist()):
        with Image.open(copies[index]) as image:
            rgb = image.convert("RGB")
        for kind in EDITS:
            target = folder / f"{index:04d}_{kind}.{'jpg' if kind == 'jpeg20' else 'png'}"
            picture = edited(rgb, kind, rng)
            picture.save(target, **({"quality": 20} if kind == "jpeg20" else {}))
            out.append(Query(target, str(copies[index].resolve()), kind, validation=rank % 2 == 0))
    return db, out


def is_original(hit: Hit, query: Query) -> bool:
    return str(Path(hit.media.path).resolve()) == query.original


class InlierCache:
    """Inliers of (query, candidate, view) with the product's functions, each counted once."""

    def __init__(self, config: SpatialConfig) -> None:
        self.config = config
        self.candidates: dict[str, LocalFeatures | None] = {}
        self.counts: dict[tuple[str, str, int], int] = {}

    def counter(self, query: Query, views: Sequence[LocalFeatures], view: int) -> Callable[[Hit], int]:
        def count(hit: Hit) -> int:
            key = (str(query.path), hit.media.path, view)
            if key not in self.counts:
                if hit.media.path not in self.candidates:
                    image = load_segment_image(hit, self.config.max_side)
                    self.candidates[hit.media.path] = None if image is None else extract_local(image, self.config)
                found = self.candidates[hit.media.path]
                self.counts[key] = 0 if found is None else count_inliers(views[view], found, self.config)
            return self.counts[key]

        return count


def r1_cells(top1: np.ndarray, kinds: np.ndarray) -> str:
    return "".join(f"{top1[kinds == k].mean():8.3f}" for k in EDITS) + f"{top1.mean():8.3f}"


def header(title: str) -> None:
    print(f"\n{title}")
    print(f"  {'':44s}" + "".join(f"{k:>8s}" for k in EDITS) + "     all")


def cosines(plain: dict[Path, list[Hit]], rows: list[Query], kinds: np.ndarray) -> None:
    """Per edit: the lowest cosine of a query with its original, and the highest with any other photo."""
    own = np.array([max([h.score for h in plain[q.path] if is_original(h, q)], default=np.nan) for q in rows])
    other = np.array([max(h.score for h in plain[q.path] if not is_original(h, q)) for q in rows])
    print(f"  {'cosine with the original, lowest':44s}" + "".join(f"{np.nanmin(own[kinds == k]):8.3f}" for k in EDITS))
    print(f"  {'cosine with another photo, highest':44s}" + "".join(f"{other[kinds == k].max():8.3f}" for k in EDITS))


def choose(plain: dict[Path, list[Hit]], queries: list[Query]) -> SpatialConfig:
    """Spatial settings chosen on the validation queries: the best worst-edit gain over plain, then mean R@1."""
    rows = [q for q in queries if q.validation]
    kinds = np.array([q.kind for q in rows])
    base = np.array([is_original(plain[q.path][0], q) for q in rows])
    header(f"VALIDATION ({len(rows)} queries, {len(rows) // len(EDITS)} photos): R@1 per edit")
    print(f"  {'plain (no spatial)':44s}{r1_cells(base, kinds)}")
    cosines(plain, rows, kinds)
    cache = InlierCache(SpatialConfig())
    views = {
        q.path: query_features(Image.open(q.path).convert("RGB"), replace(cache.config, mirror=True)) for q in rows
    }
    tried = []
    for mirror, near_exact, min_inliers in itertools.product((False, True), (2.0, 0.95, 0.9, 0.85, 0.8), (10, 15, 20)):
        config = replace(cache.config, mirror=mirror, near_exact=near_exact, min_inliers=min_inliers)
        top1 = []
        for q in rows:
            hits = plain[q.path]
            mirrored = cache.counter(q, views[q.path], 1) if mirror else None
            ranked = rerank_by_inliers(
                hits, cache.counter(q, views[q.path], 0), config, [h.score for h in hits], mirrored
            )
            top1.append(is_original(ranked[0][0], q))
        hits_ = np.array(top1)
        gains = [hits_[kinds == k].mean() - base[kinds == k].mean() for k in EDITS]
        guard = "off " if near_exact > 1 else near_exact
        label = f"mirror {'on ' if mirror else 'off'}, near-exact {guard}, min {min_inliers}"
        print(f"  {label:44s}{r1_cells(hits_, kinds)}   worst gain {min(gains):+.3f}", flush=True)
        tried.append((min(gains), float(hits_.mean()), config))
    best = max(tried, key=lambda t: (t[0], t[1], t[2] == SpatialConfig()))[2]  # ties: the defaults, then first
    print(f"  chosen: mirror {best.mirror}, near_exact {best.near_exact}, min_inliers {best.min_inliers}")
    return best


def test_rows(coll: Collection, plain: dict[Path, list[Hit]], queries: list[Query], chosen: SpatialConfig) -> None:
    """Plain vs spatial R@1 per edit on the test queries, every row through ``Collection.search_image``."""
    rows = [q for q in queries if not q.validation]
    kinds = np.array([q.kind for q in rows])
    header(f"TEST ({len(rows)} queries, {len(rows) // len(EDITS)} photos): R@1 per edit, ms/query")
    started = time.perf_counter()
    base = np.array([is_original(coll.search_image(q.path, k=1)[0], q) for q in rows])
    print(
        f"  {'plain (no spatial)':44s}{r1_cells(base, kinds)}  {(time.perf_counter() - started) / len(rows) * 1e3:6.0f}"
    )
    settings = [("spatial, chosen on validation", chosen)]
    settings += [("spatial, product defaults", SpatialConfig())] if chosen != SpatialConfig() else []
    settings += [("spatial, old rule (no mirror, no guard)", replace(SpatialConfig(), mirror=False, near_exact=2.0))]
    for label, config in settings:
        started = time.perf_counter()
        top1 = np.array([is_original(coll.search_image(q.path, k=1, spatial=config)[0], q) for q in rows])
        cost = (time.perf_counter() - started) / len(rows) * 1e3
        worst = min(top1[kinds == k].mean() - base[kinds == k].mean() for k in EDITS)
        print(f"  {label:44s}{r1_cells(top1, kinds)}  {cost:6.0f}   worst gain {worst:+.3f}", flush=True)
    print(f"  chosen settings = product defaults (SpatialConfig()): {chosen == SpatialConfig()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=int, default=40, help="photos edited into queries (half validation)")
    parser.add_argument("--distractors", type=int, default=3000, help="CIFAR-10 photos added to the database")
    parser.add_argument("--quick", action="store_true", help="12 query photos, 1000 distractors (minutes on 2 cores)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="one_search-") as tmp:
        work = Path(tmp)
        quick = (12, min(args.distractors, 1000)) if args.quick else (args.queries, args.distractors)
        db, queries = build(work, *quick, args.seed)
        with Collection.open(work / "coll", create=True) as coll:
            started = time.perf_counter()
            coll.index([db])
            photos, edits = sum(1 for p in db.rglob("*") if p.is_file()), len(queries) // len(EDITS)
            print(f"indexed {photos} photos in {time.perf_counter() - started:.1f} s; {len(queries)} queries "
                  f"({len(EDITS)} edits each of {edits} photos)")  # fmt: skip
            plain = {q.path: coll.search_image(q.path, k=DEPTH) for q in queries if q.validation}
            test_rows(coll, plain, queries, choose(plain, queries))


if __name__ == "__main__":
    main()
