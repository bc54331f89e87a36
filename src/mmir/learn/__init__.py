"""Learning: datasets, training loops and recipes (classification, concept heads, metric learning, sequences).

The names below are the package's public training API (the CLI's ``train``/``eval`` commands use only these).
They load on first use: importing :mod:`mmir.learn` costs nothing, and torch comes only with a training loop.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mmir.learn.datasets import load_labelled_images
    from mmir.learn.evaluation import evaluate_checkpoint
    from mmir.learn.labels_csv import MIN_POSITIVES, learnable, read_label_csv
    from mmir.learn.metric import EpochStats
    from mmir.learn.metric_workflow import MetricRun, metric_config, train_metric_model
    from mmir.learn.recipe import ClassificationLoss, RecipeError, Schedule, TrainConfig
    from mmir.learn.robust_heads import RobustConfig, RobustLoss
    from mmir.learn.sequence_workflow import (
        SEQUENCE_CONFIG,
        SequenceRun,
        SequenceTraining,
        evaluate_on_clips,
        train_on_clips,
    )
    from mmir.learn.trainer import train_classifier
    from mmir.learn.weak_labels import LabelSource, read_weak_labels
    from mmir.learn.word2vec import Word2VecConfig, train_word2vec_file

_EXPORTS = {
    "load_labelled_images": "datasets", "evaluate_checkpoint": "evaluation", "MIN_POSITIVES": "labels_csv",
    "learnable": "labels_csv", "read_label_csv": "labels_csv", "EpochStats": "metric", "MetricRun": "metric_workflow",
    "metric_config": "metric_workflow", "train_metric_model": "metric_workflow", "ClassificationLoss": "recipe",
    "RecipeError": "recipe", "Schedule": "recipe", "TrainConfig": "recipe", "RobustConfig": "robust_heads",
    "RobustLoss": "robust_heads", "SEQUENCE_CONFIG": "sequence_workflow", "SequenceRun": "sequence_workflow",
    "SequenceTraining": "sequence_workflow", "evaluate_on_clips": "sequence_workflow",
    "train_on_clips": "sequence_workflow", "train_classifier": "trainer", "LabelSource": "weak_labels",
    "read_weak_labels": "weak_labels", "Word2VecConfig": "word2vec", "train_word2vec_file": "word2vec",
}  # fmt: skip

__all__ = [
    "MIN_POSITIVES",
    "SEQUENCE_CONFIG",
    "ClassificationLoss",
    "EpochStats",
    "LabelSource",
    "MetricRun",
    "RecipeError",
    "RobustConfig",
    "RobustLoss",
    "Schedule",
    "SequenceRun",
    "SequenceTraining",
    "TrainConfig",
    "Word2VecConfig",
    "evaluate_checkpoint",
    "evaluate_on_clips",
    "learnable",
    "load_labelled_images",
    "metric_config",
    "read_label_csv",
    "read_weak_labels",
    "train_classifier",
    "train_metric_model",
    "train_on_clips",
    "train_word2vec_file",
]


def __getattr__(name: str) -> Any:
    """Load the module that holds ``name`` on first use (PEP 562)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'mmir.learn' has no attribute {name!r}")
    return getattr(importlib.import_module(f"mmir.learn.{module}"), name)
