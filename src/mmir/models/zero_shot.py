"""A zero-shot concept head: class scores from the cosine between an image embedding and class text embeddings."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class ZeroShotHead(nn.Module):
    """``[B, E, 1, 1] -> [B, C]`` logits: ``scale ×`` cosine of each image embedding with each class's text.

    Args:
        classes: ``float32[C, E]`` L2-normalised text embeddings of the class prompts.
        scale: The joint model's temperature (``exp(logit_scale)``), so softmax gives its zero-shot probabilities.
    """

    def __init__(self, classes: np.ndarray, scale: float) -> None:
        super().__init__()
        self.classes: torch.Tensor
        self.register_buffer("classes", torch.from_numpy(np.ascontiguousarray(classes, np.float32)))
        self.scale = float(scale)

    def forward(self, fmap: torch.Tensor) -> torch.Tensor:
        """``[B, E, 1, 1]`` (or ``[B, E]``) image embeddings → ``[B, C]`` logits."""
        image = F.normalize(fmap.flatten(1), dim=-1)
        return self.scale * image @ self.classes.T
