"""Class-level retrieval on Fashion-MNIST: raw pixels vs off-the-shelf CNN descriptors vs metric learning.

Protocol: 1,000 test images (seeded draw) query the 60,000 training images; relevant = same class; mAP over
the full ranking (inner product of L2-normalised vectors, ties broken by database order). A second protocol
tests generalisation to unseen classes: the metric is learned on training classes 0–4 only, and queries from
classes 5–9 rank the training images of classes 5–9.

Run:  python benchmarks/retrieval_fashion_mnist.py [--quick]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from mmir.evaluate.retrieval import class_retrieval_map
from mmir.learn.idx import IdxDataset, load_fashion_mnist
from mmir.learn.metric import (
    EpochStats,
    LossKind,
    MetricConfig,
    MinerKind,
    embed,
    train_embedding,
    train_head,
)
from mmir.models.pca import PCAWhitening


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class SmallEmbeddingNet(nn.Module):
    """A compact VGG-style net with BN for 28×28 greyscale: ``[B, 1, 28, 28] -> [B, dim]``."""

    def __init__(self, dim: int = 128) -> None:
        super().__init__()
        self.features = nn.Sequential(
            _block(1, 32),
            nn.MaxPool2d(2),
            _block(32, 64),
            _block(64, 64),
            nn.MaxPool2d(2),
            _block(64, 128),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.head = nn.Linear(128, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))  # type: ignore[no-any-return]


def augment(x: torch.Tensor) -> torch.Tensor:
    """Random horizontal flips and ±2 px shifts of a ``[B, 1, 28, 28]`` batch (garments are left-right symmetric)."""
    flip = torch.rand(x.shape[0]) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    dy, dx = (int(v) for v in torch.randint(-2, 3, (2,)))
    return torch.roll(x, shifts=(dy, dx), dims=(-2, -1))


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """``uint8[N, 28, 28]`` -> ``float32[N, 1, 28, 28]`` standardised."""
    return ((torch.from_numpy(images).float() / 255.0 - 0.286) / 0.353).unsqueeze(1)


def raw_pixels(images: np.ndarray) -> np.ndarray:
    """L2-normalised raw pixel vectors ``float32[N, 784]``."""
    flat = images.reshape(len(images), -1).astype(np.float32)
    return flat / np.maximum(np.linalg.norm(flat, axis=1, keepdims=True), 1e-12)


def off_the_shelf(images: np.ndarray, size: int, batch: int = 256) -> np.ndarray:
    """EfficientNet-Lite0 GeM descriptors ``float32[N, 1280]`` of the images upscaled to ``size`` px."""
    from mmir.models import get_encoder

    encoder = get_encoder("efficientnet-lite0", pooling="gem")
    out = []
    for start in tqdm(
        range(0, len(images), batch), desc=f"Lite0 GeM @{size}px", leave=False, disable=not sys.stderr.isatty()
    ):
        x = torch.from_numpy(images[start : start + batch]).float().div(255.0).unsqueeze(1)
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        x = (x.expand(-1, 3, -1, -1) - 0.5) / 0.5  # the Lite weights' normalisation (mean = std = 0.5)
        out.append(encoder.encode_tensor(x).descriptors)
    return np.concatenate(out)


@dataclass(frozen=True)
class Split:
    """Queries and database of one protocol."""

    q_index: np.ndarray
    db_index: np.ndarray


def pick_queries(labels: np.ndarray, classes: range, count: int, seed: int) -> np.ndarray:
    """A seeded draw of ``count`` test indices whose label is in ``classes``."""
    pool = np.flatnonzero(np.isin(labels, list(classes)))
    return np.sort(np.random.default_rng(seed).choice(pool, size=min(count, len(pool)), replace=False))


def score(name: str, q: np.ndarray, ql: np.ndarray, db: np.ndarray, dbl: np.ndarray, seconds: float) -> None:
    start = time.perf_counter()
    value = class_retrieval_map(q, ql, db, dbl)
    print(f"  {name:<58} mAP {value:.4f}   ({seconds + time.perf_counter() - start:7.1f} s)", flush=True)


def log_epoch(stats: EpochStats) -> None:
    print(
        f"      epoch {stats.epoch}: loss {stats.loss:.4f}, embedding variance {stats.embedding_variance:.3f}",
        flush=True,
    )


def metric_config(
    loss: LossKind, miner: MinerKind, classes: int, epochs: int, args: argparse.Namespace
) -> MetricConfig:
    p = min(classes, 10)
    return MetricConfig(
        loss=loss,
        miner=miner,
        margin=args.margin,
        epochs=epochs,
        p=p,
        k=args.batch // p,
        lr=args.lr,
        seed=args.seed,
        batches_per_epoch=args.batches,
    )


def score_features(
    name: str, q: np.ndarray, db: np.ndarray, ql: np.ndarray, dbl: np.ndarray, elapsed: float, args: argparse.Namespace
) -> None:
    score(name, q, ql, db, dbl, elapsed)
    if args.pca_dim <= 0:
        return
    for whiten in (False, True):
        # Learned on the database itself (unsupervised), as `mmir index --pca` does on the collection.
        start = time.perf_counter()
        pca = PCAWhitening.fit(db, dim=args.pca_dim, whiten=whiten, shrinkage=args.shrinkage)
        label = f"{name} + {'PCA-whitening' if whiten else 'PCA'} {args.pca_dim}"
        score(label, pca.transform(q), ql, pca.transform(db), dbl, elapsed + time.perf_counter() - start)


def run_protocol(
    title: str,
    train: IdxDataset,
    test: IdxDataset,
    split: Split,
    fit_classes: range,
    features: dict[str, Callable[[], tuple[np.ndarray, np.ndarray]]],
    args: argparse.Namespace,
) -> None:
    print(f"\n{title}", flush=True)
    ql = test.labels[split.q_index]
    # The off-the-shelf CNN is slow on 2 CPU cores: its rows use a seeded database subset (--shelf-db),
    # and the other descriptors are scored on that same subset too, for a side-by-side comparison.
    subset = np.intersect1d(split.db_index, args.shelf_idx)
    databases = (
        {"full": split.db_index} if len(subset) == len(split.db_index) else {"full": split.db_index, "sub": subset}
    )
    tags = {"full": f"db {len(split.db_index)}", "sub": f"db subset {len(subset)}"}
    # Training data for the metric: the fit classes, within the database sample (all 60k unless --quick).
    fit_mask = np.isin(train.labels, list(fit_classes)) & np.isin(np.arange(len(train.labels)), args.db_all)
    for name, make in features.items():
        start = time.perf_counter()
        q, db = make()
        elapsed = time.perf_counter() - start
        shelf = name.startswith("off-the-shelf")
        for key, db_index in databases.items():
            if shelf and key == "full" and "sub" in databases:
                continue
            label = f"{name} [{tags[key]}]"
            score_features(label, q[split.q_index], db[db_index], ql, train.labels[db_index], elapsed, args)
        if shelf:
            # The product's path (`mmir train metric`): a projection head on the frozen descriptors.
            key = "sub" if "sub" in databases else "full"
            db_index = databases[key]
            head_fit = fit_mask & np.isin(np.arange(len(train.labels)), args.shelf_idx)
            config = metric_config(LossKind.TRIPLET, MinerKind.SEMIHARD, len(fit_classes), args.head_epochs, args)
            start = time.perf_counter()
            head, _ = train_head(db[head_fit], train.labels[head_fit], config, out_dim=256, hidden=1024, progress=False)
            label = f"{name} + metric head (triplet, semihard, {args.head_epochs} ep) [{tags[key]}]"
            score(
                label,
                head.project(q[split.q_index]),
                ql,
                head.project(db[db_index]),
                train.labels[db_index],
                time.perf_counter() - start,
            )
    for loss, miner in args.losses:
        config = metric_config(loss, miner, len(fit_classes), args.epochs, args)
        torch.manual_seed(args.seed)
        net = SmallEmbeddingNet()
        start = time.perf_counter()
        print(f"    training the CNN with {loss.value} loss, {miner.value} miner ...", flush=True)
        train_embedding(
            net,
            to_tensor(train.images[fit_mask]),
            train.labels[fit_mask],
            config,
            augment=augment,
            progress=sys.stderr.isatty(),
            on_epoch=log_epoch,
        )
        q = embed(net, to_tensor(test.images[split.q_index]))
        db = embed(net, to_tensor(train.images))
        for key, db_index in databases.items():
            label = f"metric-learned CNN 128-d ({loss.value}, {miner.value}, {args.epochs} ep) [{tags[key]}]"
            score(label, q, ql, db[db_index], train.labels[db_index], time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="5k database, 200 queries, 1 short epoch: a smoke test")
    parser.add_argument("--epochs", type=int, default=5, help="epochs of the CNN trained from scratch")
    parser.add_argument("--head-epochs", type=int, default=10, help="epochs of the head on frozen descriptors")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument(
        "--shelf-db", type=int, default=20000, help="database subset for the off-the-shelf rows (0: all)"
    )
    parser.add_argument("--size", type=int, default=64, help="upscale for the off-the-shelf CNN (px)")
    parser.add_argument("--pca-dim", type=int, default=256)
    parser.add_argument("--shrinkage", type=float, default=0.1, help="PCA-whitening shrinkage towards isotropy")
    parser.add_argument("--margin", type=float, default=0.2)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--batch", type=int, default=200, help="P×K batch size")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cnn-only", action="store_true", help="only the metric-learned CNN rows (no baselines)")
    parser.add_argument("--protocol", choices=("all", "seen", "unseen"), default="all", help="which protocol(s) to run")
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    train, test = load_fashion_mnist("train"), load_fashion_mnist("test")
    args.batches = None
    args.losses = [(LossKind.MULTI_SIMILARITY, MinerKind.MULTI_SIMILARITY), (LossKind.TRIPLET, MinerKind.SEMIHARD)]
    db_all = np.arange(len(train.labels))
    if args.quick:
        args.queries, args.epochs, args.head_epochs, args.batches = 200, 1, 2, 40
        args.losses, args.shelf_db = args.losses[:1], 2000
        db_all = np.sort(np.random.default_rng(args.seed).choice(db_all, 5000, replace=False))
    print(
        f"Fashion-MNIST class-level retrieval: {args.queries} test queries vs {len(db_all)} training images, "
        f"mAP over the full ranking; off-the-shelf = EfficientNet-Lite0 GeM on images upscaled 28→{args.size} px "
        f"(ImageNet weights, no fine-tuning); PCA-whitening learned (unsupervised) on each protocol's database; "
        f"torch threads "
        f"{torch.get_num_threads()}",
        flush=True,
    )
    cache: dict[str, tuple] = {}

    def pixels() -> tuple:
        if "px" not in cache:
            cache["px"] = (raw_pixels(test.images), raw_pixels(train.images))
        return cache["px"]

    def shelf() -> tuple:
        if "cnn" not in cache:
            needed = np.union1d(
                pick_queries(test.labels, range(10), args.queries, args.seed) if args.protocol != "unseen" else [],
                pick_queries(test.labels, range(5, 10), args.queries, args.seed) if args.protocol != "seen" else [],
            ).astype(np.int64)
            q = np.zeros((len(test.labels), 1280), np.float32)
            q[needed] = off_the_shelf(test.images[needed], args.size)
            db = np.zeros((len(train.labels), 1280), np.float32)
            db[args.shelf_idx] = off_the_shelf(train.images[args.shelf_idx], args.size)
            cache["cnn"] = (q, db)
        return cache["cnn"]

    args.db_all = db_all
    args.shelf_idx = db_all
    if 0 < args.shelf_db < len(db_all):
        args.shelf_idx = np.sort(np.random.default_rng(args.seed + 1).choice(db_all, args.shelf_db, replace=False))
    features = {"raw pixels (784-d)": pixels, "off-the-shelf Lite0 GeM (1280-d)": shelf}
    if args.cnn_only:
        features = {}
    seen = Split(pick_queries(test.labels, range(10), args.queries, args.seed), db_all)
    unseen_db = db_all[train.labels[db_all] >= 5]
    unseen = Split(pick_queries(test.labels, range(5, 10), args.queries, args.seed), unseen_db)
    # Multi-similarity first (our best), then the unseen-class protocol, then the triplet loss of the lecture.
    losses = args.losses
    args.losses = losses[:1]
    if args.protocol in ("all", "seen"):
        title = "All classes (metric learned on all 10 training classes):"
        run_protocol(title, train, test, seen, range(10), features, args)
    if args.protocol in ("all", "unseen"):
        title = "Unseen classes (metric learned on classes 0–4; queries and database from classes 5–9):"
        run_protocol(title, train, test, unseen, range(5), features, args)
    if len(losses) > 1 and args.protocol in ("all", "seen") and not args.cnn_only:
        args.losses = losses[1:]
        run_protocol("All classes, triplet loss (semi-hard mining):", train, test, seen, range(10), {}, args)


if __name__ == "__main__":
    main()
