"""Extraction throughput: the Ray executor vs the in-process pipeline on this machine, in one run.

All rows index the same real photos (the COCO photos in ../shared/data/coco-mini) into fresh collections
with EfficientNet-Lite0 on the default backend; images/s = files encoded / wall seconds of the indexing run
(scan, read, hash, decode, encode, commit). Rows:

  in-process            ``Collection.index`` (the default executor), model already loaded
  ray, W actors         ``RayIndexer`` on a local Ray cluster started beforehand (start-up printed apart);
                        includes each actor loading the model once
  writer only           the one catalog writer storing precomputed encodings (``SegmentStore.put`` per file)
  decode / model only   one thread: read + decode + preprocess; ``encode_batch`` on preprocessed arrays

The projection for N workers uses the measured per-image decode and model times of one worker and the
measured writer rate: throughput(N) ≈ min(N / (decode + model), writer). It assumes each worker has its own
core(s) and reads the files from a shared mount as fast as from local disk — it does not model the network.

Usage: nice -n 10 python benchmarks/extract_ray.py [--workers 1,2] [--limit 239]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

COCO = Path(__file__).resolve().parents[2] / "shared" / "data" / "coco-mini"


def photos(limit: int, folder: Path) -> Path:
    """A folder with ``limit`` COCO photos (symlinks: the pipeline reads through them)."""
    files = sorted(COCO.rglob("*.jpg"))[:limit]
    folder.mkdir(parents=True)
    for path in files:
        (folder / path.name).symlink_to(path)
    return folder


def in_process(root: Path, work: Path, encoder: object) -> tuple[float, int]:
    from mmir.api import Collection
    from mmir.indexing.pipeline import IndexOptions

    with Collection.open(work / "local", create=True, encoder=encoder) as coll:  # type: ignore[arg-type]
        report = coll.index([root], IndexOptions(progress=False))
    return report.seconds, report.encoded


def with_ray(root: Path, work: Path, workers: int, encoder: object) -> tuple[float, int]:
    from mmir.api import Collection
    from mmir.executors.ray_executor import RayIndexer
    from mmir.indexing.pipeline import IndexOptions

    with Collection.open(work / f"ray{workers}", create=True, encoder=encoder) as coll:  # type: ignore[arg-type]
        coll.store.lock_for_writing()
        indexer = RayIndexer(coll.store, lambda: coll.encoder, IndexOptions(progress=False), workers=workers)
        report = indexer.run([str(root)])
    return report.seconds, report.encoded


def writer_rate(work: Path, encoder: object, n: int) -> float:
    """Files/s the one catalog writer stores (a committed transaction + vector add per file)."""
    from mmir.api import Collection
    from mmir.index.catalog import SegmentEncoding
    from mmir.types import MediaKind

    rng = np.random.default_rng(0)
    with Collection.open(work / "writer", create=True, encoder=encoder) as coll:  # type: ignore[arg-type]
        dim, concepts = coll.manifest.dim, len(coll.manifest.concept_names)
        rows = [SegmentEncoding(rng.standard_normal(dim).astype(np.float32), rng.random(concepts, np.float32))
                for _ in range(n)]  # fmt: skip
        started = time.perf_counter()
        for i, seg in enumerate(rows):
            coll.store.put(f"/w/{i}.jpg", MediaKind.IMAGE, 1, 0.0, str(i), [seg])
        coll.store.flush()
        return n / (time.perf_counter() - started)


def stage_times(root: Path, encoder: object) -> tuple[float, float]:
    """Seconds per image of read + decode + preprocess, and of the model (batches of 16), one thread."""
    from mmir.media import decode_image, read_file

    files = sorted(root.iterdir())
    started = time.perf_counter()
    arrays = [encoder.preprocess(decode_image(read_file(f), f, min_side=encoder.input_side))  # type: ignore[attr-defined]
              for f in files]  # fmt: skip
    decode = (time.perf_counter() - started) / len(files)
    started = time.perf_counter()
    for start in range(0, len(arrays), 16):
        encoder.encode_batch(np.stack(arrays[start : start + 16]))  # type: ignore[attr-defined]
    return decode, (time.perf_counter() - started) / len(files)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--limit", type=int, default=239)
    args = parser.parse_args()
    import ray

    from mmir.models import load_encoder

    work = Path(tempfile.mkdtemp(prefix="mmir-extract-ray-"))
    try:
        root = photos(args.limit, work / "photos")
        started = time.perf_counter()
        encoder = load_encoder("efficientnet-lite0")
        print(f"{args.limit} COCO photos; model load {time.perf_counter() - started:.1f} s (excluded below)")
        rows: list[tuple[str, float, int]] = []
        seconds, n = in_process(root, work, encoder)
        rows.append(("in-process (default executor)", seconds, n))
        started = time.perf_counter()
        ray.init(num_cpus=max(int(w) for w in args.workers.split(",")), include_dashboard=False, log_to_driver=False)
        print(f"local Ray cluster start: {time.perf_counter() - started:.1f} s (excluded below)")
        for workers in [int(w) for w in args.workers.split(",")]:
            seconds, n = with_ray(root, work, workers, encoder)
            rows.append((f"ray, {workers} actor(s)", seconds, n))
        ray.shutdown()
        writer = writer_rate(work, encoder, 500)
        decode, model = stage_times(root, encoder)
        print(f"{'row':<32} | {'files':>5} | {'seconds':>8} | {'images/s':>8}")
        for name, seconds, n in rows:
            print(f"{name:<32} | {n:>5} | {seconds:8.1f} | {n / seconds:8.1f}")
        print(f"{'writer only (store.put/file)':<32} | {500:>5} | {500 / writer:8.1f} | {writer:8.1f}")
        print(f"one thread: read+decode+preprocess {decode * 1000:.1f} ms/img, model {model * 1000:.1f} ms/img "
              f"→ one worker ≈ {1 / (decode + model):.1f} img/s")  # fmt: skip
        print("projection (each worker on its own cores; files on a shared mount as fast as local disk):")
        for workers in (1, 2, 4, 8, 16, 32, 64):
            rate = min(workers / (decode + model), writer)
            limit = "writer (catalog commits)" if rate >= writer else "workers (decode + model)"
            print(f"  {workers:>3} workers ≈ {rate:7.1f} img/s, limited by {limit}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
