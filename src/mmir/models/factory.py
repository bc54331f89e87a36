"""Resolve names and specs into encoders: the one way to build an :class:`~mmir.models.encoder.Encoder`.

``load_encoder("efficientnet-lite0")`` builds the bundled Lite0 with GeM pooling on the default backend (ONNX
Runtime when installed). Names are registered backbones, ``torchvision:<arch>`` / ``timm:<arch>`` (with
``weights_path``), or model directories (:mod:`mmir.models.model_dir`). With ``fingerprint=`` and an ONNX
backend, an encoder already exported for that fingerprint is loaded from the cache without importing PyTorch.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mmir.errors import ModelError
from mmir.models.backends import Backend
from mmir.models.encoder import ComposedEncoder
from mmir.models.joint import is_joint, joint_backbone, joint_spec
from mmir.models.model_dir import is_model_dir, read_model_dir
from mmir.models.registry import backbone_builder, registered_names
from mmir.models.spec import EncoderSpec, HeadKind, fingerprint_of, spec_from_options
from mmir.types import DEFAULT_MODEL

if TYPE_CHECKING:
    from mmir.models.backbone import Backbone
    from mmir.models.network import EncoderNet

log = logging.getLogger(__name__)

# Batch sizes per backend, measured with benchmarks/index_throughput.py on a 2-core CPU: ONNX Runtime gains
# little beyond 16 images per call, eager PyTorch little beyond 32.
BATCH_SIZE = {Backend.TORCH: 32, Backend.ONNX: 16, Backend.ONNX_INT8: 16}


def _load_builtins() -> None:
    import mmir.models.efficientnet  # noqa: F401  (registers the bundled backbones)


def list_models() -> list[str]:
    """Names of the registered backbones (prefixed names and model directories are not listed)."""
    _load_builtins()
    return registered_names()


def resolve_spec(model: str | os.PathLike[str] | EncoderSpec, **options: Any) -> EncoderSpec:
    """The :class:`EncoderSpec` for a name, a model directory or a spec, plus option strings.

    Raises:
        ModelError: for options that conflict with a model directory's recorded ones, or unknown options.
    """
    if isinstance(model, EncoderSpec):
        if options:
            raise ModelError("options cannot be combined with an EncoderSpec; put them in the spec")
        return model
    if is_model_dir(model):
        spec = read_model_dir(Path(model))
        given = spec_from_options(spec.backbone, options) if options else None
        if given is not None and (given.pooling, given.scales) != (spec.pooling, spec.scales):
            raise ModelError(f"{model}: the head was trained with pooling={spec.pooling.value!r}; options {options}")
        return spec
    spec = spec_from_options(str(model), options)
    # open_clip:<arch>: one embedding per image, so no pooling choice
    return joint_spec(spec, options) if is_joint(spec.backbone) else spec


def build_backbone(spec: EncoderSpec) -> Backbone:
    """Load the backbone ``spec`` names (offline for bundled ones).

    Raises:
        ModelError: for an unknown name or unusable weights.
    """
    _load_builtins()
    builder = backbone_builder(spec.backbone)
    if builder is not None:
        if spec.weights:
            raise ModelError(f"{spec.backbone} uses its bundled weights; --weights is for torchvision:/timm: models")
        return builder()
    prefix, _, arch = spec.backbone.partition(":")
    if arch and is_joint(spec.backbone):
        return joint_backbone(arch, spec.weights)
    if arch and prefix in ("torchvision", "timm"):
        from mmir.models.external import external_backbone

        return external_backbone(prefix, arch, spec.weights)
    known = ", ".join(registered_names())
    raise ModelError(
        f"unknown model {spec.backbone!r}; known: {known}, torchvision:<arch> / timm:<arch> / open_clip:<arch> "
        "with --weights, or a model directory"
    )


def build_network(spec: EncoderSpec) -> tuple[Backbone, EncoderNet]:
    """The backbone and the composed PyTorch network of ``spec`` (eval mode)."""
    from mmir.models.network import EncoderNet

    backbone = build_backbone(spec)
    if spec.head is None:
        return backbone, EncoderNet(backbone, spec)
    if spec.head.kind is HeadKind.PROJECTION:
        from mmir.models.heads import ProjectionHead

        head = ProjectionHead.load(Path(spec.head.file))
        if head.in_dim != backbone.dim:
            raise ModelError(
                f"{spec.head.file}: head expects {head.in_dim}-d input but {spec.backbone} gives {backbone.dim}-d"
            )
        return backbone, EncoderNet(backbone, spec, projection=head)
    if backbone.split_tail is None:
        raise ModelError(f"{spec.head.file}: fine-tuned tails exist only for the bundled EfficientNet-Lite models")
    from mmir.models.finetuned import read_tail

    start, state = read_tail(Path(spec.head.file))
    trunk, rest, tail = backbone.split_tail(start)
    try:
        tail.load_state_dict(state)
    except RuntimeError as exc:
        problem = f"weights do not fit {spec.backbone} split at block {start} ({exc})"
        raise ModelError(f"{spec.head.file}: {problem}") from exc
    return backbone, EncoderNet(backbone, spec, tail=(trunk, rest, tail.eval()))


def load_encoder(
    model: str | os.PathLike[str] | EncoderSpec = DEFAULT_MODEL,
    *,
    backend: Backend | str = Backend.AUTO,
    fingerprint: str | None = None,
    **options: Any,
) -> ComposedEncoder:
    """Build an encoder.

    Args:
        model: A registered name, ``torchvision:<arch>`` / ``timm:<arch>``, a model directory, or a spec.
        backend: ``auto`` (ONNX Runtime when installed, else PyTorch), ``torch``, ``onnx`` or ``onnx-int8``.
        fingerprint: The fingerprint the caller expects (a collection's); a cached ONNX export of it is used
            directly, and a model that now loads with another fingerprint is refused.
        **options: ``pooling``, ``multiscale``, ``weights_path`` (strings, as the CLI passes them).

    Raises:
        ModelError: for unknown names or options, unusable weights, or a fingerprint mismatch.
    """
    chosen = Backend(backend).resolved()
    if fingerprint is not None and chosen is not Backend.TORCH:
        from mmir.models import onnx_cache

        cached = onnx_cache.lookup(fingerprint, quantized=chosen is Backend.ONNX_INT8)
        if cached is not None:
            return _onnx_encoder(cached, spec=None, backend=chosen)
    spec = resolve_spec(model, **options)
    backbone, net = build_network(spec)
    found = fingerprint_of(spec, backbone.weights_id)
    if fingerprint is not None and found != fingerprint:
        raise ModelError(f"{spec.display_name} now loads as {found}, not the expected {fingerprint}")
    dim = spec.head.dim if spec.head is not None and spec.head.dim else _descriptor_dim(net, backbone)
    if chosen is not Backend.TORCH:
        encoder = _exported(spec, backbone, net, found, dim, chosen)
        if encoder is not None:
            return encoder
        chosen = Backend.TORCH
    from mmir.models.backends import TorchRunner

    return ComposedEncoder(
        spec=spec, fingerprint=found, dim=dim, concept_names=backbone.concept_names,
        preprocess=backbone.preprocessing, input_side=backbone.preprocessing.resize, runner=TorchRunner(net),
        batch_size=BATCH_SIZE[Backend.TORCH], name=spec.display_name,
    )  # fmt: skip


def _exported(
    spec: EncoderSpec, backbone: Backbone, net: EncoderNet, fingerprint: str, dim: int, backend: Backend
) -> ComposedEncoder | None:
    """The ONNX encoder (exporting it on first use), or ``None`` with a warning when the export fails."""
    from mmir.models import onnx_cache

    try:
        cached = onnx_cache.export(
            net, fingerprint=fingerprint, name=spec.display_name, concept_names=backbone.concept_names, dim=dim,
            preprocessing=backbone.preprocessing, quantized=backend is Backend.ONNX_INT8,
        )  # fmt: skip
    except ModelError as exc:
        log.warning("%s: falling back to PyTorch: %s", spec.display_name, exc)
        return None
    return _onnx_encoder(cached, spec=spec, backend=backend)


def _onnx_encoder(cached: Any, spec: EncoderSpec | None, backend: Backend) -> ComposedEncoder:
    from mmir.models.backends import OnnxRunner

    runner = OnnxRunner(Path(cached.onnx_path), backend.value, concepts=len(cached.concept_names))
    return ComposedEncoder(
        spec=spec, fingerprint=cached.fingerprint, dim=cached.dim, concept_names=cached.concept_names,
        preprocess=cached.preprocessing, input_side=cached.preprocessing.resize, runner=runner,
        batch_size=BATCH_SIZE[backend], name=cached.name,
    )  # fmt: skip


def _descriptor_dim(net: EncoderNet, backbone: Backbone) -> int:
    """``E``: the backbone's width, or the projection head's output."""
    projection = net.projection
    return int(getattr(projection, "out_dim", backbone.dim)) if projection is not None else backbone.dim
