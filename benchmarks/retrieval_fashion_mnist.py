"""Class-level retrieval on Fashion-MNIST: raw pixels vs off-the-shelf CNN descriptors vs metric learning.

Protocol: 1,000 test images (seeded draw) query the 60,000 training images; relevant = same class; mAP over
the full ranking (inner product of L2-normalised vectors, ties broken by database order). A second protocol
tests generalisation to unseen classes: the metric is learned on training classes 0–4 only, and queries from
classes 5–9 rank the training images of classes 5–9.

Metric-learned rows, two kinds:

- the bundled Lite0 with its last blocks fine-tuned (``mmir train metric --train-blocks N``) on the fit classes'
  images of the off-the-shelf subset; its frozen trunk runs once (activations cached with ``--shelf-cache``), so
  there is no augmentation. Default: multi-similarity loss, AdamW lr 1e-4, 2 epochs, then the weight-space
  average with the pretrained tail (WiSE-FT, Wortsman et al. 2022; α = 0.5 fixed beforehand, the paper's
  choice); rows with α = 1 show the plain fine-tuned tail. Loss and learning rate were chosen on held-out *seen*
  classes (train on 3 of classes 0–4, validate on the other 2, three folds), not on classes 5–9;
- the VGG-style net of ``benchmarks/fashion_mnist.py`` (width 16 by default, a linear 128-d head, L2-normalised)
  trained from scratch on the 28 px training images of the fit classes, with that benchmark's recipe
  (crop/flip/erasing, warm-up then cosine); all-classes default: ArcFace (Deng et al. 2019), SGD, 15 epochs.

Each row says its loss, optimiser and epochs. Every row prints its database size; off-the-shelf rows use a
seeded database subset (``--shelf-db``) and every other descriptor is also scored on that same subset. No test
image is used for training or model selection.

Run:  python benchmarks/retrieval_fashion_mnist.py [--quick] [--protocol seen|unseen] [--shelf-cache /tmp/shelf]
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fmnist_shelf import ShelfLite0
from mmir.evaluate.retrieval import class_retrieval_map
from mmir.learn.augment import augment as augment_batch
from mmir.learn.finetune import interpolate_weights
from mmir.learn.idx import IdxDataset, load_fashion_mnist
from mmir.learn.metric import (
    EpochStats,
    LossKind,
    MetricConfig,
    MinerKind,
    OptimizerKind,
    embed,
    train_embedding,
    train_head,
)
from mmir.models.convnets import Arch, NetSpec, build_net
from mmir.models.pca import PCAWhitening


@dataclass(frozen=True)
class LossSpec:
    """One metric-learned CNN row: loss, miner, optimiser, learning rate, epochs."""

    loss: LossKind
    miner: MinerKind
    optimizer: OptimizerKind
    lr: float
    epochs: int

    @classmethod
    def parse(cls, text: str) -> LossSpec:
        """``loss:miner:optimizer:lr:epochs``, e.g. ``normsoftmax:all:sgd:0.1:15``."""
        try:
            loss, miner, optimizer, lr, epochs = text.split(":")
            return cls(LossKind(loss), MinerKind(miner), OptimizerKind(optimizer), float(lr), int(epochs))
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{text!r}: expected loss:miner:optimizer:lr:epochs ({exc})") from exc

    def label(self) -> str:
        miner = "" if self.loss.uses_proxies else f", {self.miner.value} miner"
        return f"{self.loss.value}{miner}, {self.optimizer.value} lr {self.lr:g}, {self.epochs} ep"


def embedding_net(width: int, dim: int) -> nn.Module:
    """The VGG-style net of the classification benchmark (BN, 3 stages, GAP) with a linear ``dim``-d head."""
    return build_net(NetSpec(Arch.VGG_SMALL, in_channels=1, num_classes=dim, width=width))


class MidSpatial(nn.Module):
    """The feature map before the last max-pooling, average-pooled to a ``grid × grid`` layout and flattened.

    Keeps where things are (a shoe's sole, a bag's handle), which global pooling throws away.
    """

    def __init__(self, features: nn.Sequential, grid: int = 3) -> None:
        super().__init__()
        pools = [i for i, layer in enumerate(features) if isinstance(layer, nn.MaxPool2d)]
        self.trunk = features[: pools[-1]]
        self.grid = grid

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.adaptive_avg_pool2d(self.trunk(x), self.grid).flatten(1)


class ProxyPosterior(nn.Module):
    """Class posterior from a proxy loss: softmax of cosine similarities to the learned proxies / temperature."""

    def __init__(self, net: nn.Module, proxies: torch.Tensor, temperature: float) -> None:
        super().__init__()
        self.net = net
        self.proxies = F.normalize(proxies.detach(), dim=0)  # [E, C]
        self.temperature = temperature

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(F.normalize(self.net(x), dim=-1) @ self.proxies / self.temperature, dim=-1)


class Augment:
    """Random crop (2 px padding), horizontal flip and random erasing of a normalised batch, seeded."""

    def __init__(self, seed: int, erasing: float) -> None:
        self.gen = torch.Generator().manual_seed(seed)
        self.erasing = erasing

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return augment_batch(x, self.gen, padding=2, flip=True, erasing=self.erasing)


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """``uint8[N, 28, 28]`` -> ``float32[N, 1, 28, 28]`` standardised."""
    return ((torch.from_numpy(images).float() / 255.0 - 0.286) / 0.353).unsqueeze(1)


def raw_pixels(images: np.ndarray) -> np.ndarray:
    """L2-normalised raw pixel vectors ``float32[N, 784]``."""
    flat = images.reshape(len(images), -1).astype(np.float32)
    return flat / np.maximum(np.linalg.norm(flat, axis=1, keepdims=True), 1e-12)


@dataclass(frozen=True)
class Split:
    """Queries and database of one protocol."""

    q_index: np.ndarray
    db_index: np.ndarray


def pick_queries(labels: np.ndarray, classes: range, count: int, seed: int) -> np.ndarray:
    """A seeded draw of ``count`` test indices whose label is in ``classes``."""
    pool = np.flatnonzero(np.isin(labels, list(classes)))
    return np.sort(np.random.default_rng(seed).choice(pool, size=min(count, len(pool)), replace=False))


SCORES: list[tuple[str, float]] = []  # every printed row of the current protocol, for the summary


def score(name: str, q: np.ndarray, ql: np.ndarray, db: np.ndarray, dbl: np.ndarray, seconds: float) -> None:
    start = time.perf_counter()
    value = class_retrieval_map(q, ql, db, dbl)
    SCORES.append((name, value))
    print(f"  {name:<58} mAP {value:.4f}   ({seconds + time.perf_counter() - start:7.1f} s)", flush=True)


def summarise(protocol: str) -> None:
    """Print the goal of the protocol against the rows just scored (proxy posteriors are not descriptors)."""
    learned = [(n, v) for n, v in SCORES if ("metric" in n or "fine-tuned" in n) and "posterior" not in n]
    if not learned:
        return
    if protocol == "seen":
        name, value = max(learned, key=lambda row: row[1])
        verdict = "met" if value >= 0.90 else "NOT met"
        print(f"  goal mAP ≥ 0.90 with metric learning: {verdict} — best learned descriptor {value:.4f}: {name}")
        return
    for pca in (False, True):

        def fits(name: str, pca: bool = pca) -> bool:
            return "db subset" in name and ("+ PCA " in name) == pca and "whitening" not in name

        shelf = [v for n, v in SCORES if n.startswith("off-the-shelf Lite0 GeM") and "head" not in n and fits(n)]
        mine = [(n, v) for n, v in learned if fits(n)]
        if shelf and mine:
            name, value = max(mine, key=lambda row: row[1])
            verdict = "beats" if value > shelf[0] else "does NOT beat"
            print(
                f"  {'with' if pca else 'without'} PCA: best metric-learned {value:.4f} {verdict} off-the-shelf "
                f"{shelf[0]:.4f} — {name}"
            )


def log_epoch(stats: EpochStats) -> None:
    print(
        f"      epoch {stats.epoch}: loss {stats.loss:.4f}, embedding variance {stats.embedding_variance:.3f}",
        flush=True,
    )


def metric_config(
    spec: LossSpec, classes: int, args: argparse.Namespace, augmented: bool = True, batch: int | None = None
) -> MetricConfig:
    """The run's settings; ``augmented`` says whether images are augmented (the self-supervised term needs it)."""
    p = min(classes, 10)
    sgd = spec.optimizer is OptimizerKind.SGD
    return MetricConfig(
        loss=spec.loss,
        miner=spec.miner,
        margin=args.margin,
        epochs=spec.epochs,
        p=p,
        k=(batch or args.batch) // p,
        lr=spec.lr,
        weight_decay=5e-4 if sgd else 1e-4,
        optimizer=spec.optimizer,
        warmup_epochs=args.warmup,
        temperature=args.temperature,
        seed=args.seed,
        batches_per_epoch=args.batches,
        instance_weight=args.instance_weight if augmented else 0.0,
        instance_temperature=args.instance_temperature,
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
    losses: list[LossSpec],
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
            head_spec = LossSpec(LossKind.TRIPLET, MinerKind.SEMIHARD, OptimizerKind.ADAMW, 2e-3, args.head_epochs)
            config = metric_config(head_spec, len(fit_classes), args, augmented=False)
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
            fit_index = np.flatnonzero(head_fit)
            for spec in args.finetune_loss if args.finetune_blocks > 0 else []:
                finetune_row(spec, fit_index, split, ql, db_index, tags[key], len(fit_classes), train, args)
    fit = np.flatnonzero(fit_mask)
    if args.untrained_control and losses:
        # Control: the same architecture with its seeded random initialisation, to show what training adds.
        torch.manual_seed(args.seed)
        net = embedding_net(args.width, args.dim)
        outputs = {
            f"{4 * args.width}-d trunk GAP": net.features,
            f"{18 * args.width}-d mid-level 3x3": MidSpatial(net.features),
        }
        score_cnn("untrained CNN", "random init", outputs, train, test, split, databases, tags, 0.0, args)
    for spec in losses:
        config = metric_config(spec, len(fit_classes), args)
        torch.manual_seed(args.seed)
        net = embedding_net(args.width, args.dim)
        start = time.perf_counter()
        print(f"    training the CNN (width {args.width}) on {len(fit)} images: {spec.label()} ...", flush=True)
        history = train_embedding(
            net,
            to_tensor(train.images[fit]),
            train.labels[fit],
            config,
            augment=Augment(args.seed, args.erasing),
            progress=sys.stderr.isatty(),
            on_epoch=log_epoch,
        )
        seconds = time.perf_counter() - start
        # The embedding; the trunk's pooled features below the head; the mid-level feature map kept in a 3×3
        # layout (more general on unseen classes); for a softmax-type proxy loss, the class posterior.
        outputs = {
            f"{args.dim}-d embedding": net,
            f"{4 * args.width}-d trunk GAP": net.features,
            f"{18 * args.width}-d mid-level 3x3": MidSpatial(net.features),
        }
        if args.save_dir is not None:
            args.save_dir.mkdir(parents=True, exist_ok=True)
            torch.save(net.state_dict(), args.save_dir / f"{spec.loss.value}-{len(fit_classes)}cls-w{args.width}.pt")
        if spec.loss.uses_proxies and hasattr(history.criterion, "W"):
            proxies = history.criterion.W  # pml's softmax-type proxy losses keep their proxies in W [E, C]
            outputs[f"{len(fit_classes)}-d proxy posterior"] = ProxyPosterior(net, proxies, args.temperature)
        score_cnn("metric-learned CNN", spec.label(), outputs, train, test, split, databases, tags, seconds, args)


def finetune_row(
    spec: LossSpec,
    fit: np.ndarray,
    split: Split,
    ql: np.ndarray,
    db_index: np.ndarray,
    tag: str,
    classes: int,
    train: IdxDataset,
    args: argparse.Namespace,
) -> None:
    """The product's second path (`mmir train metric --train-blocks N`): Lite0's last blocks fine-tuned on the
    fit classes' images (trunk activations computed once; no augmentation), scored as is and after PCA."""
    net, q_table, db_table = args.shelf_net
    tail = copy.deepcopy(net.tail)
    start = time.perf_counter()
    config = metric_config(spec, classes, args, augmented=False, batch=args.finetune_batch)
    history = train_embedding(tail, db_table[fit], train.labels[fit], config, progress=False, on_epoch=log_epoch)
    seconds = time.perf_counter() - start
    print(f"      GeM p learned: {float(tail.pool.p.detach()):.2f}; {len(history.epochs)} epochs on {len(fit)} images")
    what = f"off-the-shelf Lite0 + last {args.finetune_blocks} blocks fine-tuned ({spec.label()}"
    for alpha in sorted({1.0, args.alpha}, reverse=True):
        # alpha < 1: the weight-space average with the pretrained tail (WiSE-FT), what `mmir train metric` writes.
        mixed = copy.deepcopy(tail)
        interpolate_weights(net.tail, mixed, alpha)
        q = net.descriptors(mixed, q_table[split.q_index])
        db = net.descriptors(mixed, db_table[db_index])
        label = f"{what}{'' if alpha == 1 else f', WiSE-FT α {alpha:g}'}) [{tag}]"
        score_features(label, q, db, ql, train.labels[db_index], seconds, args)


def score_cnn(
    name: str,
    how: str,
    outputs: dict[str, nn.Module],
    train: IdxDataset,
    test: IdxDataset,
    split: Split,
    databases: dict[str, np.ndarray],
    tags: dict[str, str],
    seconds: float,
    args: argparse.Namespace,
) -> None:
    """Score each output of a CNN on every database, as is and (like the baselines) after PCA on that database."""
    ql = test.labels[split.q_index]
    for what, module in outputs.items():
        q = embed(module, to_tensor(test.images[split.q_index]))
        db = embed(module, to_tensor(train.images))
        for key, db_index in databases.items():
            dbl = train.labels[db_index]
            score(f"{name} {what} ({how}) [{tags[key]}]", q, ql, db[db_index], dbl, seconds)
            if q.shape[1] > 32:  # PCA learned (unsupervised) on this database, as for the baselines
                pca = PCAWhitening.fit(db[db_index], dim=min(args.pca_dim, q.shape[1]), whiten=False)
                label = f"{name} {what} + PCA ({how}) [{tags[key]}]"
                score(label, pca.transform(q), ql, pca.transform(db[db_index]), dbl, seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="5k database, 200 queries, short epochs: a smoke test")
    parser.add_argument(
        "--seen-loss",
        type=LossSpec.parse,
        action="append",
        help="CNN row(s) of the all-classes protocol, loss:miner:optimizer:lr:epochs (default arcface:all:sgd:0.1:15)",
    )
    parser.add_argument(
        "--unseen-loss",
        type=LossSpec.parse,
        action="append",
        help="CNN row(s) of the unseen-class protocol (default multisimilarity:multisimilarity:adamw:0.001:2)",
    )
    parser.add_argument(
        "--finetune-loss",
        type=LossSpec.parse,
        action="append",
        help="row(s) fine-tuning Lite0's last blocks, loss:miner:optimizer:lr:epochs "
        "(default multisimilarity:multisimilarity:adamw:0.0001:2)",
    )
    parser.add_argument("--alpha", type=float, default=0.5, help="WiSE-FT weight of the fine-tuned tail")
    parser.add_argument("--finetune-batch", type=int, default=100, help="P×K batch of the fine-tuning rows")
    parser.add_argument("--finetune-blocks", type=int, default=5, help="Lite0 blocks fine-tuned (0: no such row)")
    parser.add_argument("--head-epochs", type=int, default=10, help="epochs of the head on frozen descriptors")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument(
        "--shelf-db", type=int, default=20000, help="database subset for the off-the-shelf rows (0: all)"
    )
    parser.add_argument("--shelf-cache", type=Path, default=None, help="folder caching off-the-shelf descriptors")
    parser.add_argument("--size", type=int, default=64, help="upscale for the off-the-shelf CNN (px)")
    parser.add_argument("--pca-dim", type=int, default=256)
    parser.add_argument("--shrinkage", type=float, default=0.1, help="PCA-whitening shrinkage towards isotropy")
    parser.add_argument("--margin", type=float, default=0.2)
    parser.add_argument("--temperature", type=float, default=0.05, help="normalised-softmax temperature")
    parser.add_argument("--width", type=int, default=16, help="channels of the CNN's first stage")
    parser.add_argument("--dim", type=int, default=128, help="embedding size of the CNN")
    parser.add_argument("--warmup", type=float, default=1.0, help="warm-up epochs of the CNN")
    parser.add_argument(
        "--instance-weight", type=float, default=0.0, help="weight of the self-supervised NT-Xent term (CNN rows)"
    )
    parser.add_argument("--instance-temperature", type=float, default=0.1)
    parser.add_argument("--erasing", type=float, default=0.1, help="random-erasing probability")
    parser.add_argument("--batch", type=int, default=250, help="P×K batch size")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument(
        "--untrained-control", action="store_true", help="also score the randomly initialised CNN (a control)"
    )
    parser.add_argument("--save-dir", type=Path, default=None, help="write each trained CNN's weights here")
    parser.add_argument("--cnn-only", action="store_true", help="only the metric-learned CNN rows (no baselines)")
    parser.add_argument("--protocol", choices=("all", "seen", "unseen"), default="all", help="which protocol(s) to run")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    train, test = load_fashion_mnist("train"), load_fashion_mnist("test")
    args.batches = None
    args.finetune_loss = args.finetune_loss or [LossSpec.parse("multisimilarity:multisimilarity:adamw:0.0001:2")]
    seen_losses = args.seen_loss or [LossSpec.parse("arcface:all:sgd:0.1:15")]
    unseen_losses = args.unseen_loss or [LossSpec.parse("multisimilarity:multisimilarity:adamw:0.001:2")]
    db_all = np.arange(len(train.labels))
    if args.quick:
        args.queries, args.head_epochs, args.batches = 200, 2, 40
        args.shelf_db = 2000
        seen_losses = [LossSpec(s.loss, s.miner, s.optimizer, s.lr, 1) for s in seen_losses]
        unseen_losses = [LossSpec(s.loss, s.miner, s.optimizer, s.lr, 1) for s in unseen_losses]
        db_all = np.sort(np.random.default_rng(args.seed).choice(db_all, 5000, replace=False))
    print(
        f"Fashion-MNIST class-level retrieval: {args.queries} test queries vs {len(db_all)} training images, "
        f"mAP over the full ranking; off-the-shelf = EfficientNet-Lite0 GeM on images upscaled 28→{args.size} px "
        f"(ImageNet weights, no fine-tuning); PCA-whitening learned (unsupervised) on each protocol's database; "
        f"metric-learned CNN = VGG-style width {args.width}, trained from scratch on 28 px training images of the "
        f"fit classes only (crop/flip/erasing {args.erasing}, batch {args.batch}, warm-up {args.warmup} ep, cosine); "
        f"seed {args.seed}; torch threads {torch.get_num_threads()}",
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
            net = ShelfLite0(args.finetune_blocks, args.size, args.shelf_cache)
            q_acts = net.activations("test", test.images, needed)
            db_acts = net.activations("train", train.images, args.shelf_idx)
            q = np.zeros((len(test.labels), 1280), np.float32)
            q[needed] = net.descriptors(net.tail, q_acts)
            db = np.zeros((len(train.labels), 1280), np.float32)
            db[args.shelf_idx] = net.descriptors(net.tail, db_acts)
            cache["cnn"] = (q, db)
            # Full-size activation tables (zero rows where unused), indexed like the image arrays.
            q_table = torch.zeros((len(test.labels), *q_acts.shape[1:]))
            q_table[needed] = q_acts
            db_table = torch.zeros((len(train.labels), *db_acts.shape[1:]))
            db_table[args.shelf_idx] = db_acts
            args.shelf_net = (net, q_table, db_table)
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
    if args.protocol in ("all", "seen"):
        title = "All classes (metric learned on all 10 training classes):"
        SCORES.clear()
        run_protocol(title, train, test, seen, range(10), features, seen_losses, args)
        summarise("seen")
    if args.protocol in ("all", "unseen"):
        title = "Unseen classes (metric learned on classes 0–4; queries and database from classes 5–9):"
        SCORES.clear()
        run_protocol(title, train, test, unseen, range(5), features, unseen_losses, args)
        summarise("unseen")


if __name__ == "__main__":
    main()
