"""Engineered vs learned descriptors, their fusions (weights chosen on validation), and spatial re-ranking.

Three tasks on the same run, each with its queries split in two halves (seeded): VALIDATION chooses the fusion
weights, TEST reports every figure below the selection.

1. Category retrieval mAP (relevant = same class, full ranking): every image of a class-balanced test subset of
   Fashion-MNIST and of CIFAR-10 (``../shared/data/cifar10-jpg.tar``) queries a database made of a class-balanced
   training subset (``benchmarks/small_datasets.py``; the CNN descriptors are the product encoder's, cached).
2. Near-duplicate R@1 (the original ranked first) on edited copies of the real COCO-2017 photos of
   ``../shared/data/coco-mini`` (plus scikit-image's photos). THE EDITS ARE OURS: crop40 / crop60 (exactly
   40 / 60 % of each side), crop (60–80 % of each side), down-scaling (to 25–50 %), rotation (8–20°), JPEG quality
   8–20, mirror, colour (desaturation + brightness), overlaid text (from ``benchmarks/instance_retrieval.py``) and
   greyscale; the database holds every original. The split is by original photo (all edits of a photo fall
   on the same side).

Rows: each engineered descriptor of ``mmir.models.engineered`` (colour, lbp, hog, bovw with a vocabulary learned on
the database), the CNN descriptor (EfficientNet-Lite0 GeM, ``mmir.models.load_encoder``), early and late fusion
with the product's functions (``mmir.search.fusion``), and the CNN with spatial re-ranking of its top 20
(``mmir.search.spatial``, ORB + RANSAC similarity, product defaults).

Fusion weights: CNN 1, each engineered channel from {0, 1/8, 1/4, 1/2, 1}, chosen by coordinate ascent (two
sweeps, starting from the CNN alone) on the mean of the three tasks' validation figures; every setting tried is
printed. The jointly chosen weights are the product defaults (``DEFAULT_WEIGHTS`` / ``DEFAULT_EARLY_WEIGHTS``).
Extraction cost is milliseconds per image on this machine (shared and busy: compare rows of the same run only);
engineered rows are cached under /tmp keyed by the extractor source, so a rerun reuses them (and their cost).

Run:  python benchmarks/descriptors.py [--queries 40] [--train 3000 --test 1000]
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import inspect
import itertools
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from PIL import Image, ImageOps

import mmir.models.engineered as engineered_module
from instance_retrieval import EDITS as EDIT_KINDS
from instance_retrieval import edit, load_photos
from mmir.evaluate.retrieval import average_precision
from mmir.models import load_encoder
from mmir.models.engineered import extractors, l2_rows, learn_vocabulary, tfidf
from mmir.search.fusion import DEFAULT_EARLY_WEIGHTS, DEFAULT_WEIGHTS, early_fusion_scores, late_fusion
from mmir.search.spatial import LocalFeatures, SpatialConfig, count_inliers, extract_local, rerank, rerank_by_inliers
from small_datasets import CACHE, cnn_descriptors, load_all

ENGINEERED = ("colour", "lbp", "hog", "bovw")
EDITS = ("crop40", "crop60", *EDIT_KINDS, "grey")
GRID = (0.0, 0.125, 0.25, 0.5, 1.0)
OLD_SPATIAL = SpatialConfig(top=20, first=20, features=1000, min_inliers=15)  # the defaults before validation
HAND_WEIGHTS = {"cnn": 1.0, "colour": 0.5, "lbp": 0.25, "hog": 0.25, "bovw": 0.25}  # the pre-validation defaults


@dataclass(frozen=True)
class Task:
    """One task's per-channel similarities and how its figure is computed.

    Attributes:
        name: Shown in the tables.
        scores: ``{channel: float32[Q, N]}`` cosine similarity of every query with every database item.
        figure: ``(fused scores float32[q, N], query rows int[q]) → figure`` (mAP or R@1).
        validation: ``bool[Q]`` queries used to choose weights (the others are the test queries).
        cost: Milliseconds per image of each channel's extraction.
    """

    name: str
    scores: dict[str, np.ndarray]
    figure: Callable[[np.ndarray, np.ndarray], float]
    validation: np.ndarray
    cost: dict[str, float]


def edited(image: Image.Image, kind: str, rng: np.random.Generator) -> Image.Image:
    """Our edit ``kind`` of ``image``: the instance-retrieval benchmark's edits, plus greyscale and ``cropNN``.

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


def engineered(
    key: str, db_images: list[Image.Image], q_images: list[Image.Image], vocabulary_from: list[Image.Image]
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, float]]:
    """Engineered rows of database and queries (``{name: float32[N|Q, K]}``) and ms per image; cached by ``key``."""
    source = hashlib.sha1(inspect.getsource(engineered_module).encode()).hexdigest()[:10]
    path = CACHE / f"engineered-{key}-{source}.npz"
    if path.exists():
        with np.load(path) as cached:
            return ({n: cached[f"db_{n}"] for n in ENGINEERED}, {n: cached[f"q_{n}"] for n in ENGINEERED},
                    {n: float(cached[f"ms_{n}"]) for n in ENGINEERED})  # fmt: skip
    vocabulary = learn_vocabulary(vocabulary_from)
    db, q, cost = {}, {}, {}
    for extractor in extractors(ENGINEERED, vocabulary):
        started = time.perf_counter()
        db[extractor.name] = np.stack([extractor.extract(image) for image in db_images])
        cost[extractor.name] = 1000 * (time.perf_counter() - started) / len(db_images)
        q[extractor.name] = np.stack([extractor.extract(image) for image in q_images])
    CACHE.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, Any] = {f"db_{n}": v for n, v in db.items()} | {f"q_{n}": v for n, v in q.items()}
    arrays |= {f"ms_{n}": np.float64(v) for n, v in cost.items()}
    np.savez(path, **arrays)
    return db, q, cost


def similarities(db: dict[str, np.ndarray], q: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``{channel: float32[Q, N]}`` cosines; bovw is tf-idf weighted with the database's idf (as the product)."""
    db, q = dict(db), dict(q)
    db["bovw"], idf = tfidf(db["bovw"])
    q["bovw"] = tfidf(q["bovw"], idf)[0]
    return {n: l2_rows(q[n]) @ l2_rows(db[n]).T for n in db}


def category_task(name: str, train: int, test: int, seed: int) -> Task:
    """Part 1 for one data set: class-level mAP, half of the test queries (seeded) for validation."""
    db_set, q_set = load_all(train, test, seed)[name]
    db, q, cost = engineered(f"{name}-{train}-{test}-{seed}", db_set.images, q_set.images,
                             db_set.images[:: max(1, len(db_set.images) // 300)])  # fmt: skip
    db["cnn"], seconds = cnn_descriptors(db_set)
    q["cnn"], _ = cnn_descriptors(q_set)
    cost["cnn"] = 1000 * seconds

    def figure(scores: np.ndarray, rows: np.ndarray) -> float:
        order = np.argsort(-scores, axis=1, kind="stable")
        relevant = db_set.labels[order] == q_set.labels[rows][:, None]  # bool[q, N] in ranked order
        return float(np.mean([average_precision(r) for r in relevant]))

    validation = np.random.default_rng(seed + 1).permutation(len(q_set.labels)) < len(q_set.labels) // 2
    title = f"{name} mAP ({len(q_set.labels)} queries, {len(db_set.labels)} database images)"
    return Task(title, similarities(db, q), figure, validation, cost)


@dataclass(frozen=True)
class NearDuplicates:
    """Part 2's queries, kept for the per-edit table and spatial re-ranking."""

    task: Task
    photos: list[Image.Image]
    queries: list[Image.Image]
    truth: np.ndarray  # int[Q] index of each query's original
    kinds: np.ndarray  # str[Q] edit of each query


def near_duplicate_task(queries: int, seed: int) -> NearDuplicates:
    """Part 2: R@1 of edited copies; the photos are split in two halves for validation and test."""
    photos = [image for _, image in load_photos(None)]
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(photos), size=min(queries, len(photos)), replace=False)
    items = [(int(i), kind, edited(photos[i], kind, rng)) for i in chosen for kind in EDITS]
    q_images, truth = [image for _, _, image in items], np.array([i for i, _, _ in items])
    kinds = np.array([kind for _, kind, _ in items])
    db, q, cost = engineered(f"ndup-{len(photos)}-{queries}-{seed}", photos, q_images, photos)
    encoder = load_encoder("efficientnet-lite0")
    started = time.perf_counter()
    db["cnn"] = np.concatenate([encoder.encode(photos[i : i + 32]).descriptors for i in range(0, len(photos), 32)])
    cost["cnn"] = 1000 * (time.perf_counter() - started) / len(photos)
    q["cnn"] = np.concatenate([encoder.encode(q_images[i : i + 32]).descriptors for i in range(0, len(q_images), 32)])
    validation = np.isin(truth, chosen[: len(chosen) // 2])

    def figure(scores: np.ndarray, rows: np.ndarray) -> float:
        return float(np.mean(scores.argmax(axis=1) == truth[rows]))

    title = f"near-duplicate R@1 ({len(photos)} originals, {len(chosen)} edited {len(EDITS)} ways)"
    return NearDuplicates(Task(title, similarities(db, q), figure, validation, cost), photos, q_images, truth, kinds)


class Fusion:
    """Fused scores of a task for given weights, with the product's functions (``late``: z-scored, ``early``)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def scores(self, task: Task, weights: Mapping[str, float], rows: np.ndarray) -> np.ndarray:
        """``float32[len(rows), N]`` fused scores of some queries (channels of weight 0 are left out)."""
        used = {n: task.scores[n][rows] for n in ("cnn", *ENGINEERED) if weights.get(n, 0.0) > 0}
        fuse = late_fusion if self.kind == "late" else early_fusion_scores
        return fuse(used, weights)

    def figure(self, task: Task, weights: Mapping[str, float], test: bool) -> float:
        """The task's figure on its validation (``test=False``) or test queries."""
        rows = np.flatnonzero(task.validation != test)
        return task.figure(self.scores(task, weights, rows), rows)


def _label(weights: Mapping[str, float]) -> str:
    return " ".join(f"{n}={weights.get(n, 0.0):g}" for n in ("cnn", *ENGINEERED))


def choose_weights(tasks: list[Task], fusion: Fusion) -> dict[str, float]:
    """Coordinate ascent over :data:`GRID` on the mean validation figure; prints every setting tried."""
    tried: dict[tuple[float, ...], float] = {}

    def mean_figure(weights: dict[str, float]) -> float:
        key = tuple(weights.get(n, 0.0) for n in ("cnn", *ENGINEERED))
        if key not in tried:
            figures = [fusion.figure(task, weights, test=False) for task in tasks]
            tried[key] = float(np.mean(figures))
            cells = "".join(f"{f:8.4f}" for f in figures)
            print(f"  {fusion.kind:5s} {_label(weights):52s}{cells}{tried[key]:9.4f}", flush=True)
        return tried[key]

    print(f"\n{fusion.kind} fusion weights tried (validation queries):  " + " | ".join(t.name for t in tasks))
    print(f"  {'':58s}" + "".join(f"{'task' + str(i + 1):>8s}" for i in range(len(tasks))) + "     mean")
    mean_figure(HAND_WEIGHTS)
    best = {"cnn": 1.0, **{n: 0.0 for n in ENGINEERED}}
    for _sweep, name in itertools.product(range(2), ENGINEERED):
        candidates = [{**best, name: w} for w in GRID]
        figures = [mean_figure(c) for c in candidates]
        # ties keep the current weight (no change without a measured gain)
        current = figures[GRID.index(best[name])]
        top = int(np.argmax(figures))
        if figures[top] > current:
            best = candidates[top]
    print(f"  chosen ({fusion.kind}): {_label(best)}  validation mean {mean_figure(best):.4f}")
    return best


def test_rows(tasks: list[Task], chosen: dict[str, dict[str, float]]) -> None:
    """Every row on the test queries: channels alone, hand-set and validated fusions, product defaults."""
    print("\nTEST queries (never used to choose anything): " + " | ".join(f"task{i + 1} = {t.name}"
                                                                       for i, t in enumerate(tasks)))  # fmt: skip
    print(f"  {'':40s}" + "".join(f"{'task' + str(i + 1):>8s}" for i in range(len(tasks))) + "   cost ms/img (t1..)")
    rows: list[tuple[str, Fusion, dict[str, float]]] = [(n, Fusion("late"), {n: 1.0}) for n in ("cnn", *ENGINEERED)]
    for kind in ("early", "late"):
        rows += [(f"{kind} fusion, hand weights", Fusion(kind), HAND_WEIGHTS),
                 (f"{kind} fusion, validated weights", Fusion(kind), chosen[kind])]  # fmt: skip
    defaults = {"early": DEFAULT_EARLY_WEIGHTS, "late": DEFAULT_WEIGHTS}
    rows += [(f"{kind} fusion, product defaults", Fusion(kind), defaults[kind]) for kind in ("early", "late")]
    for label, fusion, weights in rows:
        cells = "".join(f"{fusion.figure(task, weights, test=True):8.4f}" for task in tasks)
        cost = " ".join(f"{t.cost[label]:6.1f}" for t in tasks) if label in tasks[0].cost else "(its channels)"
        print(f"  {label:40s}{cells}   {cost}", flush=True)
    print("  (the category tasks' CNN cost is that of the run that filled small_datasets' descriptor cache)")


def per_edit_rows(nd: NearDuplicates, chosen: dict[str, dict[str, float]], spatial: SpatialConfig | None) -> None:
    """Near-duplicate R@1 per edit on the test photos, and the CNN with spatial re-ranking."""
    test = np.flatnonzero(~nd.task.validation)
    kinds = nd.kinds[test]
    print(f"\nnear-duplicates, TEST photos only ({len(test)} queries): R@1 per edit")
    print(f"  {'':32s}" + "".join(f"{k:>7s}" for k in EDITS) + "    all")

    def row(name: str, top1: np.ndarray, note: str = "") -> None:
        cells = "".join(f"{top1[kinds == k].mean():7.3f}" for k in EDITS)
        print(f"  {name:32s}{cells}  {top1.mean():.3f}  {note}", flush=True)

    settings = [(n, Fusion("late"), {n: 1.0}) for n in ("cnn", *ENGINEERED)]
    settings += [(f"{k} fusion, validated", Fusion(k), chosen[k]) for k in ("early", "late")]
    for name, fusion, weights in settings:
        row(name, fusion.scores(nd.task, weights, test).argmax(axis=1) == nd.truth[test])
    if spatial is not None:
        cnn = nd.task.scores["cnn"][test]
        images = [nd.queries[i] for i in test]
        for label, config in (("cnn + spatial, old defaults", OLD_SPATIAL), ("cnn + spatial, validated", spatial)):
            row(label, *_spatial(cnn, images, nd.photos, nd.truth[test], config))
        print(f"  validated spatial settings = product defaults (SpatialConfig()): {spatial == SpatialConfig()}")


class InlierCache:
    """Inliers of (query row, photo) pairs with the product's functions, each computed once; counts the asks."""

    def __init__(self, nd: NearDuplicates, config: SpatialConfig) -> None:
        self.nd, self.config = nd, config
        self.photos: dict[int, LocalFeatures] = {}
        self.queries: dict[int, LocalFeatures] = {}
        self.counts: dict[tuple[int, int], int] = {}
        self.verified = 0

    def inliers(self, row: int, photo: int) -> int:
        """RANSAC inliers between query ``row`` and database photo ``photo``."""
        self.verified += 1
        if (row, photo) not in self.counts:
            if photo not in self.photos:
                self.photos[photo] = extract_local(self.nd.photos[photo], self.config)
            if row not in self.queries:
                self.queries[row] = extract_local(self.nd.queries[row], self.config)
            self.counts[row, photo] = count_inliers(self.queries[row], self.photos[photo], self.config)
        return self.counts[row, photo]


def choose_spatial(nd: NearDuplicates) -> SpatialConfig:
    """Spatial re-ranking settings chosen on the validation photos (R@1 over all edits; ties: cheaper, stricter).

    Inlier counts are the product's (:func:`count_inliers` of :func:`extract_local` features) through its
    re-ranking rule (:func:`rerank_by_inliers`); they are computed once per (query, candidate, keypoint count)
    and shared by the rows, so this table gives candidates verified per query, not milliseconds.
    """
    rows = np.flatnonzero(nd.task.validation)
    kinds = nd.kinds[rows]
    print(f"\nspatial re-ranking settings tried (VALIDATION photos, {len(rows)} queries): R@1 per edit")
    print(f"  {'':32s}" + "".join(f"{k:>7s}" for k in EDITS) + "    all  verified/query")
    tried: list[tuple[float, float, SpatialConfig]] = []
    for features in (1000, 3000):
        cache = InlierCache(nd, replace(OLD_SPATIAL, features=features))
        for top, min_inliers in itertools.product((20, 50, 100), (10, 15)):
            config = replace(cache.config, top=top, min_inliers=min_inliers)
            cache.verified = 0
            top1 = []
            for r in rows.tolist():
                order = np.argsort(-nd.task.scores["cnn"][r], kind="stable")[:top].tolist()
                ranked = rerank_by_inliers(order, functools.partial(cache.inliers, r), config)
                top1.append(ranked[0][0] == nd.truth[r])
            hits = np.array(top1)
            cells = "".join(f"{hits[kinds == k].mean():7.3f}" for k in EDITS)
            label = f"ORB {features}, top {top}, min {min_inliers}"
            print(f"  {label:32s}{cells}  {hits.mean():.3f}  {cache.verified / len(rows):6.1f}", flush=True)
            tried.append((float(hits.mean()), -cache.verified / len(rows), config))
    # ties: fewer candidates verified, then fewer keypoints, then the stricter inlier count
    best = max(tried, key=lambda t: (t[0], t[1], -t[2].features, t[2].min_inliers))[2]
    print(f"  chosen: ORB {best.features}, top {best.top}, min_inliers {best.min_inliers}")
    return best


def _spatial(
    cnn: np.ndarray, q_images: list, photos: list, truth: np.ndarray, config: SpatialConfig
) -> tuple[np.ndarray, str]:
    started = time.perf_counter()
    top1 = []
    for row, image in enumerate(q_images):
        order = np.argsort(-cnn[row], kind="stable")[: config.top].tolist()
        top1.append(rerank(image, order, photos.__getitem__, config)[0][0] == truth[row])
    per_query = (time.perf_counter() - started) / len(q_images)
    return np.array(top1), f"+{per_query * 1000:.0f} ms/query"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=int, default=40, help="COCO-mini photos edited into near-duplicate queries")
    parser.add_argument("--train", type=int, default=3000, help="database images per data set (category part)")
    parser.add_argument("--test", type=int, default=1000, help="query images per data set (category part)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-categories", action="store_true")
    parser.add_argument("--skip-spatial", action="store_true")
    args = parser.parse_args()
    nd = near_duplicate_task(args.queries, args.seed)
    tasks = [nd.task]
    if not args.skip_categories:
        tasks += [category_task(name, args.train, args.test, args.seed) for name in ("cifar10", "fmnist")]
    chosen = {kind: choose_weights(tasks, Fusion(kind)) for kind in ("early", "late")}
    test_rows(tasks, chosen)
    per_edit_rows(nd, chosen, None if args.skip_spatial else choose_spatial(nd))


if __name__ == "__main__":
    main()
