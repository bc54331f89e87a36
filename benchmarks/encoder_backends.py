"""Encoder backends side by side: eager PyTorch vs ONNX Runtime vs ONNX Runtime with int8 weights.

For each bundled model and backend, on the same real photos in one run:
- model-only throughput (images/s on preprocessed batches of ``--batch`` images, the same for every backend) and
  single-image latency;
- what the backend does to the output: mean/min cosine of its descriptors to PyTorch's, top-1 concept agreement;
- retrieval quality: near-duplicate mAP on real photos with OUR OWN edits (crop, scale, rotation, JPEG, flip,
  colour, overlaid text; the sets of ``benchmarks/instance_retrieval.py``), so int8's effect on quality is printed
  beside its speed.

Every row goes through the product's ``mmir.models.load_encoder``. Usage::

    .venv/bin/python benchmarks/encoder_backends.py [--models efficientnet-lite0,efficientnet-lite2] [--quick]
        [--batch 16]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from instance_retrieval import build_sets, describe, load_photos, mean_ap
from mmir.models import load_encoder
from mmir.models.backends import cpu_threads

BACKENDS = ("torch", "onnx", "onnx-int8")


def throughput(encoder, batch: np.ndarray, repeats: int) -> tuple[float, float]:
    """``(images/s on full batches, median seconds for one image)``; one warm-up call each."""
    encoder.encode_batch(batch)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        encoder.encode_batch(batch)
        times.append(time.perf_counter() - start)
    encoder.encode_batch(batch[:1])
    singles = []
    for index in range(min(repeats * 2, len(batch))):
        start = time.perf_counter()
        encoder.encode_batch(batch[index : index + 1])
        singles.append(time.perf_counter() - start)
    return len(batch) / statistics.median(times), statistics.median(singles)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="efficientnet-lite0,efficientnet-lite2")
    parser.add_argument("--quick", action="store_true", help="fewer photos and repeats: a smoke test")
    parser.add_argument("--repeats", type=int, default=5)
    # One batch size for every row: each backend's own default (torch 32, ONNX 16) would compare unlike calls.
    parser.add_argument("--batch", type=int, default=16, help="images per timed call, the same for every backend")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(cpu_threads())
    photos = load_photos(limit=30 if args.quick else None)
    queries, database, _ = build_sets(photos, 6 if args.quick else 40, 6 if args.quick else 60, 0, seed=0)
    load = os.getloadavg()[0]
    if len(database) < args.batch:
        sys.exit(f"--batch {args.batch} needs at least that many database photos (have {len(database)})")
    print(f"{len(queries)} queries, database {len(database)}; {cpu_threads()} cores, load average {load:.1f}; "
          f"batch {args.batch} for every backend")  # fmt: skip
    print(f"{'model':<20}{'backend':<11}{'img/s':>8}{'1-img ms':>10}{'cos vs torch':>15}{'top-1 agree':>13}{'mAP':>8}")
    for model in args.models.split(","):
        reference: dict[str, np.ndarray] = {}
        for backend in BACKENDS:
            encoder = load_encoder(model, backend=backend)
            encoder.batch_size = args.batch  # encode_batch splits by it: one call of --batch images everywhere
            batch = np.stack([encoder.preprocess(item.image) for item in database[: args.batch]])
            rate, single = throughput(encoder, batch, 2 if args.quick else args.repeats)
            out = encoder.encode_batch(batch)
            if backend == "torch":
                reference = {"descriptors": out.descriptors, "top1": out.concepts.argmax(1)}
            cosine = np.sum(out.descriptors * reference["descriptors"], axis=1)
            agree = float(np.mean(out.concepts.argmax(1) == reference["top1"]))
            quality, _ = mean_ap(describe(encoder, queries, "q"), describe(encoder, database, "db"), queries, database)
            print(
                f"{model:<20}{backend:<11}{rate:8.1f}{single * 1000:10.1f}"
                f"{cosine.mean():9.5f}/{cosine.min():.3f}{agree:13.3f}{quality:8.4f}",
                flush=True,
            )
    print("\nint8 = onnxruntime.quantization.quantize_dynamic (weights only, QInt8); `mmir index --backend onnx-int8`.")


if __name__ == "__main__":
    main()
