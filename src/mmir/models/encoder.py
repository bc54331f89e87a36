"""The encoder: images in, an L2-normalised descriptor and concept probabilities out, in one pass.

There is one implementation, :class:`ComposedEncoder`: a typed :class:`~mmir.models.spec.EncoderSpec`, the
backbone's preprocessing (NumPy, no torch needed), and a runner that executes the composed network — eager
PyTorch (:class:`~mmir.models.backends.TorchRunner`) or ONNX Runtime (:class:`~mmir.models.backends.OnnxRunner`).
Build one with :func:`mmir.models.load_encoder`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from PIL import Image

    from mmir.models.spec import EncoderSpec


@dataclass(frozen=True)
class Encoded:
    """The output of an encoder for a batch of ``B`` images.

    Attributes:
        descriptors: ``float32[B, D]``, L2-normalised rows.
        concepts: ``float32[B, C]`` concept presence probabilities.
    """

    descriptors: np.ndarray
    concepts: np.ndarray


@runtime_checkable
class Encoder(Protocol):
    """What the indexing pipeline and the search engine need from a model."""

    name: str
    dim: int
    concept_names: tuple[str, ...]
    fingerprint: str
    input_side: int
    batch_size: int

    @property
    def backend(self) -> str:
        """The runtime that executes the network (``torch``, ``onnx`` …)."""
        ...

    def preprocess(self, image: Image.Image) -> np.ndarray:
        """An RGB PIL image (any size) -> ``float32[3, S, S]`` network input."""
        ...

    def encode(self, images: Sequence[Image.Image]) -> Encoded:
        """Encode RGB PIL images (any size) into descriptors and concept probabilities."""
        ...

    def encode_batch(self, batch: np.ndarray) -> Encoded:
        """Encode preprocessed inputs ``float32[B, 3, S, S]``."""
        ...


class Runner(Protocol):
    """Executes the composed network on a preprocessed batch."""

    name: str

    def run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``float32[B, 3, S, S] -> (descriptors float32[B, D], concepts float32[B, C])``."""
        ...


class ComposedEncoder:
    """The one :class:`Encoder` implementation.

    Args:
        spec: What the encoder computes (``None`` only for an encoder restored from the ONNX cache by fingerprint).
        fingerprint: Identifies spec + weights; indexes refuse another fingerprint.
        dim: Descriptor dimension ``D``.
        concept_names: The ``C`` concept names.
        preprocess: PIL image -> ``float32[3, S, S]``.
        input_side: Shorter side the preprocessing resizes to (lets decoders skip detail).
        runner: The backend that runs the network.
        batch_size: Batch size that suits the backend (the pipeline groups images by it).
        name: Name shown to users.
    """

    def __init__(
        self,
        *,
        spec: EncoderSpec | None,
        fingerprint: str,
        dim: int,
        concept_names: Sequence[str],
        preprocess: Callable[[Image.Image], np.ndarray],
        input_side: int,
        runner: Runner,
        batch_size: int,
        name: str,
    ) -> None:
        self.spec = spec
        self.fingerprint = fingerprint
        self.dim = dim
        self.concept_names = tuple(concept_names)
        self.preprocess = preprocess
        self.input_side = input_side
        self.runner = runner
        self.batch_size = batch_size
        self.name = name

    @property
    def backend(self) -> str:
        """``"torch"``, ``"onnx"`` or ``"onnx-int8"``."""
        return self.runner.name

    @property
    def concurrent_batches(self) -> int:
        """How many ``encode_batch`` calls may usefully run at once (2 for ONNX lanes, 1 for eager torch)."""
        return int(getattr(self.runner, "concurrent_batches", 1))

    def encode(self, images: Sequence[Image.Image]) -> Encoded:
        """Encode RGB PIL images; ``B = len(images)`` rows."""
        if not images:
            return self._empty()
        return self.encode_batch(np.stack([self.preprocess(image) for image in images]))

    def encode_batch(self, batch: np.ndarray) -> Encoded:
        """Encode ``float32[B, 3, S, S]``, in chunks of :attr:`batch_size`."""
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        if len(batch) == 0:
            return self._empty()
        size = self.batch_size
        parts = [self.runner.run(batch[start : start + size]) for start in range(0, len(batch), size)]
        descriptors = np.concatenate([part[0] for part in parts]).astype(np.float32, copy=False)
        concepts = np.concatenate([part[1] for part in parts]).astype(np.float32, copy=False)
        return Encoded(descriptors, concepts)

    def _empty(self) -> Encoded:
        return Encoded(np.zeros((0, self.dim), np.float32), np.zeros((0, len(self.concept_names)), np.float32))

    def __repr__(self) -> str:
        return f"ComposedEncoder({self.fingerprint!r}, backend={self.backend!r}, dim={self.dim})"
