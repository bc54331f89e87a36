"""Batched data augmentation on normalised tensors: random crop with padding, horizontal flip, random erasing.

Working on a whole batch at once (rather than per-image PIL transforms in worker processes) keeps the
augmentation cheap on a 2-core machine; every random draw comes from the generator passed in, so a run is
reproducible and a resumed run replays the same draws.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F


def random_crop(x: torch.Tensor, padding: int, gen: torch.Generator) -> torch.Tensor:
    """Zero-pad ``float32[B, C, H, W]`` by ``padding`` and crop back to ``H×W`` at a random offset each."""
    if padding <= 0:
        return x
    b, _, h, w = x.shape
    padded = F.pad(x, (padding, padding, padding, padding))
    offsets = torch.randint(0, 2 * padding + 1, (b, 2), generator=gen)
    # One gather for the whole batch (a Python loop over images cost more than the forward pass).
    rows = (offsets[:, :1] + torch.arange(h))[:, :, None]  # [B, H, 1]
    cols = (offsets[:, 1:] + torch.arange(w))[:, None, :]  # [B, 1, W]
    crops = padded.permute(0, 2, 3, 1)[torch.arange(b)[:, None, None], rows, cols]  # [B, H, W, C]
    return crops.permute(0, 3, 1, 2).contiguous()


def random_flip(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Mirror each image of ``float32[B, C, H, W]`` left-right with probability 1/2."""
    mask = torch.rand(x.shape[0], generator=gen) < 0.5
    return torch.where(mask[:, None, None, None], x.flip(-1), x)


def random_erasing(
    x: torch.Tensor, p: float, gen: torch.Generator, area: tuple[float, float] = (0.02, 0.25)
) -> torch.Tensor:
    """With probability ``p`` per image, set a random rectangle (2–25 % of the area, aspect 0.3–3.3) to 0.

    On normalised inputs 0 is the training mean, so an erased patch carries no signal.
    """
    if p <= 0:
        return x
    b, _, h, w = x.shape
    u, a, r, py, px = torch.rand(5, b, generator=gen)
    target = (area[0] + a * (area[1] - area[0])) * h * w
    aspect = torch.exp(-1.2 + 2.4 * r)  # log-uniform in ~[0.3, 3.3]
    eh = (target * aspect).sqrt().round().clamp(1, h)
    ew = (target / aspect).sqrt().round().clamp(1, w)
    top = (py * (h - eh + 1)).floor()
    left = (px * (w - ew + 1)).floor()
    ys = torch.arange(h, dtype=torch.float32)[None, :, None]
    xs = torch.arange(w, dtype=torch.float32)[None, None, :]
    inside = (
        (ys >= top[:, None, None])
        & (ys < (top + eh)[:, None, None])
        & (xs >= left[:, None, None])
        & (xs < (left + ew)[:, None, None])
    )  # [B, H, W]
    mask = inside & (u < p)[:, None, None]
    return x.masked_fill(mask[:, None], 0.0)


def augment(x: torch.Tensor, gen: torch.Generator, *, padding: int, flip: bool, erasing: float) -> torch.Tensor:
    """Apply crop, flip and erasing (each only if enabled) to a batch ``float32[B, C, H, W]``."""
    x = random_crop(x, padding, gen)
    if flip:
        x = random_flip(x, gen)
    return random_erasing(x, erasing, gen)
