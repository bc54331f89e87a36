"""The classification recipe: one frozen config holding every choice a training run makes."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import Any

from mmir.errors import MmirError
from mmir.learn.schedule import Schedule
from mmir.models.convnets import Arch

__all__ = ["ClassificationLoss", "RecipeError", "Schedule", "TrainConfig"]


class RecipeError(MmirError):
    """A training option is out of range or inconsistent."""


class ClassificationLoss(StrEnum):
    """Softmax cross-entropy (exclusive classes), sigmoid BCE (multi-label) or mean squared error."""

    CROSS_ENTROPY = "cross-entropy"
    BCE = "bce"
    MSE = "mse"


@dataclass(frozen=True)
class TrainConfig:
    """Everything a classification training run depends on (saved as ``config.json`` beside the checkpoint).

    The defaults are the lecture's recipe: mini-batch SGD with Nesterov momentum, weight decay, batch norm,
    warm-up then cosine decay, and crop/flip/erasing augmentation.
    """

    arch: Arch = Arch.RESNET_SMALL
    width: int = 32
    batch_norm: bool = True
    dropout: float = 0.1
    pretrained: bool = True
    freeze: int = 0
    epochs: int = 30
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    schedule: Schedule = Schedule.COSINE
    warmup_epochs: float = 1.0
    step_size: int = 10
    gamma: float = 0.1
    crop_padding: int = 2
    flip: bool = True
    erasing: float = 0.25
    loss: ClassificationLoss = ClassificationLoss.CROSS_ENTROPY
    label_smoothing: float = 0.0
    validation_fraction: float = 0.1
    image_size: int = 32
    seed: int = 0
    threads: int = 1  # on a shared 2-core box one thread beat two (OpenMP spinning cost ~5x CPU)

    def __post_init__(self) -> None:
        checks = {
            "epochs must be ≥ 1": self.epochs >= 1,
            "batch size must be ≥ 1": self.batch_size >= 1,
            "learning rate must be > 0": self.lr > 0,
            "momentum must lie in [0, 1)": 0 <= self.momentum < 1,
            "nesterov needs momentum > 0": not (self.nesterov and self.momentum == 0),
            "weight decay must be ≥ 0": self.weight_decay >= 0,
            "validation fraction must lie in [0, 1)": 0 <= self.validation_fraction < 1,
            "erasing probability must lie in [0, 1]": 0 <= self.erasing <= 1,
            "label smoothing must lie in [0, 1)": 0 <= self.label_smoothing < 1,
            # bce and mse take no smoothing: accepting it there would silently train without it.
            "label smoothing needs the cross-entropy loss": (
                self.label_smoothing == 0 or self.loss == ClassificationLoss.CROSS_ENTROPY
            ),
            "dropout must lie in [0, 1)": 0 <= self.dropout < 1,
            "warm-up must be ≥ 0 epochs": self.warmup_epochs >= 0,
        }
        failed = [message for message, ok in checks.items() if not ok]
        if failed:
            raise RecipeError("bad training options: " + "; ".join(failed))

    def to_json(self) -> dict[str, Any]:
        """The config as plain JSON values (enums by their value)."""
        return {k: (v.value if isinstance(v, Enum) else v) for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_json(cls, values: dict[str, Any]) -> TrainConfig:
        """Rebuild a config from :meth:`to_json` output (unknown keys are an error)."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = set(values) - set(fields)
        if unknown:
            raise RecipeError(f"unknown training options: {sorted(unknown)}")
        enums: dict[str, Any] = {"arch": Arch, "schedule": Schedule, "loss": ClassificationLoss}
        return cls(**{k: (enums[k](v) if k in enums else v) for k, v in values.items()})

    @classmethod
    def plain_baseline(cls, **overrides: Any) -> TrainConfig:
        """Plain SGD: no momentum, no weight decay, no augmentation, constant learning rate."""
        plain: dict[str, Any] = dict(
            momentum=0.0,
            nesterov=False,
            weight_decay=0.0,
            schedule=Schedule.CONSTANT,
            warmup_epochs=0.0,
            crop_padding=0,
            flip=False,
            erasing=0.0,
            label_smoothing=0.0,
        )
        plain.update(overrides)
        return cls(**plain)
