"""Models: the registry of encoders, bundled offline weights, pooling and backbones.

``get_encoder("efficientnet-lite0")`` builds an :class:`~mmir.models.encoder.Encoder` offline.
"""

from __future__ import annotations

from mmir.models.registry import get_encoder, list_models, register_model

__all__ = ["get_encoder", "list_models", "register_model"]
