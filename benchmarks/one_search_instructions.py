"""Instructions per query, old path vs the one pipeline: a load-independent companion of ``one_search_latency.py``.

On a shared machine CPU ms swing with the load (cache and core contention) by more than the code changes being
compared; the number of instructions a query executes does not. Each (path, query kind) runs under valgrind's
callgrind twice in fresh processes — once with a warm-up only, once with 20 more repetitions — and the difference
over 20 is that query's instructions (imports and opening the collection cancel out). The collections and the old
commit's worktree are those of ``one_search_latency.py --parts 4`` (run it first; FAISS on 1 thread as there).

Results on the development machine (10,000 photos + 25 videos x 40 shots, k = 10), millions of instructions per
query, old / new (new/old): similar to a photo 8.02 / 7.27 (0.91), similar to a 40-shot video 8.67 / 8.67 (1.00;
the old path returned no hit for it: its 21 neighbours were the video's own shots), example vector 7.75 / 7.42
(0.96). The flat FAISS scan is ~6.4 M of each. Repeated runs differ by ~0.05 M.

Run:  python benchmarks/one_search_instructions.py [--work /tmp/mmir-one-search] [--old f0da858]   (~10 min)
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path

BENCH = Path(__file__).resolve().parent
KINDS = ("photo", "video", "example")
REPS = 20


def worker(old: bool, kind: str, directory: str, reps: int) -> None:
    """Run ``kind`` once to warm up, then ``reps`` times (the process callgrind counts)."""
    import faiss
    import numpy as np

    faiss.omp_set_num_threads(1)
    from mmir.api import Collection

    coll = Collection.open(directory)
    kinds: dict[str, list[Callable[[], object]]]
    photo, video = "/bench/0000042.jpg", "/bench/video003.mp4"
    chosen = np.random.default_rng(1).integers(1, 10_000, 2)
    _, vectors = coll.store.catalog.descriptors_by_ids([int(i) for i in chosen])
    if old:
        kinds = {"photo": [lambda: coll.similar(photo, 10)], "video": [lambda: coll.similar(video, 10)],
                 "example": [partial(coll.search_descriptor, v, 10) for v in vectors]}  # fmt: skip
    else:
        from mmir.search.queries import ItemQuery, VectorQuery

        kinds = {"photo": [lambda: coll.search(ItemQuery(photo), 10)],
                 "video": [lambda: coll.search(ItemQuery(video), 10)],
                 "example": [partial(coll.search, VectorQuery(v), 10) for v in vectors]}  # fmt: skip
    for _ in range(1 + reps):
        for call in kinds[kind]:
            call()


def instructions(src: Path, directory: Path, old: bool, kind: str, reps: int) -> int:
    """Instructions callgrind counts for the worker process."""
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/cg", sys.executable, __file__, "--worker",
             kind, "--directory", str(directory), "--reps", str(reps)] + (["--worker-old"] if old else []),
            env=dict(os.environ, PYTHONPATH=str(src)), capture_output=True, text=True, check=True,
        )  # fmt: skip
    return int(re.search(r"Collected : (\d+)", out.stderr).group(1))  # type: ignore[union-attr]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/mmir-one-search"))
    parser.add_argument("--old", default="f0da858")
    parser.add_argument("--photos", type=int, default=10_000)
    parser.add_argument("--worker", choices=KINDS, help=argparse.SUPPRESS)
    parser.add_argument("--worker-old", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--directory", help=argparse.SUPPRESS)
    parser.add_argument("--reps", type=int, default=REPS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker_old, args.worker, args.directory, args.reps)
        return
    paths = {"old": (args.work / f"old-{args.old}" / "src", args.work / f"latency-{args.photos}-old"),
             "new": (BENCH.parent / "src", args.work / f"latency-{args.photos}-new")}  # fmt: skip
    for _src, directory in paths.values():
        if not (directory / "videos-added").exists():
            raise SystemExit(f"{directory}: missing; run benchmarks/one_search_latency.py --parts 4 first")
    print(f"instructions per query (millions), {args.photos:,} photos + 25 videos x 40 shots, k = 10, callgrind "
          f"({REPS} repetitions minus a warm-up-only run)")  # fmt: skip
    print(f"   {'kind':8s} {'old':>7s} {'new':>7s} {'new/old':>8s}")
    for kind in KINDS:
        per = {}
        for label, (src, directory) in paths.items():
            counts = [instructions(src, directory, label == "old", kind, reps) for reps in (0, REPS)]
            calls = 2 if kind == "example" else 1
            per[label] = (counts[1] - counts[0]) / REPS / calls / 1e6
        print(f"   {kind:8s} {per['old']:7.2f} {per['new']:7.2f} {per['new'] / per['old']:8.2f}", flush=True)


if __name__ == "__main__":
    main()
