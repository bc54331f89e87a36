"""``mmir train metric`` end to end: read the groups, encode or fine-tune, write a model directory.

Two modes (:class:`MetricRun`): a projection head trained on the frozen encoder's descriptors, or
(``train_blocks > 0``) the bundled backbone's last blocks fine-tuned (:mod:`mmir.learn.finetune`). Either way
the result is a model directory that ``mmir index --model DIR`` uses, with ``metrics.json`` beside it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mmir.errors import MmirError
from mmir.learn.labels_csv import DataError, read_label_csv
from mmir.learn.metric import EpochStats, MetricConfig, MetricLoss, MinerKind, TrainHistory

BATCH = 32  # images decoded and encoded at a time


@dataclass(frozen=True)
class MetricRun:
    """What to train besides the loss settings (:class:`~mmir.learn.metric.MetricConfig`).

    Attributes:
        model: Base encoder (a model name).
        pooling: Pooling of the base encoder (head mode).
        dim: Output descriptor dimension (head mode).
        hidden: Hidden width of the head (0: linear).
        train_blocks: Fine-tune this many last backbone blocks instead of training a head (0: head mode).
        alpha: With ``train_blocks``: weight of the fine-tuned tail averaged with the pretrained one (WiSE-FT).
    """

    model: str
    pooling: str = "gem"
    dim: int = 256
    hidden: int = 0
    train_blocks: int = 0
    alpha: float = 0.5


@dataclass(frozen=True)
class MetricTrained:
    """A finished run: the model directory's entry file, its size and per-epoch figures."""

    path: Path
    images: int
    groups: int
    history: TrainHistory


def metric_config(
    loss: str, miner: str, *, margin: float, epochs: int, p: int, k: int, lr: float, seed: int
) -> MetricConfig:
    """The :class:`~mmir.learn.metric.MetricConfig` of a run from its command-line values.

    Raises:
        MmirError: for an unknown loss or miner, or settings the config refuses.
    """
    try:
        return MetricConfig(
            loss=MetricLoss(loss), miner=MinerKind(miner), margin=margin, epochs=epochs, p=p, k=k, lr=lr, seed=seed
        )
    except ValueError as exc:
        raise MmirError(str(exc)) from exc


def read_groups(source: Path) -> tuple[list[Path], list[int], list[str]]:
    """Images and their group index from a folder per identity or a CSV of ``path,group`` rows.

    The readers are the training data's own (:func:`mmir.learn.datasets.image_folder_files` and
    :func:`mmir.learn.labels_csv.read_label_csv`); a CSV row here must name exactly one group.

    Returns:
        ``(paths, labels, group_names)`` where ``labels[i]`` indexes ``group_names``.

    Raises:
        MmirError: if the source is missing, a CSV row is malformed, or no image is found.
    """
    if source.is_dir():
        from mmir.learn.datasets import image_folder_files

        pairs = image_folder_files(source)
    elif source.is_file():
        pairs = []
        for row in read_label_csv(source):
            if len(row.labels) != 1:
                raise DataError(f"{source}:{row.line}: expected 'path,group' with one group, got {sorted(row.labels)}")
            pairs.append((row.path, next(iter(row.labels))))
    else:
        raise MmirError(f"{source}: no such folder or CSV file")
    names = sorted({group for _, group in pairs})
    index = {name: i for i, name in enumerate(names)}
    return [path for path, _ in pairs], [index[group] for _, group in pairs], names


def train_metric_model(
    groups: Path, out: Path, config: MetricConfig, run: MetricRun,
    on_epoch: Callable[[EpochStats], None] | None = None,
) -> MetricTrained:  # fmt: skip
    """Train on the images of ``groups`` and write the model directory and ``metrics.json`` into ``out``.

    Raises:
        MmirError: for unreadable groups, or ``train_blocks`` with a model that is not bundled.
    """
    paths, labels, names = read_groups(groups)
    facts: dict[str, Any] = {"groups": len(names), "images": len(paths)}
    extra = {"config": {key: getattr(value, "value", value) for key, value in vars(config).items()}, **facts}
    if run.train_blocks > 0:
        extra |= {"train_blocks": run.train_blocks, "alpha": run.alpha}
        path, history = _finetune(paths, np.asarray(labels), config, run, out, extra, on_epoch)
    else:
        path, history = _train_head(paths, np.asarray(labels), config, run, out, extra, on_epoch)
    (Path(out) / "metrics.json").write_text(json.dumps(history.as_dict(), indent=2) + "\n", encoding="utf-8")
    return MetricTrained(path, len(paths), len(names), history)


def _image_batches(paths: list[Path], transform: Callable[..., Any], side: int) -> Iterator[torch.Tensor]:
    """Preprocessed batches ``float32[BATCH, 3, H, W]`` of ``paths``; a bad file raises a MediaError naming it."""
    from mmir.media import load_image

    for start in range(0, len(paths), BATCH):
        yield torch.stack(
            [torch.as_tensor(transform(load_image(path, min_side=side))) for path in paths[start : start + BATCH]]
        )


def _train_head(
    paths: list[Path], labels: np.ndarray, config: MetricConfig, run: MetricRun, out: Path, extra: dict[str, Any],
    on_epoch: Callable[[EpochStats], None] | None,
) -> tuple[Path, TrainHistory]:  # fmt: skip
    from tqdm import tqdm

    from mmir.learn.metric import train_head
    from mmir.models import load_encoder
    from mmir.models.model_dir import write_projection_dir

    encoder = load_encoder(run.model, pooling=run.pooling)
    batches = _image_batches(paths, encoder.preprocess, encoder.input_side)
    total = -(-len(paths) // BATCH)
    descriptors = np.concatenate(
        [encoder.encode_batch(b.numpy()).descriptors for b in tqdm(batches, total=total, desc="encoding", unit="batch")]
    )
    head, history = train_head(descriptors, labels, config, out_dim=run.dim, hidden=run.hidden, on_epoch=on_epoch)
    return write_projection_dir(out, head, run.model, {"pooling": run.pooling}, extra=extra), history


def _finetune(
    paths: list[Path], labels: np.ndarray, config: MetricConfig, run: MetricRun, out: Path, extra: dict[str, Any],
    on_epoch: Callable[[EpochStats], None] | None,
) -> tuple[Path, TrainHistory]:  # fmt: skip
    from mmir.learn.finetune import finetune_tail
    from mmir.models.efficientnet import WEIGHTS
    from mmir.models.model_dir import write_tail_dir

    if run.model not in WEIGHTS:
        raise MmirError(f"--train-blocks works with the bundled models {sorted(WEIGHTS)}, not {run.model!r}")
    preprocessing = WEIGHTS[run.model].preprocessing
    batches = _image_batches(paths, preprocessing.transform(), preprocessing.resize)
    total = -(-len(paths) // BATCH)
    result = finetune_tail(
        run.model, batches, labels, config, run.train_blocks, run.alpha, total_batches=total, on_epoch=on_epoch
    )
    return write_tail_dir(out, result.tail, run.model, extra=extra), result.history
