"""Indexing throughput: end-to-end images/s vs model-only images/s, measured in the same run.

End to end = scan + read + SHA-1 + JPEG decode (draft mode) + resize/crop + CNN + SQLite commit + FAISS,
on real photos: the COCO photos in ../shared/data/coco-mini when present, else the scikit-image
sample photos (repeated with small edits so that every file is distinct).
Model only = the same encoder on already preprocessed batch tensors (the ceiling for the pipeline).

Usage: python benchmarks/index_throughput.py [--n 200] [--model efficientnet-lite0] [--batch-size 16]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image, ImageOps

COCO = Path(__file__).resolve().parents[2] / "shared" / "data" / "coco-mini"


def collect_photos(target: Path, n: int) -> str:
    target.mkdir(parents=True)
    coco = sorted(COCO.rglob("*.jpg")) if COCO.exists() else []
    if coco:
        for i, src in enumerate(coco[:n]):
            shutil.copy(src, target / f"{i:04d}.jpg")
        return f"{min(n, len(coco))} COCO photos from ../shared/data/coco-mini"
    import skimage

    data = Path(skimage.__file__).parent / "data"
    names = ["chelsea.png", "coffee.png", "astronaut.png", "rocket.jpg", "motorcycle_left.png", "horse.png"]
    sources = [Image.open(data / name).convert("RGB") for name in names]
    for i in range(n):
        image = sources[i % len(sources)]
        edit = ImageOps.mirror(image) if (i // len(sources)) % 2 else image
        edit.rotate((i // len(sources)) * 3).save(target / f"{i:04d}.jpg", quality=90)
    return f"{n} edited scikit-image sample photos (../shared/data/coco-mini not found)"


def model_only(model: str, batch_size: int, n: int) -> float:
    from mmir.models import get_encoder

    encoder = get_encoder(model)
    side = encoder.transform(Image.new("RGB", (640, 480))).shape[-1]
    batch = torch.randn(batch_size, 3, side, side)
    encoder.encode_tensor(batch)  # warm-up
    started, done = time.perf_counter(), 0
    while done < n:
        encoder.encode_tensor(batch)
        done += batch_size
    return done / (time.perf_counter() - started)


def end_to_end(folder: Path, collection: Path, model: str, batch_size: int) -> tuple[float, int, float]:
    from mmir.api import Collection
    from mmir.pipeline import IndexOptions

    started = time.perf_counter()
    with Collection.open(collection, create=True, model=model) as coll:
        report = coll.index([folder], IndexOptions(batch_size=batch_size, progress=False))
    total = time.perf_counter() - started
    rerun_started = time.perf_counter()
    with Collection.open(collection) as coll:
        rerun = coll.index([folder], IndexOptions(progress=False))
    assert rerun.encoded == 0
    return report.encoded / total, report.encoded, time.perf_counter() - rerun_started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--model", default="efficientnet-lite0")
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "photos"
        what = collect_photos(folder, args.n)
        print(f"data: {what}; model {args.model}; batch {args.batch_size}; torch threads {torch.get_num_threads()}")
        # Model-only is measured before and after the indexing run, so a busy machine shows as a spread.
        before = model_only(args.model, args.batch_size, max(64, args.n // 2))
        e2e, encoded, rerun_s = end_to_end(folder, Path(tmp) / "coll", args.model, args.batch_size)
        after = model_only(args.model, args.batch_size, max(64, args.n // 2))
        ceiling = max(before, after)
    print(f"{'measure':<40}{'images/s':>10}")
    print(f"{'model only (preprocessed tensors)':<40}{ceiling:>10.1f}   (before {before:.1f}, after {after:.1f})")
    print(f"{'end to end (index, includes model load)':<40}{e2e:>10.1f}")
    print(
        f"end to end / model only = {e2e / ceiling:.0%}; {encoded} images encoded; "
        f"re-run on the unchanged folder: {rerun_s:.2f} s, 0 encoded"
    )


if __name__ == "__main__":
    main()
