"""Search filters (issue 20 part 3): latency of ``Collection.search(query, k, filter=...)`` beside the same query
unfiltered, measured in the same run, and whether every filtered answer holds ``k`` distinct allowed files.

The collection is synthetic (no model runs, seeded): ``--photos`` photos in 20 folders (``f00`` … ``f19``), one a
minute from 1 January 2024 (their mtime), random unit ``--dim``-d descriptors and random concept rows over a small
vocabulary, plus ``--videos`` videos of 40 shots; stored through the product's store and catalog. Each query kind
(keywords, an example vector, similar to a file) runs with no filter (the baseline) and with each filter; the first
call (the filter resolved by SQL) and the p50 of ``--repeats`` more (its allowed segments remembered) are printed.
Filters: photos only (most segments: the index is over-fetched), videos only and one folder (few: the allowed
segments are scored exactly), a date range, a name pattern, all combined, and videos only again with exact scoring
switched off (``EXACT_MAX = 0``: the over-fetch path on a selective filter).

Run:  python benchmarks/filter_latency.py [--quick] [--photos 10000] [--videos 25] [--dim 512] [--repeats 15]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path

import numpy as np

from mmir.api import Collection, ItemQuery, SearchFilter, TextQuery, VectorQuery
from mmir.index.catalog import SegmentEncoding
from mmir.index.manifest import Manifest
from mmir.index.store import FileToStore, SegmentStore
from mmir.search import filters
from mmir.types import MediaKind

CONCEPTS = ["zebra", "bear", "train", "dog", "beach", "pizza", "car", "cat"]
SHOTS = 40
START = datetime(2024, 1, 1).timestamp()


def build(directory: Path, photos: int, videos: int, dim: int, seed: int = 0) -> None:
    """The synthetic collection of the module docstring, written to ``directory``."""
    rng = np.random.default_rng(seed)

    def segment(start: float = 0.0) -> SegmentEncoding:
        vector = rng.standard_normal(dim).astype(np.float32)
        probs = rng.dirichlet(np.ones(len(CONCEPTS))).astype(np.float32)
        return SegmentEncoding(vector / np.linalg.norm(vector), probs, start, start + 2.0, start + 1.0)

    directory.mkdir(parents=True)
    manifest = Manifest(model="synthetic", fingerprint="synthetic:1", dim=dim, concept_names=list(CONCEPTS))
    manifest.save(directory / SegmentStore.MANIFEST)
    store = SegmentStore(directory, manifest)
    files = [FileToStore(f"/bench/videos/v{i:03d}.mp4", MediaKind.VIDEO, 1000, START - 86400.0, f"v{i}",
                         tuple(segment(2.0 * s) for s in range(SHOTS))) for i in range(videos)]  # fmt: skip
    files += [FileToStore(f"/bench/f{i % 20:02d}/IMG_{i:05d}.jpg", MediaKind.IMAGE, 10, START + 60.0 * i, f"p{i}",
                          (segment(),)) for i in range(photos)]  # fmt: skip
    for start in range(0, len(files), 2000):
        store.put_many(files[start : start + 2000])
    store.flush()
    store.close()


def p50_ms(call, repeats: int) -> float:
    call()  # warm: caches, the concept columns, the first SQL plans
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(1000.0 * (time.perf_counter() - start))
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=10_000)
    parser.add_argument("--videos", type=int, default=25)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="2,000 photos, 5 videos, 5 repeats")
    args = parser.parse_args()
    if args.quick:
        args.photos, args.videos, args.repeats = 2000, 5, 5
    day = datetime.fromtimestamp(START + 60.0 * args.photos / 2).strftime("%Y-%m-%d")
    cases = {
        "no filter (baseline)": None,
        "photos only": SearchFilter.parse(kind="photo"),
        "videos only": SearchFilter.parse(kind="video"),
        "under f07": SearchFilter.parse(under="f07"),
        f"taken on {day}": SearchFilter.parse(after=day, before=day),
        "name IMG_001*": SearchFilter.parse(name="IMG_001*"),
        "photos, f07, IMG_0*7.jpg": SearchFilter.parse(kind="photo", under="f07", name="IMG_0*7.jpg"),
        "videos only, over-fetch": SearchFilter.parse(kind="video"),
    }
    with tempfile.TemporaryDirectory(prefix="mmir-filters-") as work:
        start = time.perf_counter()
        build(Path(work) / "coll", args.photos, args.videos, args.dim)
        built = time.perf_counter() - start
        print(f"built {args.photos} photos + {args.videos} videos x {SHOTS} shots, {args.dim}-d, in {built:.1f} s")
        print(f"k = {args.k}; per query kind: ms of the first call (the filter's SQL runs), p50 ms of {args.repeats} "
              "more (its allowed set remembered), (distinct files)")  # fmt: skip
        with Collection.open(Path(work) / "coll") as collection:
            rng = np.random.default_rng(1)
            queries = {
                "keywords": TextQuery("zebra"),
                "example": VectorQuery(rng.standard_normal(args.dim).astype(np.float32), "example"),
                "similar file": ItemQuery("/bench/f03/IMG_00003.jpg"),
            }
            print(f"{'filter':<28}" + "".join(f"{name:>22}" for name in queries))
            exact_max = filters.EXACT_MAX
            for label, flt in cases.items():
                filters.EXACT_MAX = 0 if "over-fetch" in label else exact_max
                cells = []
                for query in queries.values():
                    filters._ALLOWED.clear()  # forget the allowed sets: this first call runs the filter's SQL
                    start = time.perf_counter()
                    result = collection.search(query, args.k, filter=flt)
                    first = 1000.0 * (time.perf_counter() - start)
                    distinct = len({hit.media.id for hit in result})
                    ms = p50_ms(lambda q=query, f=flt: collection.search(q, args.k, filter=f), args.repeats)
                    cells.append(f"{first:6.1f} {ms:6.1f} ({distinct:>2})")
                print(f"{label:<28}" + "".join(f"{cell:>22}" for cell in cells))


if __name__ == "__main__":
    main()
