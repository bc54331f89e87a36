"""Small convolutional nets to train from scratch on small inputs (28–64 px), and EfficientNet fine-tuning.

LeNet-5 follows the PyTorch tutorial net; the AlexNet-, VGG- and ResNet-style nets keep the shape of their
namesakes (large-then-small kernels, stacked 3×3 convs, residual blocks) at a size a CPU can train. Every net
takes ``float32[B, C, H, W]`` and returns logits ``float32[B, num_classes]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import torch
from torch import nn

from mmir.errors import ModelError


class Arch(StrEnum):
    """The architectures ``mmir train classify --arch`` accepts."""

    LENET5 = "lenet5"
    ALEXNET_SMALL = "alexnet-small"
    VGG_SMALL = "vgg-small"
    RESNET_SMALL = "resnet-small"
    EFFICIENTNET_LITE0 = "efficientnet-lite0"
    EFFICIENTNET_LITE2 = "efficientnet-lite2"


@dataclass(frozen=True)
class NetSpec:
    """What a net needs to know to be built.

    Attributes:
        arch: Which architecture.
        in_channels: Input channels (1 for grey, 3 for RGB).
        num_classes: Output logits.
        batch_norm: Insert batch normalisation after each conv (ignored by EfficientNet, which has its own).
        dropout: Dropout probability before the classifier (0 disables it).
        width: Channels of the first stage; later stages double it (small nets only).
        pretrained: Start EfficientNet from its bundled ImageNet weights.
        freeze: For EfficientNet, how many of its leading MBConv blocks (and the stem) stay frozen;
            -1 freezes the whole backbone so only the new head learns.
    """

    arch: Arch
    in_channels: int = 1
    num_classes: int = 10
    batch_norm: bool = True
    dropout: float = 0.0
    width: int = 32
    pretrained: bool = True
    freeze: int = 0


def _conv(cin: int, cout: int, kernel: int, bn: bool, stride: int = 1) -> list[nn.Module]:
    # Without BN the conv needs its own bias; with BN the bias is redundant (BN's shift replaces it).
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=not bn)]
    if bn:
        layers.append(nn.BatchNorm2d(cout))
    layers.append(nn.ReLU(inplace=True))
    return layers


class LeNet5(nn.Module):
    """The PyTorch-tutorial LeNet-5: two 5×5 convs with max-pooling, then 120-84-classes fully connected."""

    def __init__(self, spec: NetSpec) -> None:
        super().__init__()
        bn = spec.batch_norm
        self.features = nn.Sequential(
            *_conv(spec.in_channels, 6, 5, bn),
            nn.MaxPool2d(2),
            *_conv(6, 16, 5, bn),
            nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(5),  # makes the head independent of the input size (28 or 32 px)
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(16 * 25, 120),
            nn.ReLU(inplace=True),
            nn.Dropout(spec.dropout),
            nn.Linear(120, 84),
            nn.ReLU(inplace=True),
            nn.Linear(84, spec.num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``float32[B, C, H, W]`` → logits ``float32[B, K]``."""
        return self.classifier(self.features(x))


class AlexNetSmall(nn.Module):
    """AlexNet's pattern shrunk for small inputs: a wide 5×5 conv, then 3×3 convs, pooling, a dropout MLP."""

    def __init__(self, spec: NetSpec) -> None:
        super().__init__()
        w, bn = spec.width, spec.batch_norm
        self.features = nn.Sequential(
            *_conv(spec.in_channels, w * 2, 5, bn),
            nn.MaxPool2d(2),
            *_conv(w * 2, w * 4, 3, bn),
            nn.MaxPool2d(2),
            *_conv(w * 4, w * 6, 3, bn),
            *_conv(w * 6, w * 4, 3, bn),
            nn.AdaptiveMaxPool2d(3),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(spec.dropout),
            nn.Linear(w * 4 * 9, w * 8),
            nn.ReLU(inplace=True),
            nn.Dropout(spec.dropout),
            nn.Linear(w * 8, spec.num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``float32[B, C, H, W]`` → logits ``float32[B, K]``."""
        return self.classifier(self.features(x))


class VGGSmall(nn.Module):
    """VGG's pattern: stages of two 3×3 convs then 2×2 max-pooling, channels doubling per stage; GAP head."""

    def __init__(self, spec: NetSpec, stages: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = spec.in_channels
        for stage in range(stages):
            cout = spec.width * 2**stage
            layers += _conv(cin, cout, 3, spec.batch_norm) + _conv(cout, cout, 3, spec.batch_norm)
            if stage < stages - 1:
                layers.append(nn.MaxPool2d(2))
            cin = cout
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.classifier = nn.Sequential(nn.Dropout(spec.dropout), nn.Linear(cin, spec.num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``float32[B, C, H, W]`` → logits ``float32[B, K]``."""
        return self.classifier(self.features(x))


class BasicBlock(nn.Module):
    """Two 3×3 convs with an identity (or 1×1 projection) shortcut, as in ResNet-18/34."""

    def __init__(self, cin: int, cout: int, stride: int, bn: bool) -> None:
        super().__init__()
        norm = nn.BatchNorm2d if bn else nn.Identity
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=not bn)
        self.bn1 = norm(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=not bn)
        self.bn2 = norm(cout)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=not bn), norm(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``float32[B, cin, H, W]`` → ``float32[B, cout, H/stride, W/stride]``."""
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNetSmall(nn.Module):
    """A compact ResNet: a 3×3 stem, then one residual block per stage (stride 2 from the 2nd), GAP head."""

    def __init__(self, spec: NetSpec, blocks: Sequence[int] = (1, 1, 1)) -> None:
        super().__init__()
        w = spec.width
        self.stem = nn.Sequential(*_conv(spec.in_channels, w, 3, spec.batch_norm))
        stages: list[nn.Module] = []
        cin = w
        for i, count in enumerate(blocks):
            cout = w * 2**i
            for j in range(count):
                stages.append(BasicBlock(cin, cout, 2 if (i > 0 and j == 0) else 1, spec.batch_norm))
                cin = cout
        self.stages = nn.Sequential(*stages)
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(spec.dropout), nn.Linear(cin, spec.num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``float32[B, C, H, W]`` → logits ``float32[B, K]``."""
        return self.head(self.stages(self.stem(x)))


class EfficientNetFinetune(nn.Module):
    """A bundled EfficientNet-Lite backbone with a new head, optionally with its first blocks frozen."""

    def __init__(self, spec: NetSpec) -> None:
        super().__init__()
        from mmir.models.efficientnet import load_efficientnet_lite

        # Any: the third-party EfficientNet class exposes its parts as untyped attributes.
        net: Any = load_efficientnet_lite(spec.arch.value, num_classes=1000, pretrained=spec.pretrained)
        self.head = nn.Sequential(nn.Dropout(spec.dropout), nn.Linear(int(net._fc.in_features), spec.num_classes))
        net._fc = nn.Identity()  # the ImageNet classifier is replaced by the new head
        self.net = net
        self.in_channels = spec.in_channels
        self._freeze(spec.freeze)

    def _freeze(self, count: int) -> None:
        net: Any = self.net
        blocks = list(net._blocks)
        frozen: list[nn.Module] = [net._conv_stem, net._bn0] if count != 0 else []
        frozen += blocks if count < 0 else blocks[:count]
        if count < 0:
            frozen += [net._conv_head, net._bn1]
        for module in frozen:
            for param in module.parameters():
                param.requires_grad_(False)
        self._frozen = frozen

    def train(self, mode: bool = True) -> EfficientNetFinetune:
        """Switch modes, but keep frozen layers in eval mode: their batch-norm statistics must not drift."""
        super().train(mode)
        for module in self._frozen:
            module.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``float32[B, C, H, W]`` (grey inputs are repeated to RGB) → logits ``float32[B, K]``."""
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        fmap = self.net.extract_features(x)  # [B, 1280, h, w]
        return self.head(fmap.mean(dim=(-2, -1)))


def build_net(spec: NetSpec) -> nn.Module:
    """Build the net ``spec`` describes (fresh weights, except EfficientNet's bundled backbone)."""
    if spec.num_classes < 1 or spec.in_channels < 1:
        raise ModelError(f"a net needs at least one class and one input channel, got {spec}")
    if not 0.0 <= spec.dropout < 1.0:
        raise ModelError(f"dropout must lie in [0, 1), got {spec.dropout}")
    builders: dict[Arch, type[nn.Module]] = {
        Arch.LENET5: LeNet5,
        Arch.ALEXNET_SMALL: AlexNetSmall,
        Arch.VGG_SMALL: VGGSmall,
        Arch.RESNET_SMALL: ResNetSmall,
        Arch.EFFICIENTNET_LITE0: EfficientNetFinetune,
        Arch.EFFICIENTNET_LITE2: EfficientNetFinetune,
    }
    return builders[Arch(spec.arch)](spec)
