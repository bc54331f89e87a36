"""Models: one composable encoder (spec → network → PyTorch or ONNX Runtime), the backbone registry,
bundled offline weights, pooling, PCA-whitening and the small nets trained from scratch.

``load_encoder("efficientnet-lite0")`` builds an :class:`~mmir.models.encoder.Encoder` offline.
"""

from __future__ import annotations

from mmir.models.backends import Backend
from mmir.models.encoder import ComposedEncoder, Encoded, Encoder
from mmir.models.factory import list_models, load_encoder, resolve_spec
from mmir.models.registry import register_backbone
from mmir.models.spec import EncoderSpec, HeadKind, HeadSpec

__all__ = [
    "Backend",
    "ComposedEncoder",
    "Encoded",
    "Encoder",
    "EncoderSpec",
    "HeadKind",
    "HeadSpec",
    "list_models",
    "load_encoder",
    "register_backbone",
    "resolve_spec",
]
