"""Recurrent classifiers over per-frame descriptor sequences (Elman RNN, LSTM, GRU) and a bag-of-frames baseline.

Input: ``float32[B, T, D]`` frame descriptors, padded to the longest clip, with ``lengths int64[B]``; output:
``float32[B, K]`` class logits. Recurrent nets read the sequence in order and classify from the last valid
hidden state (packed sequences, so padding never enters the state); the bag-of-frames baseline averages the
valid frames first, so it cannot tell "A then B" from "B then A".
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn


class SequenceArch(str, enum.Enum):
    """Sequence model architectures."""

    RNN = "rnn"  # Elman network: h_t = tanh(W x_t + U h_{t-1} + b)
    LSTM = "lstm"
    GRU = "gru"
    BAG = "bag"  # order-free baseline: mean of the frames, then an MLP


@dataclass(frozen=True)
class SequenceConfig:
    """What a sequence model looks like (saved beside its weights).

    Attributes:
        arch: Architecture.
        input_dim: Frame descriptor dimension ``D``.
        classes: Class names (``K`` of them).
        hidden: Hidden state size.
        layers: Stacked recurrent layers.
        dropout: Dropout on the input projection and between layers.
    """

    arch: SequenceArch
    input_dim: int
    classes: tuple[str, ...]
    hidden: int = 128
    layers: int = 1
    dropout: float = 0.1

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        data = asdict(self)
        data["arch"] = self.arch.value
        data["classes"] = list(self.classes)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SequenceConfig:
        """Inverse of :meth:`to_dict`."""
        return cls(**{**data, "arch": SequenceArch(data["arch"]), "classes": tuple(data["classes"])})


class RecurrentClassifier(nn.Module):
    """Linear projection → RNN/LSTM/GRU → last valid hidden state → linear classifier."""

    def __init__(self, config: SequenceConfig) -> None:
        super().__init__()
        self.config = config
        self.project = nn.Sequential(nn.Linear(config.input_dim, config.hidden), nn.ReLU(), nn.Dropout(config.dropout))
        kinds: dict[SequenceArch, Any] = {
            SequenceArch.RNN: nn.RNN, SequenceArch.LSTM: nn.LSTM, SequenceArch.GRU: nn.GRU,
        }  # fmt: skip
        self.recurrent = kinds[config.arch](
            config.hidden, config.hidden, num_layers=config.layers, batch_first=True,
            dropout=config.dropout if config.layers > 1 else 0.0,
        )  # fmt: skip
        self.classify = nn.Linear(config.hidden, len(config.classes))

    def forward(self, frames: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``float32[B, T, D]``, ``int64[B]`` → logits ``float32[B, K]``."""
        x = self.project(frames)
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths.cpu().clamp(min=1), batch_first=True,
                                                   enforce_sorted=False)  # fmt: skip
        _, state = self.recurrent(packed)
        hidden = state[0] if isinstance(state, tuple) else state  # LSTM returns (h, c)
        return self.classify(hidden[-1])


class BagOfFrames(nn.Module):
    """Mean of the valid frames → MLP → logits (the order-free baseline)."""

    def __init__(self, config: SequenceConfig) -> None:
        super().__init__()
        self.config = config
        self.mlp = nn.Sequential(
            nn.Linear(config.input_dim, config.hidden), nn.ReLU(), nn.Dropout(config.dropout),
            nn.Linear(config.hidden, len(config.classes)),
        )  # fmt: skip

    def forward(self, frames: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``float32[B, T, D]``, ``int64[B]`` → logits ``float32[B, K]``."""
        steps = torch.arange(frames.shape[1], device=frames.device)[None, :]
        mask = (steps < lengths[:, None]).to(frames.dtype)[..., None]
        mean = (frames * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
        return self.mlp(mean)


def build_sequence_model(config: SequenceConfig) -> nn.Module:
    """The model for ``config.arch``."""
    return BagOfFrames(config) if config.arch is SequenceArch.BAG else RecurrentClassifier(config)
