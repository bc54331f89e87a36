"""Trainable modules that sit after the backbone: the projection head learned by metric learning.

``learn/`` trains these; ``models/`` owns them so that an encoder can be rebuilt without importing ``learn/``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mmir.errors import ModelError
from mmir.models.tensors import is_legacy_npz, load_safetensors, read_state_npz, save_safetensors


class ProjectionHead(nn.Module):
    """A head on frozen descriptors: ``float[B, D] -> float[B, E]`` (linear, or a one-hidden-layer MLP).

    It starts as a random projection; the output is L2-normalised by whoever uses it.
    """

    def __init__(self, in_dim: int, out_dim: int, hidden: int = 0) -> None:
        super().__init__()
        self.in_dim, self.out_dim, self.hidden = in_dim, out_dim, hidden
        if hidden > 0:
            self.net: nn.Module = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, out_dim))
        else:
            self.net = nn.Linear(in_dim, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, D] -> [B, E]``."""
        return self.net(x)

    def config(self) -> dict[str, int]:
        """The constructor arguments, for ``config.json``."""
        return {"in_dim": self.in_dim, "out_dim": self.out_dim, "hidden": self.hidden}

    def save(self, path: Path) -> None:
        """Write the weights as safetensors with the shape in the file's metadata."""
        save_safetensors(self, path, {key: str(value) for key, value in self.config().items()})

    @classmethod
    def load(cls, path: Path) -> ProjectionHead:
        """Read a head written by :meth:`save` (safetensors) or by mmir ≤ 0.1 (``.npz``).

        Raises:
            ModelError: if the file is missing or not a head.
        """
        try:
            if is_legacy_npz(Path(path)):
                (in_dim, out_dim, hidden), state = read_state_npz(path, "_shape")
            else:
                state, meta = load_safetensors(path)
                in_dim, out_dim, hidden = (int(meta[key]) for key in ("in_dim", "out_dim", "hidden"))
            head = cls(in_dim, out_dim, hidden)
            head.load_state_dict(state)
        except (OSError, KeyError, ValueError, IndexError, RuntimeError) as exc:
            raise ModelError(f"{path}: not a projection head file ({exc})") from exc
        return head.eval()

    def project(self, descriptors: np.ndarray) -> np.ndarray:
        """L2-normalised projections ``float32[N, E]`` of ``descriptors`` (``float32[N, D]``)."""
        with torch.inference_mode():
            out = F.normalize(self(torch.as_tensor(np.asarray(descriptors, np.float32))), dim=-1)
        return out.float().numpy()
