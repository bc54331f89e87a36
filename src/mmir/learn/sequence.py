"""Training and evaluating sequence models (:mod:`mmir.models.sequence`) on labelled clips.

Clips come from a folder per label (``CLIPS/<label>/*.mp4``) or a CSV of ``path,label`` rows; each clip is
decoded once at ``fps`` frames per second and encoded by the collection's encoder into ``float32[T, D]`` frame
descriptors (the same per-frame descriptors indexing stores, so models can later score indexed shots without
decoding). Training is plain Adam with cross-entropy; evaluation prints accuracy, top-k and a confusion matrix.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from mmir.evaluate.classification import ClassificationReport, classification_report
from mmir.learn.labels_csv import DataError, read_label_csv
from mmir.media.scan import VIDEO_EXTENSIONS
from mmir.models.sequence import SequenceArch, SequenceConfig, build_sequence_model

CONFIG_FILE = "sequence.json"
WEIGHTS_FILE = "sequence.pt"


@dataclass(frozen=True)
class SequenceTraining:
    """Training settings.

    Attributes:
        epochs: Passes over the training clips.
        batch_size: Clips per step.
        lr: Adam learning rate.
        weight_decay: L2 penalty.
        seed: Seeds initialisation and shuffling.
    """

    epochs: int = 40
    batch_size: int = 16
    lr: float = 3e-3
    weight_decay: float = 1e-4
    seed: int = 0


def pad(sequences: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """``[float32[T_i, D]]`` → ``(float32[B, T_max, D] zero-padded, lengths int64[B])``."""
    lengths = torch.tensor([len(s) for s in sequences], dtype=torch.int64)
    width = int(lengths.max()) if len(sequences) else 0
    dim = sequences[0].shape[1] if sequences else 0
    batch = torch.zeros(len(sequences), max(width, 1), dim)
    for i, seq in enumerate(sequences):
        batch[i, : len(seq)] = torch.from_numpy(np.asarray(seq, np.float32))
    return batch, lengths


def train_sequence_model(
    sequences: Sequence[np.ndarray], labels: Sequence[int], config: SequenceConfig,
    training: SequenceTraining = SequenceTraining(), on_epoch: Callable[[int, float], None] | None = None,
) -> nn.Module:  # fmt: skip
    """Train a model of ``config.arch`` on ``sequences`` (``float32[T_i, D]``) with class indices ``labels``."""
    if not sequences:
        raise DataError("no training clips")
    torch.manual_seed(training.seed)
    model = build_sequence_model(config)
    optimiser = torch.optim.Adam(model.parameters(), lr=training.lr, weight_decay=training.weight_decay)
    targets = torch.tensor(list(labels), dtype=torch.int64)
    generator = torch.Generator().manual_seed(training.seed)
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(training.epochs):
        model.train()
        order = torch.randperm(len(sequences), generator=generator).tolist()
        total = 0.0
        for start in range(0, len(order), training.batch_size):
            chosen = order[start : start + training.batch_size]
            frames, lengths = pad([sequences[i] for i in chosen])
            loss = loss_fn(model(frames, lengths), targets[chosen])
            optimiser.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)  # recurrent nets: keep exploding steps in check
            optimiser.step()
            total += loss.item() * len(chosen)
        if on_epoch is not None:
            on_epoch(epoch, total / len(order))
    return model.eval()


def predict_scores(model: nn.Module, sequences: Sequence[np.ndarray], batch_size: int = 64) -> np.ndarray:
    """Class probabilities ``float32[N, K]``."""
    out = []
    with torch.inference_mode():
        for start in range(0, len(sequences), batch_size):
            frames, lengths = pad(sequences[start : start + batch_size])
            out.append(torch.softmax(model(frames, lengths), dim=1).numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def evaluate_sequence_model(
    model: nn.Module, sequences: Sequence[np.ndarray], labels: Sequence[int], classes: Sequence[str]
) -> ClassificationReport:
    """Accuracy, top-k error and the confusion matrix on labelled clips."""
    return classification_report(predict_scores(model, sequences), np.asarray(labels), classes)


def save_sequence_model(model: nn.Module, config: SequenceConfig, directory: Path) -> None:
    """Write ``sequence.json`` (config) and ``sequence.pt`` (state dict) into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / CONFIG_FILE).write_text(json.dumps(config.to_dict(), indent=1), encoding="utf-8")
    torch.save(model.state_dict(), directory / WEIGHTS_FILE)


def load_sequence_model(directory: Path) -> tuple[nn.Module, SequenceConfig]:
    """Inverse of :func:`save_sequence_model`."""
    try:
        config = SequenceConfig.from_dict(json.loads((directory / CONFIG_FILE).read_text(encoding="utf-8")))
        model = build_sequence_model(config)
        model.load_state_dict(torch.load(directory / WEIGHTS_FILE, map_location="cpu", weights_only=True))
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise DataError(f"{directory}: not a usable sequence model ({exc})") from exc
    return model.eval(), config


def list_clips(source: Path) -> tuple[list[Path], list[str]]:
    """Clips and their labels from a folder per label or a ``path,label`` CSV."""
    if source.is_file():
        rows = read_label_csv(source)
        if any(len(row.labels) != 1 for row in rows):
            raise DataError(f"{source}: each clip needs exactly one label")
        return [row.path for row in rows], [next(iter(row.labels)) for row in rows]
    if not source.is_dir():
        raise DataError(f"{source}: neither a folder of label folders nor a CSV file")
    paths, labels = [], []
    for folder in sorted(p for p in source.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for clip in sorted(folder.iterdir()):
            if clip.suffix.lower() in VIDEO_EXTENSIONS:
                paths.append(clip)
                labels.append(folder.name)
    if not paths:
        raise DataError(f"{source}: no video clips in label folders")
    return paths, labels


def clip_descriptors(path: Path, encoder: object, fps: float = 2.0, batch: int = 16) -> np.ndarray:
    """``float32[T, D]`` descriptors of a clip's frames sampled at ``fps`` (the indexing path's decoder)."""
    from PIL import Image

    from mmir.media.video import DecodeOptions, VideoReader

    side = int(getattr(encoder, "input_side", 224))
    rows: list[np.ndarray] = []
    pending: list[np.ndarray] = []

    def flush() -> None:
        arrays = np.stack([encoder.preprocess(Image.fromarray(image)) for image in pending])  # type: ignore[attr-defined]
        rows.append(encoder.encode_batch(arrays).descriptors)  # type: ignore[attr-defined]
        pending.clear()

    with VideoReader(path, DecodeOptions(analysis_fps=fps, image_fps=fps, image_side=side)) as reader:
        for frame in reader.frames():
            if frame.image is not None:
                pending.append(frame.image)
                if len(pending) >= batch:
                    flush()
    if pending:
        flush()
    return np.concatenate(rows).astype(np.float32)


def arch_from_name(name: str) -> SequenceArch:
    """``"lstm"`` → :attr:`SequenceArch.LSTM` (raises :class:`DataError` for unknown names)."""
    try:
        return SequenceArch(name.lower())
    except ValueError as exc:
        raise DataError(f"unknown sequence architecture {name!r}; use rnn, lstm, gru or bag") from exc
