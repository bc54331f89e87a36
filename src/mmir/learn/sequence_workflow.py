"""Sequence models from labelled clips, end to end: what ``mmir train sequence`` and ``mmir eval sequence`` run.

Clips are encoded frame by frame (a progress bar on stderr: encoding is most of the time), then a recurrent
classifier is trained or evaluated on the descriptor sequences (:mod:`mmir.learn.sequence`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mmir.evaluate.classification import ClassificationReport
from mmir.learn.labels_csv import DataError
from mmir.learn.sequence import (
    CONFIG_FILE as SEQUENCE_CONFIG,
)
from mmir.learn.sequence import (
    SequenceTraining,
    arch_from_name,
    clip_descriptors,
    evaluate_sequence_model,
    list_clips,
    load_sequence_model,
    save_sequence_model,
    train_sequence_model,
)
from mmir.models.sequence import SequenceConfig

__all__ = [
    "SEQUENCE_CONFIG",
    "SequenceRun",
    "SequenceTrained",
    "SequenceTraining",
    "clip_sequences",
    "evaluate_on_clips",
    "train_on_clips",
]


@dataclass(frozen=True)
class SequenceRun:
    """One ``mmir train sequence`` run: the frame encoder, the net and its training.

    Attributes:
        model: Frame encoder (a model name or directory).
        fps: Frames per second fed to the model.
        arch: ``rnn``, ``lstm``, ``gru`` or ``bag``.
        hidden: Hidden width.
        training: Epochs, learning rate, seed.
    """

    model: str
    fps: float = 2.0
    arch: str = "lstm"
    hidden: int = 128
    training: SequenceTraining = field(default_factory=SequenceTraining)


@dataclass(frozen=True)
class SequenceTrained:
    """What a run produced: the config written to ``out`` and how many clips it learned from."""

    config: SequenceConfig
    clips: int
    out: Path


def clip_sequences(clips: Path, model: str, fps: float, progress: bool = True) -> tuple[list[np.ndarray], list[str]]:
    """Frame descriptors ``[float32[T_i, D]]`` and labels of the clips listed by ``clips`` (folders or CSV)."""
    from tqdm import tqdm

    from mmir.models import load_encoder

    paths, labels = list_clips(clips)
    encoder = load_encoder(model)
    frames = [clip_descriptors(path, encoder, fps) for path in tqdm(paths, desc="encoding clips", unit="clip",
                                                                    disable=not progress)]  # fmt: skip
    return frames, labels


def train_on_clips(
    clips: Path, out: Path, run: SequenceRun, on_epoch: Callable[[int, float], None] | None = None,
    progress: bool = True,
) -> SequenceTrained:  # fmt: skip
    """Encode the clips, train the sequence classifier and save it in ``out``."""
    chosen = arch_from_name(run.arch)
    sequences, labels = clip_sequences(clips, run.model, run.fps, progress)
    classes = tuple(sorted(set(labels)))
    config = SequenceConfig(chosen, input_dim=sequences[0].shape[1], classes=classes, hidden=run.hidden)
    targets = [classes.index(label) for label in labels]
    net = train_sequence_model(sequences, targets, config, run.training, on_epoch=on_epoch)
    save_sequence_model(net, config, out)
    return SequenceTrained(config, len(sequences), out)


def evaluate_on_clips(
    checkpoint: Path, clips: Path, model: str, fps: float, progress: bool = True
) -> ClassificationReport:
    """Accuracy, top-k error and confusion matrix of the sequence model saved in ``checkpoint`` on labelled clips.

    Raises:
        DataError: if a clip carries a label the model was not trained on.
    """
    net, config = load_sequence_model(checkpoint)
    sequences, labels = clip_sequences(clips, model, fps, progress)
    unknown = sorted(set(labels) - set(config.classes))
    if unknown:
        raise DataError(f"{clips}: labels the model was not trained on: {', '.join(unknown)}")
    return evaluate_sequence_model(net, sequences, [config.classes.index(x) for x in labels], config.classes)
