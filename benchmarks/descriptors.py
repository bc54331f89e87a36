"""Engineered vs learned descriptors, their fusions (weights chosen on validation), and spatial re-ranking,
every row through the product's one search path.

Each task is a collection the product indexes (``Collection.index`` with ``--descriptors cnn,colour,lbp,hog,bovw``,
bovw vocabulary learned on the database as ``mmir index`` does), queried with image files the collection does not
hold: ``Collection.search(ChannelQuery(ExampleQuery(bytes), descriptor, weights, fusion), k=N, per="shot")``, the
path of ``mmir search --image Q --channel D [--fusion late|early] [--fusion-weights ...]`` and of the server.
Every database item is ranked (k = all items); a relevant item tied with others counts as ranked after all of them
(``product_search.pessimistic_rank`` / ``pessimistic_ap``). Queries are split in two halves (seeded; by photo for
near-duplicates): VALIDATION chooses the fusion weights, TEST reports every row, all rows on the same test queries.

1. Category retrieval mAP (relevant = same class): every image of a class-balanced test subset of Fashion-MNIST and
   of CIFAR-10 (``../shared/data/cifar10-jpg.tar``) queries a collection made of a class-balanced training subset
   (``benchmarks/small_datasets.py``), written as PNG files.
2. Near-duplicate R@1 (the original ranked first) on edited copies of the real COCO-2017 photos of
   ``../shared/data/coco-mini`` (plus scikit-image's photos). THE EDITS ARE OURS: crop40 / crop60 (exactly
   40 / 60 % of each side), crop (60–80 % of each side), down-scaling (to 25–50 %), rotation (8–20°), JPEG quality
   8–20, mirror, colour (desaturation + brightness), overlaid text (from ``benchmarks/instance_retrieval.py``) and
   greyscale; the collection holds every original. All edits of a photo fall on the same side of the split.

Rows: each channel alone (cnn = EfficientNet-Lite0 GeM, the collection's encoder; colour, lbp, hog, bovw), early
and late fusion with hand-set weights, with the weights chosen here and with the product defaults
(``DEFAULT_EARLY_WEIGHTS`` / ``DEFAULT_WEIGHTS``), and the CNN with spatial re-ranking
(``search(..., spatial=SpatialConfig())``; the spatial settings are chosen on validation edits by
``benchmarks/one_search.py``, not here). With spatial, the product's order counts (its hits keep their cosines).

Fusion weights: CNN 1, each engineered channel from {0, 1/8, 1/4, 1/2, 1} (``--quick``: {0, 1/4, 1}, one sweep),
chosen by coordinate ascent (two sweeps, starting from the CNN alone) on the mean of the tasks' validation figures;
every setting tried is printed. ms/query is the product's search time per query (decoding and extracting the query
image included) on this shared, busy machine: compare rows of the same run only.

Run:  python benchmarks/descriptors.py [--quick] [--queries 40] [--train 3000 --test 1000] [--skip-categories]
"""

from __future__ import annotations

import argparse
import io
import itertools
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from instance_retrieval import EDITS as EDIT_KINDS
from instance_retrieval import edit, load_photos
from mmir.api import Collection
from mmir.search.fusion import DEFAULT_EARLY_WEIGHTS, DEFAULT_WEIGHTS
from mmir.search.queries import ChannelQuery, ExampleQuery, Fusion
from mmir.search.spatial import SpatialConfig
from product_search import index_with_channels, pessimistic_ap, pessimistic_rank, product_scores, segment_paths
from small_datasets import load_all

CHANNELS = ("cnn", "colour", "lbp", "hog", "bovw")
ENGINEERED = CHANNELS[1:]
EDITS = ("crop40", "crop60", *EDIT_KINDS, "grey")
GRID = (0.0, 0.125, 0.25, 0.5, 1.0)
QUICK_GRID = (0.0, 0.25, 1.0)
HAND_WEIGHTS = {"cnn": 1.0, "colour": 0.5, "lbp": 0.25, "hog": 0.25, "bovw": 0.25}  # the pre-validation defaults


@dataclass(frozen=True)
class Setting:
    """One row: a channel alone, or a fusion with its weights, optionally with spatial re-ranking."""

    descriptor: str
    weights: tuple[tuple[str, float], ...] = ()
    fusion: Fusion = Fusion.LATE
    spatial: bool = False

    @staticmethod
    def fused(kind: str, weights: Mapping[str, float]) -> Setting:
        """Fusion ``kind`` with every channel's weight given (0: not searched)."""
        return Setting("fused", tuple((n, float(weights.get(n, 0.0))) for n in CHANNELS), Fusion(kind))

    def query(self, example: ExampleQuery) -> ChannelQuery:
        return ChannelQuery(example, self.descriptor, dict(self.weights), self.fusion)


@dataclass(frozen=True)
class Task:
    """One indexed collection and its queries.

    Attributes:
        name: Shown in the tables.
        coll: The product's collection (the database).
        ids: ``int64[N]`` segment ids of the database items.
        queries: ``Q`` query images as files' bytes (not in the collection).
        figure: ``(scores float64[N], query number) → figure`` for one query (AP or R@1).
        validation: ``bool[Q]`` queries used to choose weights (the others are the test queries).
        kinds: ``str[Q]`` each query's edit (near-duplicates) or ``""``.
    """

    name: str
    coll: Collection
    ids: np.ndarray
    queries: list[ExampleQuery]
    figure: Callable[[np.ndarray, int], float]
    validation: np.ndarray
    kinds: np.ndarray


class Scorer:
    """Per-query figures of settings through ``Collection.search``, each (setting, task, query) run once."""

    def __init__(self) -> None:
        self.done: dict[tuple[Setting, str, int], float] = {}
        self.seconds: dict[Setting, list[float]] = {}

    def figures(self, task: Task, setting: Setting, rows: np.ndarray) -> np.ndarray:
        """``float64[len(rows)]``: the figure of each query of ``rows``."""
        spatial = SpatialConfig() if setting.spatial else None
        out = []
        for row in rows.tolist():
            key = (setting, task.name, row)
            if key not in self.done:
                started = time.perf_counter()
                scores = product_scores(task.coll, setting.query(task.queries[row]), task.ids, spatial)
                self.seconds.setdefault(setting, []).append(time.perf_counter() - started)
                self.done[key] = task.figure(scores, row)
            out.append(self.done[key])
        return np.array(out)

    def mean(self, task: Task, setting: Setting, test: bool) -> float:
        return float(np.nanmean(self.figures(task, setting, np.flatnonzero(task.validation != test))))

    def ms(self, setting: Setting) -> float:
        return 1000 * float(np.mean(self.seconds.get(setting, [np.nan])))


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def _collection(work: Path, name: str, images: list[Image.Image]) -> tuple[Collection, np.ndarray, list[str]]:
    """Write ``images`` as ``work/name/NNNNN.png``, index them with every channel; ``(collection, ids, paths)``."""
    folder = work / name
    folder.mkdir()
    for number, image in enumerate(images):
        image.save(folder / f"{number:05d}.png")
    coll = Collection.open(work / f"{name}-coll", create=True)
    started = time.perf_counter()
    index_with_channels(coll, [folder], CHANNELS)
    ids, _ = coll.store.catalog.all_concepts()
    print(f"  indexed {len(ids)} {name} images with {','.join(CHANNELS)} in {time.perf_counter() - started:.0f} s",
          flush=True)  # fmt: skip
    return coll, ids, segment_paths(coll, ids)


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


def category_task(work: Path, name: str, train: int, test: int, seed: int) -> Task:
    """Part 1 for one data set: class-level mAP, half of the test queries (seeded) for validation."""
    db_set, q_set = load_all(train, test, seed)[name]
    coll, ids, paths = _collection(work, name, db_set.images)
    labels = db_set.labels[[int(Path(p).stem) for p in paths]]  # int64[N] in the order of ids
    queries = [ExampleQuery(_png(image), f"{name}-q{n}.png") for n, image in enumerate(q_set.images)]

    def figure(scores: np.ndarray, row: int) -> float:
        return pessimistic_ap(scores, labels == q_set.labels[row])

    validation = np.random.default_rng(seed + 1).permutation(len(q_set.labels)) < len(q_set.labels) // 2
    title = f"{name} mAP ({len(queries)} queries, {len(ids)} database images)"
    return Task(title, coll, ids, queries, figure, validation, np.full(len(queries), ""))


def near_duplicate_task(work: Path, queries: int, seed: int) -> Task:
    """Part 2: R@1 of edited copies; the photos are split in two halves for validation and test."""
    photos = [image for _, image in load_photos(None)]
    coll, ids, paths = _collection(work, "photos", photos)
    position = {int(Path(p).stem): n for n, p in enumerate(paths)}  # photo number -> index into ids
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(photos), size=min(queries, len(photos)), replace=False)
    items = [(int(i), kind, edited(photos[i], kind, rng)) for i in chosen for kind in EDITS]
    examples = [ExampleQuery(_png(image), f"{i:05d}_{kind}.png") for i, kind, image in items]
    truth = np.array([position[i] for i, _, _ in items])
    validation = np.isin([i for i, _, _ in items], chosen[: len(chosen) // 2])

    def figure(scores: np.ndarray, row: int) -> float:
        return float(pessimistic_rank(scores, int(truth[row])) == 1)

    title = f"near-duplicate R@1 ({len(photos)} originals, {len(chosen)} edited {len(EDITS)} ways)"
    return Task(title, coll, ids, examples, figure, validation, np.array([kind for _, kind, _ in items]))


def _label(setting: Setting) -> str:
    return " ".join(f"{n}={w:g}" for n, w in setting.weights)


def choose_weights(tasks: list[Task], kind: str, scorer: Scorer, grid: tuple[float, ...], sweeps: int) -> Setting:
    """Coordinate ascent over ``grid`` on the mean validation figure; prints every setting tried."""
    tried: dict[Setting, float] = {}

    def mean_figure(setting: Setting) -> float:
        if setting not in tried:
            figures = [scorer.mean(task, setting, test=False) for task in tasks]
            tried[setting] = float(np.mean(figures))
            cells = "".join(f"{f:8.4f}" for f in figures)
            print(f"  {kind:5s} {_label(setting):52s}{cells}{tried[setting]:9.4f}", flush=True)
        return tried[setting]

    print(f"\n{kind} fusion weights tried (VALIDATION queries):  " + " | ".join(t.name for t in tasks))
    print(f"  {'':58s}" + "".join(f"{'task' + str(i + 1):>8s}" for i in range(len(tasks))) + "     mean")
    mean_figure(Setting.fused(kind, HAND_WEIGHTS))
    best = {"cnn": 1.0, **{n: 0.0 for n in ENGINEERED}}
    for _sweep, name in itertools.product(range(sweeps), ENGINEERED):
        candidates = [{**best, name: w} for w in grid]
        figures = [mean_figure(Setting.fused(kind, c)) for c in candidates]
        current = figures[grid.index(best[name])] if best[name] in grid else -np.inf
        top = int(np.argmax(figures))
        if figures[top] > current:  # ties keep the current weight (no change without a measured gain)
            best = candidates[top]
    chosen = Setting.fused(kind, best)
    print(f"  chosen ({kind}): {_label(chosen)}  validation mean {mean_figure(chosen):.4f}")
    return chosen


def test_rows(
    tasks: list[Task], chosen: dict[str, Setting], scorer: Scorer, spatial: bool
) -> list[tuple[str, Setting]]:
    """Every row on the test queries: channels alone, hand-set, validated and default fusions, cnn + spatial."""
    rows = [(n, Setting(n)) for n in CHANNELS]
    defaults = {"early": DEFAULT_EARLY_WEIGHTS, "late": DEFAULT_WEIGHTS}
    for kind in ("early", "late"):
        rows += [(f"{kind} fusion, hand weights", Setting.fused(kind, HAND_WEIGHTS)),
                 (f"{kind} fusion, validated weights", chosen[kind]),
                 (f"{kind} fusion, product defaults", Setting.fused(kind, defaults[kind]))]  # fmt: skip
    rows += [("cnn + spatial (product defaults)", Setting("cnn", spatial=True))] if spatial else []
    print("\nTEST queries (never used to choose anything), every row through Collection.search: "
          + " | ".join(f"task{i + 1} = {t.name}" for i, t in enumerate(tasks)))  # fmt: skip
    print(f"  {'':40s}" + "".join(f"{'task' + str(i + 1):>8s}" for i in range(len(tasks))) + "  ms/query")
    for label, setting in rows:
        on = [t for t in tasks if not setting.spatial or t.kinds[0]]  # spatial: near-duplicates only
        cells = "".join(f"{scorer.mean(t, setting, test=True):8.4f}" if t in on else f"{'-':>8s}" for t in tasks)
        print(f"  {label:40s}{cells}  {scorer.ms(setting):8.0f}", flush=True)
    return rows


def per_edit_rows(task: Task, rows: list[tuple[str, Setting]], scorer: Scorer) -> None:
    """Near-duplicate R@1 per edit on the test photos (the figures of the rows above, broken down)."""
    test = np.flatnonzero(~task.validation)
    kinds = task.kinds[test]
    print(f"\nnear-duplicates, TEST photos only ({len(test)} queries): R@1 per edit")
    print(f"  {'':40s}" + "".join(f"{k:>7s}" for k in EDITS) + "    all")
    for label, setting in rows:
        top1 = scorer.figures(task, setting, test)
        print(f"  {label:40s}" + "".join(f"{top1[kinds == k].mean():7.3f}" for k in EDITS) + f"  {top1.mean():.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=int, default=40, help="COCO-mini photos edited into near-duplicate queries")
    parser.add_argument("--train", type=int, default=3000, help="database images per data set (category part)")
    parser.add_argument("--test", type=int, default=1000, help="query images per data set (category part)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="8 photos, 200 / 40 category images, grid {0, 1/4, 1} one sweep (minutes on 2 cores)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-categories", action="store_true")
    parser.add_argument("--skip-spatial", action="store_true")
    args = parser.parse_args()
    queries, train, test = (8, 200, 40) if args.quick else (args.queries, args.train, args.test)
    grid, sweeps = (QUICK_GRID, 1) if args.quick else (GRID, 2)
    with tempfile.TemporaryDirectory(prefix="descriptors-") as tmp:
        work = Path(tmp)
        nd = near_duplicate_task(work, queries, args.seed)
        tasks = [nd]
        if not args.skip_categories:
            tasks += [category_task(work, name, train, test, args.seed) for name in ("cifar10", "fmnist")]
        scorer = Scorer()
        try:
            chosen = {kind: choose_weights(tasks, kind, scorer, grid, sweeps) for kind in ("early", "late")}
            rows = test_rows(tasks, chosen, scorer, not args.skip_spatial)
            per_edit_rows(nd, rows, scorer)
        finally:
            for task in tasks:
                task.coll.close()


if __name__ == "__main__":
    main()
