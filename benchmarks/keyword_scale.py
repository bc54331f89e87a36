"""Keyword search at scale: the streamed concept blocks vs the old full concept matrix, 100k and 1M segments.

Data. Real concept probabilities (EfficientNet-Lite0, the product encoder: 1,000 ImageNet classes) of the 239
COCO-mini photos and the first 761 CIFAR-10 test photos in ../shared/data. Each synthetic segment's row is a
mixture ``λ·p_a + (1 − λ)·p_b`` of two real rows drawn at random, ``λ ~ U(0, 1)``: still a probability vector with
the real rows' peaky shape, but no two segments alike. Rows are stored through the product's catalog
(``Catalog.put_media``, float16 as always), one segment per file; descriptors are a single float (keyword search
never reads them) and no file has metadata text (concepts alone decide).

Queries: 16 words and phrases mapped by the product's vocabulary (WordNet, no text model), k = 10, through
``SearchEngine.search`` — the whole product path: mapping, scoring, top-k, hit rows and ``why``.

Rows, each in its own process (one thread; niced):
- ``columns``: the default path. The first query brings the column-major concept files up to date from the
  catalog (reported as build time, bounded memory), then every query reads only the columns it uses, block by
  block (:mod:`mmir.index.concept_columns`, :mod:`mmir.search.keyword_stream`).
- ``catalog stream``: the fallback when the collection directory cannot be written: the same blocks streamed
  from SQLite rows for every query.
- ``full matrix (old)``: the path before this change, measured in the same run: every segment's concepts read
  at once into ``float32[N, 1000]`` (load time reported separately), then ``text_fusion.search_text`` on it.
  Skipped where it would not fit in the memory this machine has free (it peaks near 8 bytes × N × C).
For each: p50 / p95 wall ms and CPU ms per query (the machine is shared: wall time includes waiting for a core),
VmRSS after the queries and VmHWM (peak, including building or loading). The streamed rows' answers are checked
against the old path's (same top-10 segment ids per query) where both ran.

Results on the development machine (2 shared cores, busy; p50 / p95 wall ms, CPU p50 ms, VmRSS / VmHWM MB):
  100k  full matrix (old)  load 4.5 s     47.4 / 104.1, CPU 30.9   688 /   886
        columns            build 2.9 s    10.2 /  76.5, CPU  5.9   140 /   399   same top-10 16/16, files 0.40 GB
        catalog stream     -             622.2 / 1567,  CPU 405    150 /   484   same top-10 16/16
  1M    full matrix (old)  load 43.4 s   471.2 / 1200,  CPU 301   6202 /  8201
        columns            build 105 s    69.0 / 574.6, CPU 40.2   204 /   401   files 4.01 GB
  (1M: old and columns ran in separate invocations; in an earlier run of both in one invocation the columns
  path gave the same top-10 for 16/16 queries.) The slowest queries are the broad ones: "animal" maps to 398
  concepts and reads 398 columns (~57 ms CPU at 100k); "airplane" reads one.

Usage: nice -n 10 python benchmarks/keyword_scale.py [--sizes 100000,1000000] [--cache /tmp/mmir-keyword-scale]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
REAL_COCO, REAL_CIFAR = 239, 761
QUERIES = [
    "dog", "cat", "car", "airplane", "boat", "bird", "horse", "truck", "pizza", "beach",
    "animal", "food", "vehicle", "dog and ball", "red car", "person on a horse",
]  # fmt: skip
K = 10


def rss() -> tuple[int, int]:
    """``(VmRSS, VmHWM)`` of this process in bytes."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) * 1024, int(fields["VmHWM"].split()[0]) * 1024


def real_concepts(cache: Path) -> tuple[np.ndarray, tuple[str, ...]]:
    """``float32[1000, C]`` Lite0 concept probabilities of real photos and the concept names (cached)."""
    from mmir.models import load_encoder

    encoder = load_encoder("efficientnet-lite0")
    path = cache / "real_concepts.npy"
    if path.exists():
        return np.load(path), tuple(encoder.concept_names)
    from PIL import Image

    from search_scale import cifar_test_images  # the same real images as the vector benchmark

    images = [Image.open(p).convert("RGB") for p in sorted((DATA / "coco-mini").rglob("*.jpg"))][:REAL_COCO]
    images += cifar_test_images(REAL_CIFAR)
    out = [encoder.encode(images[i : i + 32]).concepts for i in range(0, len(images), 32)]
    real = np.concatenate(out).astype(np.float32)
    np.save(path, real)
    return real, tuple(encoder.concept_names)


def fill(cache: Path, n: int, real: np.ndarray, names: tuple[str, ...]) -> Path:
    """A collection of ``n`` one-segment files whose concept rows mix two real rows each (cached)."""
    from mmir.index.manifest import Manifest
    from search_scale import fill_collection  # the same catalog filling as the vector benchmark

    rng = np.random.default_rng(n)
    descriptor = np.ones(1, np.float32)  # keyword search never reads descriptors

    def rows(start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        count = stop - start
        mix = rng.random((count, 1)).astype(np.float32)
        mixed = mix * real[rng.integers(0, len(real), count)] + (1 - mix) * real[rng.integers(0, len(real), count)]
        return np.broadcast_to(descriptor, (count, 1)), mixed

    manifest = Manifest(model="benchmark", fingerprint="benchmark", dim=1, concept_names=names)
    return fill_collection(cache / f"collection_{n}", n, manifest, rows)


def worker(task: dict[str, Any]) -> dict[str, Any]:
    """One row in this process: build/load, then every query once for warm-up and three times timed."""
    from mmir.concepts import ConceptVocabulary
    from mmir.index.concept_columns import ConceptColumns
    from mmir.index.manifest import Manifest
    from mmir.index.store import SegmentStore
    from mmir.search.engine import SearchEngine
    from mmir.search.queries import TextQuery
    from mmir.search.text_fusion import search_text

    directory = Path(task["directory"])
    columns = directory / SegmentStore.CONCEPTS
    store = SegmentStore(directory, Manifest.load(directory / SegmentStore.MANIFEST))
    vocabulary = ConceptVocabulary(store.manifest.concept_names, use_embeddings=False)
    engine = SearchEngine(store, vocabulary, lambda: None)  # type: ignore[arg-type, return-value]
    mappings = [vocabulary.map_query(text, TextQuery(text).mode) for text in QUERIES]
    mode = task["mode"]
    if mode == "catalog":
        ConceptColumns.sync = lambda self, catalog: (_ for _ in ()).throw(PermissionError("read-only"))  # type: ignore[method-assign]
    started = time.perf_counter()
    if mode == "old":
        ids, probs = engine.concept_matrix()

        def run(i: int) -> list:
            return search_text(mappings[i], ids, probs, store.catalog, K)
    else:
        shutil.rmtree(columns, ignore_errors=True)  # measure building them from the catalog
        engine.concepts()  # brings the column files up to date (the first query would)

        def run(i: int) -> list:
            return engine.search(TextQuery(QUERIES[i]), K)

    build_s = time.perf_counter() - started
    answers = {QUERIES[i]: [h.segment.id for h in run(i)] for i in range(len(QUERIES))}  # warm-up + answers
    times, cpu = [], []
    for _ in range(3):
        for i in range(len(QUERIES)):
            t0, c0 = time.perf_counter(), time.thread_time()
            run(i)
            times.append((time.perf_counter() - t0) * 1e3)
            cpu.append((time.thread_time() - c0) * 1e3)
    now, peak = rss()
    return {
        "build_s": build_s, "p50": float(np.percentile(times, 50)), "p95": float(np.percentile(times, 95)),
        "cpu_p50": float(np.percentile(cpu, 50)), "rss": now, "hwm": peak, "answers": answers,
        "disk": sum(f.stat().st_size for f in columns.glob("block-*")) if mode == "columns" else 0,
    }  # fmt: skip


def run_row(task: dict[str, Any]) -> dict[str, Any]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, __file__, "--worker", json.dumps(task)], env=env, capture_output=True, text=True
    )
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"rc {proc.returncode}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def mem_available() -> int:
    fields = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    return int(fields["MemAvailable"].split()[0]) * 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/mmir-keyword-scale"))
    parser.add_argument("--modes", default="old,columns,catalog")
    parser.add_argument("--worker")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return
    args.cache.mkdir(parents=True, exist_ok=True)
    real, names = real_concepts(args.cache)
    print(f"real concept rows: {real.shape}, {len(QUERIES)} queries, k={K}, 1 thread")
    print(f"{'size':>9} {'path':<18} {'build/load s':>12} {'p50 ms':>8} {'p95 ms':>8} {'CPU p50':>8} "
          f"{'RSS MB':>7} {'peak MB':>8} {'same top-10':>11}")  # fmt: skip
    for n in (int(s) for s in args.sizes.split(",")):
        directory = fill(args.cache, n, real, names)
        results: dict[str, dict[str, Any]] = {}
        for mode in args.modes.split(","):
            if mode == "old" and mem_available() < 10 * n * len(names):
                print(f"{n:>9} {'full matrix (old)':<18} skipped: needs ~{10 * n * len(names) / 1e9:.0f} GB free")
                continue
            results[mode] = row = run_row({"directory": str(directory), "mode": mode})
            label = {"columns": "columns", "catalog": "catalog stream", "old": "full matrix (old)"}[mode]
            if "error" in row:
                print(f"{n:>9} {label:<18} failed: {row['error']}")
                continue
            same = "-"
            if mode != "old" and "old" in results and "answers" in results["old"]:
                old = results["old"]["answers"]
                same = f"{sum(row['answers'][q] == old[q] for q in QUERIES)}/{len(QUERIES)}"
            print(f"{n:>9} {label:<18} {row['build_s']:>12.1f} {row['p50']:>8.1f} {row['p95']:>8.1f} "
                  f"{row['cpu_p50']:>8.1f} {row['rss'] / 1e6:>7.0f} {row['hwm'] / 1e6:>8.0f} {same:>11}"
                  + (f"  (column files {row['disk'] / 1e9:.2f} GB)" if row["disk"] else ""), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
