"""PNG plots of training curves and confusion matrices (matplotlib, headless)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # no display on servers; must precede the pyplot import
    import matplotlib.pyplot as plt

    return plt


def plot_curves(history: Sequence[dict[str, float]], path: Path) -> None:
    """Loss (left) and error (right) per epoch, training and validation, into ``path``."""
    plt = _pyplot()
    epochs = [h["epoch"] for h in history]
    fig, (ax_loss, ax_err) = plt.subplots(1, 2, figsize=(10, 4))
    for key, ax in (("loss", ax_loss), ("error", ax_err)):
        for split in ("train", "val"):
            values = [h.get(f"{split}_{key}", float("nan")) for h in history]
            if not all(np.isnan(values)):
                ax.plot(epochs, values, marker="o", label=split)
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_confusion(confusion: np.ndarray, class_names: Sequence[str], path: Path) -> None:
    """The confusion matrix (rows true, columns predicted) as a heat map with counts, into ``path``."""
    plt = _pyplot()
    size = max(4.0, 0.6 * len(class_names) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(confusion, cmap="Blues")
    ticks = range(len(class_names))
    ax.set_xticks(ticks, class_names, rotation=60, ha="right")
    ax.set_yticks(ticks, class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    limit = confusion.max(initial=0) / 2
    for (i, j), value in np.ndenumerate(confusion):
        ax.text(
            j,
            i,
            str(value),
            ha="center",
            va="center",
            color="white" if value > limit else "black",
            fontsize=7,
        )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
