"""Engineered vs learned descriptors, their fusions, and spatial re-ranking, on the same data in one run.

1. Category retrieval mAP (relevant = same class, full ranking): every image of a class-balanced test subset of
   Fashion-MNIST and of CIFAR-10 (``../shared/data/cifar10-jpg.tar``) queries a database made of a class-balanced
   training subset (``benchmarks/small_datasets.py``; the CNN descriptors are the product encoder's, cached).
2. Near-duplicate R@1 (the original ranked first) on edited copies of the real COCO-2017 photos of
   ``../shared/data/coco-mini`` (plus scikit-image's photos). THE EDITS ARE OURS: crop40 / crop60 (exactly
   40 / 60 % of each side), crop (60–80 % of each side),
   down-scaling (to 25–50 %), rotation (8–20°), JPEG quality 8–20, mirror, colour (desaturation + brightness),
   overlaid text (from ``benchmarks/instance_retrieval.py``) and greyscale; the database holds every original.

Rows: each engineered descriptor of ``mmir.models.engineered`` (colour, lbp, hog, bovw with a vocabulary learned on
the database), the CNN descriptor (EfficientNet-Lite0 GeM, ``mmir.models.load_encoder``), early and late fusion
(``mmir.search.fusion``, default weights: CNN 1, colour 0.5, lbp/hog/bovw 0.25), and the CNN with spatial
re-ranking of its top 20 (``mmir.search.spatial``, ORB + RANSAC similarity, product defaults). Extraction cost is
milliseconds per image on this machine (shared and busy: compare rows of the same run only).

Run:  python benchmarks/descriptors.py [--queries 40] [--train 3000 --test 1000]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageOps

from instance_retrieval import EDITS as EDIT_KINDS
from instance_retrieval import edit, load_photos
from mmir.evaluate.retrieval import class_retrieval_map
from mmir.models import load_encoder
from mmir.models.engineered import extractors, learn_vocabulary, tfidf
from mmir.search.fusion import DEFAULT_WEIGHTS, early_fusion, late_fusion
from mmir.search.spatial import SpatialConfig, rerank
from small_datasets import cnn_descriptors, load_all

ENGINEERED = ("colour", "lbp", "hog", "bovw")
EDITS = ("crop40", "crop60", *EDIT_KINDS, "grey")


def edited(image: Image.Image, kind: str, rng: np.random.Generator) -> Image.Image:
    """Our edit ``kind`` of ``image``: the instance-retrieval benchmark's edits, plus greyscale and ``crop60``.

    ``cropNN`` keeps exactly NN % of each side (crop60: 36 % of the picture) at a random place; ``crop`` keeps
    60–80 %.
    """
    if kind == "grey":
        return ImageOps.grayscale(image).convert("RGB")
    if kind.startswith("crop") and kind != "crop":
        keep = int(kind[4:]) / 100
        w, h = int(image.width * keep), int(image.height * keep)
        left, top = int(rng.integers(0, image.width - w + 1)), int(rng.integers(0, image.height - h + 1))
        return image.crop((left, top, left + w, top + h))
    return edit(image, kind, rng)


def engineered(images: list[Image.Image], vocabulary: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Per engineered descriptor: ``float32[N, K]`` rows and milliseconds per image."""
    rows, cost = {}, {}
    for extractor in extractors(ENGINEERED, vocabulary):
        started = time.perf_counter()
        rows[extractor.name] = np.stack([extractor.extract(image) for image in images])
        cost[extractor.name] = 1000 * (time.perf_counter() - started) / len(images)
    return rows, cost


def searchable(db: dict[str, np.ndarray], q: dict[str, np.ndarray]) -> tuple[dict, dict]:
    """bovw counts → tf-idf with the database's idf; other channels are already unit rows."""
    db, q = dict(db), dict(q)
    db["bovw"], idf = tfidf(db["bovw"])
    q["bovw"] = tfidf(q["bovw"], idf)[0]
    return db, q


def fused_scores(db: dict[str, np.ndarray], q: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``float32[Q, N]`` similarity per row: each channel alone, early and late fusion."""
    scores = {name: q[name] @ db[name].T for name in db}
    scores["early fusion"] = early_fusion(q, DEFAULT_WEIGHTS) @ early_fusion(db, DEFAULT_WEIGHTS).T
    scores["late fusion"] = np.stack([late_fusion({n: scores[n][i] for n in db}, DEFAULT_WEIGHTS)
                                      for i in range(len(next(iter(q.values()))))])  # fmt: skip
    return scores


def category_rows(train: int, test: int, seed: int) -> None:
    """Part 1: category retrieval mAP per descriptor on both data sets."""
    for name, (db_set, q_set) in load_all(train, test, seed).items():
        vocabulary = learn_vocabulary(db_set.images[:: max(1, len(db_set.images) // 300)])
        db, cost = engineered(db_set.images, vocabulary)
        q, _ = engineered(q_set.images, vocabulary)
        db["cnn"], cost["cnn"] = cnn_descriptors(db_set)
        q["cnn"], _ = cnn_descriptors(q_set)
        cost["cnn"] *= 1000
        db, q = searchable(db, q)
        print(f"\n{name}: {len(q_set.labels)} queries, {len(db_set.labels)} database images, class-level mAP")
        identity = np.eye(len(db_set.labels), dtype=np.float32)
        for row, scores in fused_scores(db, q).items():
            # The product's mAP takes vectors and ranks by their inner products: scores against the identity
            # "database" are the (fused) scores themselves.
            score = class_retrieval_map(scores, q_set.labels, identity, db_set.labels)
            ms = f"{cost[row]:7.1f} ms/img" if row in cost else "  (sum of its channels)"
            print(f"  {row:13s} mAP {score:.4f}  {ms}", flush=True)


def near_duplicate_rows(queries: int, seed: int) -> None:
    """Part 2: near-duplicate R@1 per edit for every descriptor, fusion and spatial re-ranking."""
    photos = [image for _, image in load_photos(None)]
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(photos), size=min(queries, len(photos)), replace=False)
    items = [(int(i), kind, edited(photos[i], kind, rng)) for i in chosen for kind in EDITS]
    q_images, truth = [image for _, _, image in items], np.array([i for i, _, _ in items])
    kinds = np.array([kind for _, kind, _ in items])
    vocabulary = learn_vocabulary(photos)
    db, cost = engineered(photos, vocabulary)
    q, _ = engineered(q_images, vocabulary)
    encoder = load_encoder("efficientnet-lite0")
    started = time.perf_counter()
    db["cnn"] = np.concatenate([encoder.encode(photos[i : i + 32]).descriptors for i in range(0, len(photos), 32)])
    cost["cnn"] = 1000 * (time.perf_counter() - started) / len(photos)
    q["cnn"] = np.concatenate([encoder.encode(q_images[i : i + 32]).descriptors for i in range(0, len(q_images), 32)])
    db, q = searchable(db, q)
    scores = fused_scores(db, q)
    print(f"\nnear-duplicates: {len(photos)} originals, {len(chosen)} of them edited {len(EDITS)} ways "
          f"({len(items)} queries); R@1 per edit")  # fmt: skip
    print(f"  {'':24s}" + "".join(f"{k:>7s}" for k in EDITS) + "    all   cost")
    for row, s in scores.items():
        top1 = s.argmax(axis=1) == truth
        ms = f"{cost[row]:6.1f} ms/img" if row in cost else "(channels)"
        _print_row(row, top1, ms, kinds=kinds)
    _print_row("cnn + spatial re-rank", *_spatial(scores["cnn"], q_images, photos, truth), kinds=kinds)
    more = SpatialConfig(features=3000)  # more keypoints: small crops keep enough of them, at a higher cost
    _print_row("  ... with 3000 ORB", *_spatial(scores["cnn"], q_images, photos, truth, more), kinds=kinds)


def _spatial(
    cnn: np.ndarray, q_images: list, photos: list, truth: np.ndarray, config: SpatialConfig = SpatialConfig()
) -> tuple[np.ndarray, str]:
    started = time.perf_counter()
    top1 = []
    for row, image in enumerate(q_images):
        order = np.argsort(-cnn[row], kind="stable")[: config.top].tolist()
        load: Callable[[int], Image.Image] = photos.__getitem__
        top1.append(rerank(image, order, load, config)[0][0] == truth[row])
    per_query = (time.perf_counter() - started) / len(q_images)
    return np.array(top1), f"+{per_query * 1000:.0f} ms/query"


def _print_row(name: str, top1: np.ndarray, ms: str = "", kinds: np.ndarray | None = None) -> None:
    assert kinds is not None
    cells = "".join(f"{top1[kinds == k].mean():7.3f}" for k in EDITS)
    print(f"  {name:24s}{cells}  {top1.mean():.3f}  {ms}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=int, default=40, help="COCO-mini photos edited into near-duplicate queries")
    parser.add_argument("--train", type=int, default=3000, help="database images per data set (category part)")
    parser.add_argument("--test", type=int, default=1000, help="query images per data set (category part)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-categories", action="store_true")
    args = parser.parse_args()
    near_duplicate_rows(args.queries, args.seed)
    if not args.skip_categories:
        category_rows(args.train, args.test, args.seed)


if __name__ == "__main__":
    main()
