"""The classification training loop: seeded, resumable, with per-epoch checkpoints, metrics JSON and plots.

Files written into the run folder:
``last.pt`` (every epoch, for resuming), ``best.pt`` (lowest validation error so far), ``metrics.json`` (one
entry per epoch), ``curves.png`` (loss/error curves) and ``config.json`` (the resolved config).

Reproducibility: every epoch re-seeds its own generators from ``(seed, epoch)``, so a run resumed after
epoch *e* replays exactly the draws the uninterrupted run would have made.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mmir.learn.augment import augment
from mmir.learn.checkpoint import CheckpointError, ModelMeta, load_checkpoint, save_checkpoint
from mmir.learn.datasets import LabelledImages, channel_stats, split_indices
from mmir.learn.losses import LossFn, make_loss
from mmir.learn.plots import plot_curves
from mmir.learn.predict import Normaliser, evaluate_split
from mmir.learn.recipe import TrainConfig
from mmir.learn.schedule import build_scheduler
from mmir.models.convnets import Arch, NetSpec, build_net


@dataclass
class TrainResult:
    """The outcome of :func:`train_classifier`."""

    model: nn.Module
    meta: ModelMeta
    history: list[dict[str, float]]
    best_epoch: int
    out_dir: Path


def _optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.SGD:
    # Weight decay on conv/linear weights only: decaying BN scales and biases only fights the normalisation.
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.ndim > 1]
    rest = [p for p in params if p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": rest, "weight_decay": 0.0}]
    return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov)


def _build(cfg: TrainConfig, data: LabelledImages) -> nn.Module:
    torch.manual_seed(cfg.seed)  # the initial weights depend on the seed only
    spec = NetSpec(
        arch=cfg.arch,
        in_channels=int(data.images.shape[1]),
        num_classes=len(data.class_names),
        batch_norm=cfg.batch_norm,
        dropout=cfg.dropout,
        width=cfg.width,
        pretrained=cfg.pretrained,
        freeze=cfg.freeze,
    )
    model = build_net(spec)
    if cfg.arch not in (Arch.EFFICIENTNET_LITE0, Arch.EFFICIENTNET_LITE2):
        model = model.to(memory_format=torch.channels_last)  # faster oneDNN convolutions on CPU
    return model


def _train_epoch(
    model: nn.Module,
    opt: torch.optim.SGD,
    loss_fn: LossFn,
    train: LabelledImages,
    norm: Normaliser,
    cfg: TrainConfig,
    epoch: int,
    progress: bool,
) -> dict[str, float]:
    from tqdm import tqdm

    gen = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
    torch.manual_seed(cfg.seed * 100_003 + epoch)  # dropout draws
    order = torch.randperm(len(train), generator=gen)
    steps = math.ceil(len(train) / cfg.batch_size)
    model.train()
    total_loss, total_wrong, seen = 0.0, 0.0, 0
    bar = tqdm(range(steps), desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="batch", disable=not progress, leave=False)
    schedule = _scheduler(opt, cfg, steps)
    for step in bar:
        index = order[step * cfg.batch_size : (step + 1) * cfg.batch_size]
        x = augment(norm(train.images[index]), gen, padding=cfg.crop_padding, flip=cfg.flip, erasing=cfg.erasing)
        y = train.targets[index]
        schedule.step_update(epoch * steps + step)
        logits = model(x.contiguous(memory_format=torch.channels_last))
        loss = loss_fn(logits, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        total_loss += loss.item() * len(index)
        if not train.multi_label:
            total_wrong += float((logits.argmax(1) != y).sum())
        seen += len(index)
        bar.set_postfix(loss=f"{total_loss / seen:.4f}")
    return {
        "train_loss": total_loss / seen,
        "train_error": total_wrong / seen if not train.multi_label else math.nan,
    }


def _scheduler(opt: torch.optim.Optimizer, cfg: TrainConfig, steps_per_epoch: int) -> Any:
    """The recipe's schedule (warm-up and step size given in epochs) over ``opt``, whose ``lr`` is ``cfg.lr``."""
    for group in opt.param_groups:
        group.setdefault("initial_lr", cfg.lr)  # the base rate timm scales (it keeps the first one it sees)
    return build_scheduler(
        opt,
        cfg.epochs * steps_per_epoch,
        round(cfg.warmup_epochs * steps_per_epoch),
        cfg.schedule,
        decay_every=cfg.step_size * steps_per_epoch,
        gamma=cfg.gamma,
    )


def _write_reports(out_dir: Path, history: list[dict[str, float]]) -> None:
    (out_dir / "metrics.json").write_text(json.dumps(history, indent=2) + "\n")
    plot_curves(history, out_dir / "curves.png")


def _resume(path: Path, cfg: TrainConfig, model: nn.Module, opt: torch.optim.SGD) -> dict[str, Any]:
    state = load_checkpoint(path)
    saved = TrainConfig.from_json(state["meta"]["config"])
    if saved != cfg:
        from mmir.learn.config_diff import config_changes

        raise CheckpointError(f"{path}: was trained with another config ({config_changes(saved, cfg)}); "
                              "use a new --out folder or --no-resume")  # fmt: skip
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    return state


def train_classifier(
    data: LabelledImages,
    cfg: TrainConfig,
    out_dir: Path,
    *,
    resume: bool = True,
    stop_after: int | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train a classifier on ``data`` with recipe ``cfg``, writing checkpoints and reports into ``out_dir``.

    Args:
        data: Training examples; a seeded ``cfg.validation_fraction`` of them is held out for validation.
        cfg: The recipe.
        out_dir: The run folder (created).
        resume: Continue from ``out_dir/last.pt`` if it exists (its config must equal ``cfg``).
        stop_after: Stop after this many epochs in total (simulates an interruption; tests use it).
        progress: Show a tqdm bar per epoch.
    """
    torch.set_num_threads(cfg.threads)
    out_dir.mkdir(parents=True, exist_ok=True)
    train_idx, val_idx = split_indices(len(data), cfg.validation_fraction, cfg.seed)
    train, val = data.subset(train_idx), data.subset(val_idx)
    mean, std = channel_stats(train.images)
    meta = ModelMeta(
        cfg,
        data.class_names,
        int(data.images.shape[1]),
        int(data.images.shape[-1]),
        data.multi_label,
        mean,
        std,
    )
    norm = Normaliser(mean, std)
    model = _build(cfg, data)
    opt = _optimizer(model, cfg)
    loss_fn = make_loss(cfg.loss, multi_label=data.multi_label, label_smoothing=cfg.label_smoothing)
    (out_dir / "config.json").write_text(json.dumps(meta.to_json(), indent=2) + "\n")
    history: list[dict[str, float]] = []
    best = (math.inf, -1)
    if resume and (out_dir / "last.pt").exists():
        state = _resume(out_dir / "last.pt", cfg, model, opt)
        history, best = list(state["history"]), (float(state["best_val"]), int(state["best_epoch"]))
    for epoch in range(len(history), cfg.epochs if stop_after is None else min(stop_after, cfg.epochs)):
        started = time.perf_counter()
        row: dict[str, float] = {
            "epoch": epoch + 1,
            **_train_epoch(model, opt, loss_fn, train, norm, cfg, epoch, progress),
        }
        row.update(evaluate_split(model, val, norm, loss_fn, cfg.batch_size * 2))
        row["lr"] = float(opt.param_groups[0]["lr"])
        row["seconds"] = time.perf_counter() - started
        history.append(row)
        score = _selection_score(row, has_validation=len(val) > 0)
        if score < best[0]:
            best = (score, epoch + 1)
        state = {
            "model": model.state_dict(),
            "optimizer": opt.state_dict(),
            "meta": meta.to_json(),
            "history": history,
            "best_val": best[0],
            "best_epoch": best[1],
        }
        save_checkpoint(out_dir / "last.pt", state)
        if best[1] == epoch + 1:
            shutil.copyfile(out_dir / "last.pt", out_dir / "best.pt")
        _write_reports(out_dir, history)
        if progress:
            print(_summary(row), flush=True)
    return TrainResult(model.eval(), meta, history, best[1], out_dir)


def _selection_score(row: dict[str, float], *, has_validation: bool) -> float:
    """What picks ``best.pt`` (lower is better): the validation error, or the training loss without a validation split.

    A diverged epoch (NaN or infinite loss or error) scores ``inf``, so it is never kept as the best one — with
    ``nan`` a plain ``<`` happens to say no too, but that is an accident of IEEE comparisons, not a rule.
    """
    values = [row["train_loss"]] + ([row["val_error"], row["val_loss"]] if has_validation else [])
    if not all(math.isfinite(v) for v in values):
        return math.inf
    return row["val_error"] if has_validation else row["train_loss"]


def _summary(row: dict[str, float]) -> str:
    parts = [f"epoch {int(row['epoch'])}", f"train loss {row['train_loss']:.4f}"]
    for key in ("train_error", "val_loss", "val_error", "val_top5_error", "val_map"):
        value = row.get(key, math.nan)
        if not math.isnan(value):
            parts.append(f"{key.replace('_', ' ')} {value:.4f}")
    parts.append(f"{row['seconds']:.1f}s")
    return " | ".join(parts)
