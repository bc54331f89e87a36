"""Class-level retrieval on Fashion-MNIST: raw pixels vs off-the-shelf CNN descriptors vs metric learning.

Protocol: 1,000 test images (seeded draw) query a database of training images; relevant = same class; mAP over
the full ranking (inner product of L2-normalised vectors, ties broken by database order). A second protocol
tests generalisation to unseen classes: the metric is learned on training classes 0–4 only, and queries from
classes 5–9 rank the database images of classes 5–9.

Honest selection: a seeded validation set of training images (``--val-queries``, 1,000 by default) is held out
from everything else — no metric is trained on it and it is not in the database. Every row is scored twice on
the SAME database (``--db`` seeded training images, 20,000 by default, for every row — the off-the-shelf CNN is
slow on 2 CPU cores): with the validation queries and with the test queries. Which learned configuration (loss,
output, ± PCA) and which off-the-shelf variant (± PCA / PCA-whitening) are "the" result is decided on the
validation mAP only; the summary prints the test mAP of those chosen rows, and the list above it prints every
row tried. The test queries choose nothing. (For the unseen protocol the validation queries are held-out training
images of classes 5–9: they pick among the rows with labels the metric never trained on, not with test images.)

Metric-learned rows, two kinds:

- the bundled Lite0 with its last blocks fine-tuned (``mmir train metric --train-blocks N``) on the fit classes'
  database images; its frozen trunk runs once (activations cached with ``--shelf-cache``), so there is no
  augmentation. Default: multi-similarity loss, AdamW lr 1e-4, 2 epochs, then the weight-space average with the
  pretrained tail (WiSE-FT, Wortsman et al. 2022; α = 0.5 fixed beforehand, the paper's choice); rows with α = 1
  show the plain fine-tuned tail;
- the VGG-style net of ``benchmarks/fashion_mnist.py`` (width 16 by default, a linear 128-d head, L2-normalised)
  trained from scratch on the 28 px training images of the fit classes (all but the validation images), with
  that benchmark's recipe (crop/flip/erasing, warm-up then cosine); all-classes default: ArcFace (Deng et al.
  2019), SGD, 15 epochs.

Each row says its loss, optimiser and epochs. No test image is used for training or model selection. The summary
chooses the best `mmir train metric` row (head or fine-tuned blocks: what the command itself reaches) and the best
from-scratch CNN row (which `mmir train metric` cannot train) separately; the goals are judged on the former.

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

from fmnist_scoring import Board, Kind, Split, Vectors, pick_queries
from fmnist_shelf import ShelfLite0
from mmir.learn.augment import augment as augment_batch
from mmir.learn.finetune import interpolate_weights
from mmir.learn.idx import IdxDataset, load_fashion_mnist
from mmir.learn.metric import (
    EpochStats,
    MetricConfig,
    MetricLoss,
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

    loss: MetricLoss
    miner: MinerKind
    optimizer: OptimizerKind
    lr: float
    epochs: int

    @classmethod
    def parse(cls, text: str) -> LossSpec:
        """``loss:miner:optimizer:lr:epochs``, e.g. ``normsoftmax:all:sgd:0.1:15``."""
        try:
            loss, miner, optimizer, lr, epochs = text.split(":")
            return cls(MetricLoss(loss), MinerKind(miner), OptimizerKind(optimizer), float(lr), int(epochs))
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
    board: Board, name: str, kind: Kind, vectors: Vectors, elapsed: float, args: argparse.Namespace
) -> None:
    """Score a descriptor as is, and after PCA and PCA-whitening learned (unsupervised) on the database."""
    board.score(name, kind, vectors, elapsed)
    if args.pca_dim <= 0:
        return
    for whiten in (False, True):
        # Learned on the database itself (unsupervised), as `mmir index --pca` does on the collection.
        start = time.perf_counter()
        pca = PCAWhitening.fit(vectors.db, dim=args.pca_dim, whiten=whiten, shrinkage=args.shrinkage)
        label = f"{name} + {'PCA-whitening' if whiten else 'PCA'} {args.pca_dim}"
        board.score(label, kind, vectors.map(pca.transform), elapsed + time.perf_counter() - start)


def run_protocol(
    title: str,
    train: IdxDataset,
    test: IdxDataset,
    split: Split,
    fit_classes: range,
    features: dict[str, tuple[Kind, Callable[[], tuple[np.ndarray, np.ndarray]]]],
    losses: list[LossSpec],
    args: argparse.Namespace,
) -> None:
    print(
        f"\n{title}\n  {len(split.q_index)} test queries, {len(split.val_index)} validation queries (held-out "
        f"training images), database of {len(split.db_index)} training images — the same for every row",
        flush=True,
    )
    board = Board(split, train.labels, test.labels)
    in_fit = np.isin(train.labels, list(fit_classes))
    for name, (kind, make) in features.items():
        start = time.perf_counter()
        q_all, train_all = make()  # indexed like the test and training image arrays
        vectors = Vectors(q_all[split.q_index], train_all[split.val_index], train_all[split.db_index])
        score_features(board, name, kind, vectors, time.perf_counter() - start, args)
        if kind is Kind.SHELF:
            # The product's paths (`mmir train metric`), trained on the fit classes' database images (the only
            # training images with off-the-shelf descriptors).
            fit = args.db_idx[in_fit[args.db_idx]]
            head_row(board, name, train_all, fit, train.labels, vectors, len(fit_classes), args)
            for spec in args.finetune_loss if args.finetune_blocks > 0 else []:
                finetune_row(board, spec, fit, split, len(fit_classes), train, args)
    cnn_fit = args.cnn_pool[in_fit[args.cnn_pool]]
    if args.untrained_control and losses:
        # Control: the same architecture with its seeded random initialisation, to show what training adds.
        torch.manual_seed(args.seed)
        net = embedding_net(args.width, args.dim)
        outputs = {
            f"{4 * args.width}-d trunk GAP": net.features,
            f"{18 * args.width}-d mid-level 3x3": MidSpatial(net.features),
        }
        score_cnn(board, "untrained CNN", "random init", Kind.CONTROL, outputs, train, test, split, 0.0, args)
    for spec in losses:
        cnn_row(board, spec, cnn_fit, len(fit_classes), train, test, split, args)
    board.summarise("seen" if len(fit_classes) == 10 else "unseen")


def head_row(
    board: Board,
    name: str,
    train_all: np.ndarray,
    fit: np.ndarray,
    labels: np.ndarray,
    vectors: Vectors,
    classes: int,
    args: argparse.Namespace,
) -> None:
    """A projection head (`mmir train metric`) on the frozen off-the-shelf descriptors."""
    spec = LossSpec(MetricLoss.TRIPLET, MinerKind.SEMIHARD, OptimizerKind.ADAMW, 2e-3, args.head_epochs)
    config = metric_config(spec, classes, args, augmented=False)
    start = time.perf_counter()
    head, _ = train_head(train_all[fit], labels[fit], config, out_dim=256, hidden=1024, progress=False)
    label = f"{name} + metric head (triplet, semihard, {args.head_epochs} ep)"
    board.score(label, Kind.LEARNED, vectors.map(head.project), time.perf_counter() - start)


def cnn_row(
    board: Board,
    spec: LossSpec,
    fit: np.ndarray,
    classes: int,
    train: IdxDataset,
    test: IdxDataset,
    split: Split,
    args: argparse.Namespace,
) -> None:
    """Train the small CNN from scratch with ``spec`` on ``fit`` and score its outputs."""
    config = metric_config(spec, classes, args)
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
    outputs: dict[str, nn.Module] = {
        f"{args.dim}-d embedding": net,
        f"{4 * args.width}-d trunk GAP": net.features,
        f"{18 * args.width}-d mid-level 3x3": MidSpatial(net.features),
    }
    if args.save_dir is not None:
        args.save_dir.mkdir(parents=True, exist_ok=True)
        torch.save(net.state_dict(), args.save_dir / f"{spec.loss.value}-{classes}cls-w{args.width}.pt")
    score_cnn(board, "metric-learned CNN", spec.label(), Kind.SCRATCH, outputs, train, test, split, seconds, args)
    if spec.loss.uses_proxies and hasattr(history.criterion, "W"):
        proxies = history.criterion.W  # pml's softmax-type proxy losses keep their proxies in W [E, C]
        posterior = {f"{classes}-d proxy posterior": ProxyPosterior(net, proxies, args.temperature)}
        score_cnn(board, "metric-learned CNN", spec.label(), Kind.POSTERIOR, posterior, train, test, split, 0, args)


def finetune_row(
    board: Board,
    spec: LossSpec,
    fit: np.ndarray,
    split: Split,
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
        vectors = Vectors(
            net.descriptors(mixed, q_table[split.q_index]),
            net.descriptors(mixed, db_table[split.val_index]),
            net.descriptors(mixed, db_table[split.db_index]),
        )
        label = f"{what}{'' if alpha == 1 else f', WiSE-FT α {alpha:g}'})"
        score_features(board, label, Kind.LEARNED, vectors, seconds, args)


def score_cnn(
    board: Board,
    name: str,
    how: str,
    kind: Kind,
    outputs: dict[str, nn.Module],
    train: IdxDataset,
    test: IdxDataset,
    split: Split,
    seconds: float,
    args: argparse.Namespace,
) -> None:
    """Score each output of a CNN, as is and (like the baselines) after PCA learned on the database."""
    for what, module in outputs.items():
        vectors = Vectors(
            embed(module, to_tensor(test.images[split.q_index])),
            embed(module, to_tensor(train.images[split.val_index])),
            embed(module, to_tensor(train.images[split.db_index])),
        )
        board.score(f"{name} {what} ({how})", kind, vectors, seconds)
        if vectors.db.shape[1] > 32:  # PCA learned (unsupervised) on the database, as for the baselines
            pca = PCAWhitening.fit(vectors.db, dim=min(args.pca_dim, vectors.db.shape[1]), whiten=False)
            board.score(f"{name} {what} + PCA ({how})", kind, vectors.map(pca.transform), seconds)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--quick", action="store_true", help="5k training images, 2k database, 200+200 queries, short epochs"
    )
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
    parser.add_argument("--queries", type=int, default=1000, help="test queries")
    parser.add_argument("--val-queries", type=int, default=1000, help="held-out training images that choose rows")
    parser.add_argument("--db", type=int, default=20000, help="database size, the same for every row (0: all)")
    parser.add_argument("--shelf-cache", type=Path, default=None, help="folder caching off-the-shelf activations")
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
    return parser.parse_args()


def draw_splits(train: IdxDataset, test: IdxDataset, args: argparse.Namespace) -> tuple[Split, Split]:
    """Validation queries, database and CNN training pool (set on ``args``), and the two protocols' splits.

    The validation images are drawn first and kept out of both the database and every training set.
    """
    rng = np.random.default_rng(args.seed + 1)
    pool = np.arange(len(train.labels))
    if args.quick:
        pool = np.sort(rng.choice(pool, 5000, replace=False))
    val_idx = np.sort(rng.choice(pool, args.val_queries, replace=False))
    rest = np.setdiff1d(pool, val_idx)
    db_idx = rest if not 0 < args.db < len(rest) else np.sort(rng.choice(rest, args.db, replace=False))
    args.cnn_pool, args.db_idx = rest, db_idx
    args.shelf_idx = np.union1d(db_idx, val_idx)  # training images that need off-the-shelf descriptors
    seen = Split(pick_queries(test.labels, range(10), args.queries, args.seed), val_idx, db_idx)
    unseen = Split(
        pick_queries(test.labels, range(5, 10), args.queries, args.seed),
        val_idx[train.labels[val_idx] >= 5],
        db_idx[train.labels[db_idx] >= 5],
    )
    return seen, unseen


def make_features(
    train: IdxDataset, test: IdxDataset, splits: list[Split], args: argparse.Namespace
) -> dict[str, tuple[Kind, Callable[[], tuple[np.ndarray, np.ndarray]]]]:
    """The baseline descriptors, each computed once on first use (arrays indexed like the image arrays)."""
    cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def pixels() -> tuple[np.ndarray, np.ndarray]:
        if "px" not in cache:
            cache["px"] = (raw_pixels(test.images), raw_pixels(train.images))
        return cache["px"]

    def shelf() -> tuple[np.ndarray, np.ndarray]:
        if "cnn" not in cache:
            needed = np.unique(np.concatenate([s.q_index for s in splits])).astype(np.int64)
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

    if args.cnn_only:
        return {}
    return {"raw pixels (784-d)": (Kind.PIXELS, pixels), "off-the-shelf Lite0 GeM (1280-d)": (Kind.SHELF, shelf)}


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    train, test = load_fashion_mnist("train"), load_fashion_mnist("test")
    args.batches = None
    args.finetune_loss = args.finetune_loss or [LossSpec.parse("multisimilarity:multisimilarity:adamw:0.0001:2")]
    seen_losses = args.seen_loss or [LossSpec.parse("arcface:all:sgd:0.1:15")]
    unseen_losses = args.unseen_loss or [LossSpec.parse("multisimilarity:multisimilarity:adamw:0.001:2")]
    if args.quick:
        args.queries, args.val_queries, args.head_epochs, args.batches, args.db = 200, 200, 2, 40, 2000
        seen_losses = [LossSpec(s.loss, s.miner, s.optimizer, s.lr, 1) for s in seen_losses]
        unseen_losses = [LossSpec(s.loss, s.miner, s.optimizer, s.lr, 1) for s in unseen_losses]
    seen, unseen = draw_splits(train, test, args)
    print(
        f"Fashion-MNIST class-level retrieval: {args.queries} test queries and {len(seen.val_index)} validation "
        f"queries (held-out training images) vs a database of {len(seen.db_index)} training images for EVERY row; "
        f"mAP over the full ranking; rows are chosen on the validation mAP; off-the-shelf = EfficientNet-Lite0 GeM "
        f"on images upscaled 28→{args.size} px (ImageNet weights, no fine-tuning); PCA(-whitening) learned "
        f"(unsupervised) on the database; metric-learned CNN = VGG-style width {args.width}, trained from scratch on "
        f"{len(args.cnn_pool)} non-validation 28 px training images of the fit classes (crop/flip/erasing "
        f"{args.erasing}, batch {args.batch}, warm-up {args.warmup} ep, cosine); seed {args.seed}; torch threads "
        f"{torch.get_num_threads()}",
        flush=True,
    )
    protocols = {"seen": [seen], "unseen": [unseen], "all": [seen, unseen]}[args.protocol]
    features = make_features(train, test, protocols, args)
    if args.protocol in ("all", "seen"):
        title = "All classes (metric learned on all 10 training classes):"
        run_protocol(title, train, test, seen, range(10), features, seen_losses, args)
    if args.protocol in ("all", "unseen"):
        title = "Unseen classes (metric learned on classes 0–4; queries and database from classes 5–9):"
        run_protocol(title, train, test, unseen, range(5), features, unseen_losses, args)


if __name__ == "__main__":
    main()
