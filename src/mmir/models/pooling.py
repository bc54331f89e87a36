"""Global pooling of convolutional feature maps into descriptors: GAP, GeM and R-MAC.

All functions take a feature map ``x`` of shape ``[B, C, H, W]`` and return ``[B, C]``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from mmir.models.spec import Pooling

__all__ = ["GeM", "Pooling", "gap", "gem", "multiscale_pool", "pool", "rmac", "rmac_regions"]


def gap(x: torch.Tensor) -> torch.Tensor:
    """Global average pooling: ``[B, C, H, W] -> [B, C]``."""
    return x.mean(dim=(-2, -1))


def gem(x: torch.Tensor, p: float | torch.Tensor = 3.0, eps: float = 1e-6) -> torch.Tensor:
    """Generalised-mean pooling (Radenović et al. 2018): ``(mean x^p)^(1/p)``, ``[B, C, H, W] -> [B, C]``.

    ``p = 1`` is average pooling and ``p → ∞`` tends to max pooling. Activations are clamped at
    ``eps`` because GeM is defined for non-negative inputs.
    """
    return x.clamp(min=eps).pow(p).mean(dim=(-2, -1)).pow(1.0 / p)


def rmac_regions(height: int, width: int, levels: int = 3) -> list[tuple[int, int, int, int]]:
    """Square regions of the R-MAC grid (Tolias et al. 2016) as ``(top, left, size_h, size_w)``.

    At level ``l`` regions have side ``2·min(H, W)/(l+1)`` and overlap by about 40 %.
    """
    regions: list[tuple[int, int, int, int]] = []
    short = min(height, width)
    for level in range(1, levels + 1):
        side = max(1, round(2 * short / (level + 1)))
        for top in _starts(height, side, level):
            for left in _starts(width, side, level):
                regions.append((top, left, side, side))
    return regions


def _starts(length: int, side: int, level: int) -> list[int]:
    if side >= length:
        return [0]
    count = level + (1 if length > side * level else 0)
    count = max(count, 2)
    step = (length - side) / (count - 1)
    return sorted({round(i * step) for i in range(count)})


def rmac(x: torch.Tensor, levels: int = 3, eps: float = 1e-6) -> torch.Tensor:
    """Regional maximum activations of convolutions: ``[B, C, H, W] -> [B, C]``.

    Each region is max-pooled and L2-normalised; the regional vectors are summed. The result is not
    normalised (callers L2-normalise the final descriptor).
    """
    # Plain ints: the grid depends only on the map's size, which is fixed for an exported encoder (the ONNX
    # tracer would otherwise hand over shape tensors, which round() does not accept).
    height, width = int(x.shape[-2]), int(x.shape[-1])
    total = torch.zeros(x.shape[:2], dtype=x.dtype, device=x.device)
    for top, left, size_h, size_w in rmac_regions(height, width, levels):
        region = x[..., top : top + size_h, left : left + size_w].amax(dim=(-2, -1))
        total = total + F.normalize(region, dim=-1, eps=eps)
    return total


def pool(x: torch.Tensor, method: Pooling, p: float = 3.0) -> torch.Tensor:
    """Pool a ``[B, C, H, W]`` map with ``method`` into ``[B, C]``."""
    if method is Pooling.AVG:
        return gap(x)
    if method is Pooling.GEM:
        return gem(x, p)
    return rmac(x)


class GeM(nn.Module):
    """GeM pooling with a learnable exponent ``p`` (for fine-tuning)."""

    def __init__(self, p: float = 3.0, eps: float = 1e-6) -> None:
        super().__init__()
        self.p = nn.Parameter(torch.tensor(float(p)))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C, H, W] -> [B, C]``."""
        return gem(x, self.p, self.eps)


def multiscale_pool(
    features: Callable[[torch.Tensor], torch.Tensor],
    batch: torch.Tensor,
    method: Pooling,
    scales: Sequence[float] = (1.0, 2**-0.5, 0.5),
    p: float = 3.0,
) -> torch.Tensor:
    """Multi-scale descriptor: pool the feature map of each rescaled input, L2-normalise, and average.

    The input is resized (bilinear) by each factor in ``scales``, passed through ``features``
    (``[B, 3, h, w] -> [B, C, h', w']``) and pooled with ``method``; the per-scale vectors are L2-normalised
    before averaging so that no scale dominates (Radenović et al. 2018 use scales 1, 1/√2, 1/2).

    Args:
        features: The CNN's feature extractor.
        batch: ``float32[B, 3, H, W]`` preprocessed images.
        method: Pooling applied at every scale.
        scales: Resize factors; the result is not normalised (callers L2-normalise the final descriptor).
        p: GeM exponent.

    Returns:
        ``float32[B, C]``.
    """
    if not scales:
        raise ValueError("multiscale_pool needs at least one scale")
    height, width = int(batch.shape[-2]), int(batch.shape[-1])  # plain ints, as in rmac()
    total: torch.Tensor | None = None
    for scale in scales:
        if scale == 1.0:
            scaled = batch
        else:
            size = (max(1, round(height * scale)), max(1, round(width * scale)))
            scaled = F.interpolate(batch, size=size, mode="bilinear", align_corners=False)
        vector = F.normalize(pool(features(scaled), method, p), dim=-1)
        total = vector if total is None else total + vector
    assert total is not None
    return total / len(scales)
