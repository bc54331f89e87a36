"""Encoders over torchvision or timm architectures with the user's own weights file.

``load_encoder("torchvision:resnet50", weights_path="resnet50.pth")`` or ``"timm:convnext_tiny"``. Without a
weights file the architecture's published weights are downloaded through torchvision/timm (real users have
internet; mmir's defaults and tests never need it).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from mmir.errors import ModelError
from mmir.models.imagenet import imagenet_synsets
from mmir.models.weights import Preprocessing, file_sha256

if TYPE_CHECKING:
    from mmir.models.backbone import Backbone

IMAGENET_PREPROCESSING = Preprocessing(resize=256, crop=224, interpolation="bilinear")


def external_backbone(library: str, arch: str, weights_path: str | None = None) -> Backbone:
    """``arch`` from ``library`` (``"torchvision"`` or ``"timm"``) as a :class:`~mmir.models.backbone.Backbone`.

    Args:
        library: Where the architecture comes from.
        arch: Its name there (``resnet50``, ``convnext_tiny`` …).
        weights_path: A local state-dict or checkpoint file; ``None`` downloads the published weights.

    Raises:
        ModelError: for an unknown architecture or weights that do not fit it.
    """
    from mmir.models.backbone import Backbone, Lambda

    net = _timm_model(arch, weights_path) if library == "timm" else _torchvision_model(arch, weights_path)
    net.eval()
    features, head = _timm_split(net) if library == "timm" else _torchvision_split(net, arch)
    dim, classes = _probe(features, head)
    identity = f"{file_sha256(Path(weights_path))[:16]}" if weights_path else "published"
    return Backbone(
        name=f"{library}:{arch}",
        features=Lambda(net, features),
        classifier=Lambda(net, head),
        concept_names=imagenet_synsets() if classes == 1000 else tuple(f"class_{i}" for i in range(classes)),
        preprocessing=IMAGENET_PREPROCESSING,
        dim=dim,
        weights_id=f"{library}:{arch}@{identity}",
    )


def _load_state_dict(path: str) -> dict[str, Any]:
    import pickle

    import torch

    try:
        # weights_only: a checkpoint is data, never code to run.
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, ValueError, EOFError, pickle.UnpicklingError) as exc:
        raise ModelError(f"{path}: cannot read weights ({exc})") from exc
    for key in ("state_dict", "model", "model_state"):  # common checkpoint wrappers
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise ModelError(f"{path}: not a state dict")
    return {k.removeprefix("module."): v for k, v in state.items()}


def _classes_in(state: dict[str, Any]) -> int | None:
    """Output classes of the last 2-d weight in a state dict (the classifier), if any."""
    weights = [v for k, v in state.items() if k.endswith("weight") and getattr(v, "ndim", 0) == 2]
    return int(weights[-1].shape[0]) if weights else None


def _torchvision_model(arch: str, weights_path: str | None) -> Any:
    import torchvision

    try:
        if weights_path is None:
            return torchvision.models.get_model(arch, weights="DEFAULT")
        state = _load_state_dict(weights_path)
        net = torchvision.models.get_model(arch, weights=None, num_classes=_classes_in(state) or 1000)
    except ValueError as exc:
        raise ModelError(f"unknown torchvision architecture {arch!r} ({exc})") from exc
    _load_into(net, state, weights_path)
    return net


def _timm_model(arch: str, weights_path: str | None) -> Any:
    import timm

    if not timm.is_model(arch):
        raise ModelError(f"unknown timm architecture {arch!r}")
    if weights_path is None:
        return timm.create_model(arch, pretrained=True)
    state = _load_state_dict(weights_path)
    net = timm.create_model(arch, pretrained=False, num_classes=_classes_in(state) or 1000)
    _load_into(net, state, weights_path)
    return net


def _load_into(net: Any, state: dict[str, Any], path: str) -> None:
    try:
        net.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise ModelError(f"{path}: weights do not fit this architecture ({first})") from exc


def _timm_split(net: Any) -> tuple[Any, Any]:
    return net.forward_features, net.forward_head


def _torchvision_split(net: Any, arch: str) -> tuple[Any, Any]:
    """Last convolutional feature map and classifier of common torchvision families."""
    import torch
    from torch import nn

    if hasattr(net, "fc") and hasattr(net, "avgpool"):  # ResNet, ResNeXt, RegNet, GoogLeNet-like
        body = nn.Sequential(*[m for name, m in net.named_children() if name not in ("avgpool", "fc")])
        return body, lambda fmap: net.fc(torch.flatten(net.avgpool(fmap), 1))
    if hasattr(net, "features") and hasattr(net, "classifier"):  # VGG, AlexNet, EfficientNet, MobileNet, DenseNet…
        pool = getattr(net, "avgpool", nn.AdaptiveAvgPool2d(1))

        def features(x: torch.Tensor) -> torch.Tensor:
            fmap = net.features(x)
            return torch.relu(fmap) if arch.startswith("densenet") else fmap

        return features, lambda fmap: net.classifier(torch.flatten(pool(fmap), 1))
    raise ModelError(f"torchvision:{arch} has no known feature/classifier split; try timm:{arch}")


def _probe(features: Any, head: Any) -> tuple[int, int]:
    """``(descriptor dim, number of classes)`` from one dummy forward pass."""
    import torch

    with torch.inference_mode():
        fmap = features(torch.zeros(1, 3, 224, 224))
        if fmap.ndim != 4:
            raise ModelError(f"expected a [B, C, H, W] feature map, got shape {tuple(fmap.shape)}")
        return int(fmap.shape[1]), int(head(fmap).shape[-1])
