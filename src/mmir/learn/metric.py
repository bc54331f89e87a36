"""Metric learning: siamese (contrastive), triplet, multi-similarity and proxy losses, through pytorch-metric-learning.

Two uses: a projection head trained on frozen descriptors (fast on CPU; its result is a model entry the index
uses, see :mod:`mmir.models.model_dir`), and any small embedding network trained end to end (the Fashion-MNIST
benchmark). Training watches for collapse (every item mapped to one point), the classic failure of triplet
training with a too-large learning rate or too-hard negatives, and stops with a clear message.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from mmir.errors import MmirError
from mmir.learn.collapse import CollapseError, detect_collapse, embedding_variance
from mmir.learn.sampler import PKSampler
from mmir.learn.schedule import build_scheduler
from mmir.models.heads import ProjectionHead


class MetricLoss(str, enum.Enum):
    """The metric-learning objective."""

    TRIPLET = "triplet"
    CONTRASTIVE = "contrastive"
    MULTI_SIMILARITY = "multisimilarity"
    # Proxy losses: one learned vector per class; they ignore the miner and need every label in 0..C-1.
    NORMALIZED_SOFTMAX = "normsoftmax"  # Zhai & Wu 2019: softmax over cosine similarities to the proxies / T
    PROXY_ANCHOR = "proxyanchor"  # Kim et al. 2020
    # Margin softmax losses: the true class's cosine is penalised, which pulls each class tight around its proxy.
    COSFACE = "cosface"  # Wang et al. 2018: cos θ - m, m = 0.35
    ARCFACE = "arcface"  # Deng et al. 2019: cos(θ + m), m = 0.5 rad

    @property
    def uses_proxies(self) -> bool:
        """Whether the loss owns learnable class proxies (and so must be optimised with the model)."""
        return self in (MetricLoss.NORMALIZED_SOFTMAX, MetricLoss.PROXY_ANCHOR, MetricLoss.COSFACE, MetricLoss.ARCFACE)


class OptimizerKind(str, enum.Enum):
    """The optimiser of a metric-learning run."""

    ADAMW = "adamw"
    SGD = "sgd"  # SGD with Nesterov momentum 0.9 (the classification recipe)


class MinerKind(str, enum.Enum):
    """Which pairs/triplets of a batch feed the loss."""

    ALL = "all"
    SEMIHARD = "semihard"
    HARD = "hard"  # batch-hard (Hermans et al. 2017): hardest positive and negative per anchor
    MULTI_SIMILARITY = "multisimilarity"


@dataclass(frozen=True)
class MetricConfig:
    """Hyper-parameters of a metric-learning run.

    Attributes:
        loss: Objective. ``margin`` is the triplet margin, or the negative margin of the contrastive loss.
        miner: Mining strategy inside each P×K batch.
        margin: Margin on Euclidean distances between L2-normalised embeddings (range 0–2).
        epochs: Passes over the data (each ``batches_per_epoch`` P×K batches).
        p: Classes per batch.
        k: Items per class per batch.
        lr: Peak learning rate (cosine decay to 0, after ``warmup_epochs`` of linear warm-up).
        weight_decay: Weight decay of the model's parameters (never of the proxies).
        optimizer: AdamW, or SGD with Nesterov momentum.
        warmup_epochs: Linear warm-up length in epochs (may be fractional; 0 disables it).
        temperature: Softmax temperature of the normalised-softmax loss; 1 / scale of CosFace and ArcFace.
        proxy_lr_factor: Proxies learn this many times faster than the model (proxy losses only).
        batches_per_epoch: Default ``N // (p·k)``.
        seed: Seeds torch and the sampler.
        collapse_variance: Embedding variance (summed over dimensions) below which training is declared collapsed.
        instance_weight: Weight of a self-supervised term (NT-Xent over two augmented views of each image, as in
            SimCLR, Chen et al. 2020) added to the loss; it keeps what tells images apart beyond the training
            classes, which helps on classes never seen in training. 0 disables it; it needs an augmentation.
        instance_temperature: Temperature of that NT-Xent term.
    """

    loss: MetricLoss = MetricLoss.TRIPLET
    miner: MinerKind = MinerKind.SEMIHARD
    margin: float = 0.2
    epochs: int = 10
    p: int = 16
    k: int = 4
    lr: float = 1e-3
    weight_decay: float = 1e-4
    optimizer: OptimizerKind = OptimizerKind.ADAMW
    warmup_epochs: float = 0.0
    temperature: float = 0.05
    proxy_lr_factor: float = 10.0
    batches_per_epoch: int | None = None
    seed: int = 0
    collapse_variance: float = 1e-3
    instance_weight: float = 0.0
    instance_temperature: float = 0.1


@dataclass(frozen=True)
class EpochStats:
    """Figures of one training epoch."""

    epoch: int
    loss: float
    embedding_variance: float
    active_fraction: float  # fraction of batches whose miner found anything to learn from


@dataclass
class TrainHistory:
    """What a training run reports, written next to its checkpoint as JSON."""

    epochs: list[EpochStats] = field(default_factory=list)
    criterion: nn.Module | None = None  # the trained loss module (holds the proxies of a proxy loss)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"epochs": [vars(e) for e in self.epochs]}


def build_criterion(
    config: MetricConfig, num_classes: int = 0, embedding_dim: int = 0
) -> tuple[Callable[..., torch.Tensor], Callable[..., Any] | None]:
    """The pytorch-metric-learning loss and miner for ``config``.

    Pair and triplet losses use Euclidean distances between L2-normalised embeddings (pml's default
    ``LpDistance``); proxy losses use cosine similarity to one proxy per class, have no miner, and need
    ``num_classes`` and ``embedding_dim`` (their proxies are ``nn.Parameter``s of the returned loss module).

    Raises:
        MmirError: if a proxy loss is asked for without ``num_classes`` or ``embedding_dim``.
    """
    from pytorch_metric_learning import losses, miners

    loss: Callable[..., torch.Tensor]
    if config.loss.uses_proxies:
        if num_classes < 2 or embedding_dim < 1:
            raise MmirError(f"the {config.loss.value} loss needs the number of classes and the embedding size")
        if config.loss is MetricLoss.NORMALIZED_SOFTMAX:
            loss = losses.NormalizedSoftmaxLoss(num_classes, embedding_dim, temperature=config.temperature)
        elif config.loss is MetricLoss.COSFACE:
            loss = losses.CosFaceLoss(num_classes, embedding_dim, margin=0.35, scale=1.0 / config.temperature)
        elif config.loss is MetricLoss.ARCFACE:
            # pml takes the angular margin in degrees: 28.6° = 0.5 rad, the paper's value.
            loss = losses.ArcFaceLoss(num_classes, embedding_dim, margin=28.6, scale=1.0 / config.temperature)
        else:
            loss = losses.ProxyAnchorLoss(num_classes, embedding_dim, margin=0.1, alpha=32)
        return loss, None
    if config.loss is MetricLoss.TRIPLET:
        loss = losses.TripletMarginLoss(margin=config.margin)
    elif config.loss is MetricLoss.CONTRASTIVE:
        loss = losses.ContrastiveLoss(pos_margin=0.0, neg_margin=config.margin)
    else:
        loss = losses.MultiSimilarityLoss(alpha=2.0, beta=50.0, base=0.5)
    miner: Callable[..., Any] | None
    if config.miner is MinerKind.ALL:
        miner = None
    elif config.miner is MinerKind.HARD:
        miner = miners.BatchHardMiner()
    elif config.miner is MinerKind.MULTI_SIMILARITY:
        miner = miners.MultiSimilarityMiner(epsilon=0.1)
    else:
        # Pair losses accept triplets too: pml splits them into positive and negative pairs.
        miner = miners.TripletMarginMiner(margin=config.margin, type_of_triplets="semihard")
    return loss, miner


def embed(model: nn.Module, inputs: torch.Tensor, batch_size: int = 512) -> np.ndarray:
    """L2-normalised embeddings ``float32[N, E]`` of ``inputs`` (``[N, ...]``), in eval mode."""
    was_training = model.training
    model.eval()
    parts = []
    with torch.inference_mode():
        for start in range(0, len(inputs), batch_size):
            parts.append(F.normalize(model(inputs[start : start + batch_size]), dim=-1))
    model.train(was_training)
    if not parts:
        return np.zeros((0, 0), np.float32)
    return torch.cat(parts).float().numpy()


def make_optimiser(
    model: nn.Module, loss_fn: Callable[..., torch.Tensor], config: MetricConfig
) -> torch.optim.Optimizer:
    """The optimiser over the model's parameters plus, for proxy losses, the proxies (faster, no weight decay)."""
    groups: list[dict[str, Any]] = [
        {"params": list(model.parameters()), "lr": config.lr, "weight_decay": config.weight_decay}
    ]
    if isinstance(loss_fn, nn.Module) and list(loss_fn.parameters()):
        groups.append(
            {"params": list(loss_fn.parameters()), "lr": config.lr * config.proxy_lr_factor, "weight_decay": 0.0}
        )
    if config.optimizer is OptimizerKind.SGD:
        return torch.optim.SGD(groups, lr=config.lr, momentum=0.9, nesterov=True)
    return torch.optim.AdamW(groups, lr=config.lr)


def _output_dim(model: nn.Module, sample: torch.Tensor) -> int:
    """Width of the model's output, from one forward pass in eval mode (leaves BN statistics alone)."""
    was_training = model.training
    model.eval()
    with torch.no_grad():
        dim = int(model(sample).shape[-1])
    model.train(was_training)
    return dim


LossStep = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, Any]]


def _loss_step(
    model: nn.Module,
    loss_fn: Callable[..., torch.Tensor],
    miner: Callable[..., Any] | None,
    config: MetricConfig,
    augment: Callable[[torch.Tensor], torch.Tensor] | None,
) -> LossStep:
    """The loss of one batch ``(x [B, ...], labels int64[B]) -> (loss, mined tuples or None)``."""
    if config.instance_weight > 0 and augment is None:
        raise MmirError("the self-supervised instance term needs an augmentation (two views of each image)")
    instance_loss: Callable[..., torch.Tensor] | None = None
    if config.instance_weight > 0:
        from pytorch_metric_learning import losses

        instance_loss = losses.NTXentLoss(temperature=config.instance_temperature)

    def step(x: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, Any]:
        if instance_loss is None:
            embeddings = F.normalize(model(augment(x) if augment is not None else x), dim=-1)
            tuples = miner(embeddings, labels) if miner is not None else None
            return loss_fn(embeddings, labels, tuples), tuples
        assert augment is not None
        # Two views per image: the supervised loss sees both; NT-Xent treats the two views of an image as the
        # only positive pair (its labels are image ids).
        embeddings = F.normalize(model(torch.cat([augment(x), augment(x)])), dim=-1)
        both = torch.cat([labels, labels])
        tuples = miner(embeddings, both) if miner is not None else None
        ids = torch.arange(len(x)).repeat(2)
        return loss_fn(embeddings, both, tuples) + config.instance_weight * instance_loss(embeddings, ids), tuples

    return step


def train_embedding(
    model: nn.Module,
    inputs: torch.Tensor,
    labels: np.ndarray,
    config: MetricConfig,
    augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
    progress: bool = True,
    on_epoch: Callable[[EpochStats], None] | None = None,
) -> TrainHistory:
    """Train ``model`` (``[B, ...] -> [B, E]``) so that same-label items embed close together.

    Args:
        model: The embedding network; its outputs are L2-normalised before the loss.
        inputs: ``[N, ...]`` training inputs (kept in memory).
        labels: ``int[N]`` group of each input.
        config: Loss, miner, sampler and optimiser settings.
        augment: Optional batch augmentation applied to training batches only.
        progress: Show a tqdm bar per epoch.
        on_epoch: Called with each epoch's figures (e.g. to print them).

    Raises:
        CollapseError: if the embedding collapses (see :func:`detect_collapse`).
    """
    torch.manual_seed(config.seed)
    sampler = PKSampler(labels, config.p, config.k, config.batches_per_epoch, seed=config.seed)
    classes, dense_labels = np.unique(np.asarray(labels), return_inverse=True)  # proxies need labels 0..C-1
    loss_fn, miner = build_criterion(config, len(classes), _output_dim(model, inputs[:2]))
    optimiser = make_optimiser(model, loss_fn, config)
    total_steps = config.epochs * len(sampler)
    warmup_steps = int(config.warmup_epochs * len(sampler))
    schedule, updates = build_scheduler(optimiser, total_steps, warmup_steps), 0
    label_tensor = torch.as_tensor(dense_labels.reshape(-1), dtype=torch.int64)
    probe = torch.as_tensor(np.random.default_rng(config.seed).permutation(len(inputs))[:2000])
    history = TrainHistory(criterion=loss_fn if isinstance(loss_fn, nn.Module) else None)
    step = _loss_step(model, loss_fn, miner, config, augment)
    for epoch in range(1, config.epochs + 1):
        model.train()
        losses, active = [], 0
        for batch in tqdm(sampler, desc=f"epoch {epoch}/{config.epochs}", leave=False, disable=not progress):
            index = torch.as_tensor(batch)
            loss, tuples = step(inputs[index], label_tensor[index])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            updates += 1
            schedule.step_update(updates)
            losses.append(float(loss.detach()))
            active += int(tuples is None or len(tuples[0]) > 0)
        sample = embed(model, inputs[probe])
        stats = EpochStats(epoch, float(np.mean(losses)), embedding_variance(sample), active / len(sampler))
        history.epochs.append(stats)
        if on_epoch is not None:
            on_epoch(stats)
        margin = config.margin if config.loss is MetricLoss.TRIPLET else 0.0
        reason = detect_collapse(sample, [e.loss for e in history.epochs], margin, config.collapse_variance)
        if reason is not None:
            raise CollapseError(f"epoch {epoch}: {reason}")
    model.eval()
    return history


def train_head(
    descriptors: np.ndarray,
    labels: np.ndarray,
    config: MetricConfig,
    out_dim: int = 256,
    hidden: int = 0,
    progress: bool = True,
    on_epoch: Callable[[EpochStats], None] | None = None,
) -> tuple[ProjectionHead, TrainHistory]:
    """Train a :class:`ProjectionHead` on frozen descriptors ``float32[N, D]`` with group ``labels`` ``int[N]``."""
    torch.manual_seed(config.seed)
    head = ProjectionHead(descriptors.shape[1], out_dim, hidden)
    history = train_embedding(
        head, torch.as_tensor(np.asarray(descriptors, np.float32)), labels, config, progress=progress, on_epoch=on_epoch
    )
    return head, history
