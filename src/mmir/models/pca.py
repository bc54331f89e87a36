"""PCA with optional whitening, learned on a collection's raw descriptors (Jégou & Chum 2012).

The index stores each segment's raw (pre-PCA) descriptor, so a new :class:`PCAWhitening` can be fitted and
applied without another CNN pass. Whitening divides each principal direction by its standard deviation, which
down-weights the frequent, co-occurring (bursty) directions that dominate raw CNN descriptors.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mmir.errors import MmirError

_FORMAT = "mmir-pca/1"


class PCAError(MmirError):
    """A PCA-whitening cannot be fitted, applied or read."""


def l2_normalize(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Rows of ``float[N, D]`` scaled to unit length (zero rows stay zero)."""
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), eps)


@dataclass(frozen=True, eq=False)
class PCAWhitening:
    """A learned projection ``D -> dim``, optionally whitened; descriptors come out L2-normalised.

    Attributes:
        mean: ``float32[D]`` mean of the training descriptors.
        components: ``float32[dim, D]`` principal directions, largest variance first.
        eigenvalues: ``float32[dim]`` variance along each direction (before shrinkage).
        scale: ``float32[dim]`` factor applied after projection (1 without whitening).
        whiten: Whether ``scale`` whitens.
        shrinkage: Shrinkage of the eigenvalues towards their mean used for ``scale`` (0 = full whitening).
    """

    mean: np.ndarray
    components: np.ndarray
    eigenvalues: np.ndarray
    scale: np.ndarray
    whiten: bool
    shrinkage: float

    @property
    def in_dim(self) -> int:
        """``D``."""
        return int(self.components.shape[1])

    @property
    def dim(self) -> int:
        """Output dimension."""
        return int(self.components.shape[0])

    @classmethod
    def fit(
        cls, x: np.ndarray, dim: int, whiten: bool = True, shrinkage: float = 0.0, eps: float = 1e-6
    ) -> PCAWhitening:
        """Learn the projection from ``x`` (``float32[N, D]``, usually L2-normalised descriptors).

        Args:
            x: Training descriptors.
            dim: Output dimension, ``1 ≤ dim ≤ min(D, N - 1)``.
            whiten: Divide each component by ``sqrt(eigenvalue)``.
            shrinkage: In ``[0, 1]``: eigenvalues used for whitening are ``(1-s)·λ + s·mean(λ)``, which damps
                the noisy small-variance directions (1 means plain PCA up to a constant).
            eps: Added to the eigenvalues before the square root.

        Raises:
            PCAError: for too few samples, a bad ``dim`` or ``shrinkage``, or non-finite input.
        """
        data = np.asarray(x, dtype=np.float64)
        if data.ndim != 2:
            raise PCAError(f"PCA needs descriptors shaped [N, D], got {data.shape}")
        n, d = data.shape
        if not 1 <= dim <= min(d, n - 1):
            raise PCAError(f"PCA dimension {dim} must be between 1 and min(D={d}, N-1={n - 1})")
        if not 0.0 <= shrinkage <= 1.0:
            raise PCAError(f"shrinkage must be in [0, 1], got {shrinkage}")
        if not np.isfinite(data).all():
            raise PCAError("PCA input holds NaN or infinite values")
        mean = data.mean(axis=0)
        centred = data - mean
        cov = centred.T @ centred / (n - 1)
        values, vectors = np.linalg.eigh(cov)  # ascending order
        order = np.argsort(values)[::-1][:dim]
        values = np.clip(values[order], 0.0, None)
        vectors = vectors[:, order].T
        # Fix each component's sign (largest coordinate positive) so refits give identical outputs.
        signs = np.sign(vectors[np.arange(dim), np.abs(vectors).argmax(axis=1)])
        vectors = vectors * np.where(signs == 0, 1.0, signs)[:, None]
        if whiten:
            shrunk = (1.0 - shrinkage) * values + shrinkage * values.mean()
            scale = 1.0 / np.sqrt(shrunk + eps)
        else:
            scale = np.ones(dim)
        return cls(
            mean=mean.astype(np.float32),
            components=vectors.astype(np.float32),
            eigenvalues=values.astype(np.float32),
            scale=scale.astype(np.float32),
            whiten=whiten,
            shrinkage=float(shrinkage),
        )

    def transform(self, x: np.ndarray, normalize: bool = True) -> np.ndarray:
        """Project ``float32[N, D]`` to ``float32[N, dim]``, whitened if fitted so, then L2-normalised.

        Raises:
            PCAError: if ``D`` does not match the fitted dimension.
        """
        data = np.asarray(x, dtype=np.float32)
        if data.ndim != 2 or data.shape[1] != self.in_dim:
            raise PCAError(f"PCA was fitted on {self.in_dim}-d descriptors, got shape {data.shape}")
        out = ((data - self.mean) @ self.components.T) * self.scale
        return l2_normalize(out) if normalize else out.astype(np.float32)

    def save(self, path: Path) -> None:
        """Write a plain ``.npz`` (no pickle)."""
        with open(path, "wb") as handle:
            np.savez(
                handle,
                format=np.array(_FORMAT),
                mean=self.mean,
                components=self.components,
                eigenvalues=self.eigenvalues,
                scale=self.scale,
                whiten=np.array(self.whiten),
                shrinkage=np.array(self.shrinkage),
            )

    @classmethod
    def load(cls, path: Path) -> PCAWhitening:
        """Read a file written by :meth:`save`.

        Raises:
            PCAError: if the file is missing or not an mmir PCA file.
        """
        try:
            with np.load(path, allow_pickle=False) as data:
                if str(data["format"]) != _FORMAT:
                    raise PCAError(f"{path}: unsupported PCA format {data['format']!s}")
                return cls(
                    mean=data["mean"],
                    components=data["components"],
                    eigenvalues=data["eigenvalues"],
                    scale=data["scale"],
                    whiten=bool(data["whiten"]),
                    shrinkage=float(data["shrinkage"]),
                )
        except (OSError, KeyError, ValueError) as exc:
            raise PCAError(f"{path}: cannot read PCA-whitening ({exc})") from exc
