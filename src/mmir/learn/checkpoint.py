"""Classifier checkpoints: weights plus everything needed to resume or to evaluate them later.

A checkpoint is a plain dict of tensors and JSON-like values, loaded with ``weights_only=True`` (no pickle).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mmir.errors import MmirError
from mmir.learn.recipe import TrainConfig
from mmir.models.convnets import NetSpec, build_net


class CheckpointError(MmirError):
    """A checkpoint is missing, unreadable, or belongs to another run."""


@dataclass(frozen=True)
class ModelMeta:
    """What a trained classifier needs besides its weights."""

    config: TrainConfig
    class_names: tuple[str, ...]
    in_channels: int
    image_size: int
    multi_label: bool
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def spec(self) -> NetSpec:
        """The architecture this model was built with (EfficientNet weights come from the checkpoint)."""
        c = self.config
        return NetSpec(
            arch=c.arch,
            in_channels=self.in_channels,
            num_classes=len(self.class_names),
            batch_norm=c.batch_norm,
            dropout=c.dropout,
            width=c.width,
            pretrained=False,
            freeze=c.freeze,
        )

    def to_json(self) -> dict[str, Any]:
        """Plain values for the checkpoint dict."""
        return {
            "config": self.config.to_json(),
            "class_names": list(self.class_names),
            "in_channels": self.in_channels,
            "image_size": self.image_size,
            "multi_label": self.multi_label,
            "mean": list(self.mean),
            "std": list(self.std),
        }

    @classmethod
    def from_json(cls, values: dict[str, Any]) -> ModelMeta:
        """Inverse of :meth:`to_json`."""
        return cls(
            config=TrainConfig.from_json(values["config"]),
            class_names=tuple(values["class_names"]),
            in_channels=int(values["in_channels"]),
            image_size=int(values["image_size"]),
            multi_label=bool(values["multi_label"]),
            mean=tuple(values["mean"]),
            std=tuple(values["std"]),
        )


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` atomically (temporary file, then rename), so an interruption leaves no half file."""
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt or foreign files
        raise CheckpointError(f"{path}: not a readable mmir checkpoint ({exc})") from exc
    if not isinstance(state, dict) or "model" not in state or "meta" not in state:
        raise CheckpointError(f"{path}: not an mmir classifier checkpoint")
    return state


def load_classifier(path: Path) -> tuple[nn.Module, ModelMeta]:
    """The trained net (eval mode) and its metadata from a checkpoint."""
    state = load_checkpoint(path)
    meta = ModelMeta.from_json(state["meta"])
    model = build_net(meta.spec())
    model.load_state_dict(state["model"])
    return model.eval(), meta
