"""The small nets' shapes and options, and the batched augmentations."""

from __future__ import annotations

import pytest
import torch

from mmir.errors import ModelError
from mmir.learn.augment import augment, random_crop, random_erasing, random_flip
from mmir.models.convnets import Arch, NetSpec, build_net

SMALL = [Arch.LENET5, Arch.ALEXNET_SMALL, Arch.VGG_SMALL, Arch.RESNET_SMALL]


@pytest.mark.parametrize("arch", SMALL)
@pytest.mark.parametrize(("channels", "size"), [(1, 28), (3, 32)])
def test_small_nets_give_logits(arch: Arch, channels: int, size: int) -> None:
    net = build_net(NetSpec(arch=arch, in_channels=channels, num_classes=7, width=4, dropout=0.5))
    assert net(torch.randn(2, channels, size, size)).shape == (2, 7)


def test_batch_norm_option() -> None:
    with_bn = build_net(NetSpec(arch=Arch.VGG_SMALL, width=4, batch_norm=True))
    without = build_net(NetSpec(arch=Arch.VGG_SMALL, width=4, batch_norm=False))
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in with_bn.modules())
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in without.modules())


def test_bad_spec() -> None:
    with pytest.raises(ModelError, match="dropout"):
        build_net(NetSpec(arch=Arch.LENET5, dropout=1.0))


@pytest.mark.slow
def test_efficientnet_finetune_freezes_backbone() -> None:
    net = build_net(NetSpec(arch=Arch.EFFICIENTNET_LITE0, in_channels=3, num_classes=3, freeze=-1))
    trainable = [n for n, p in net.named_parameters() if p.requires_grad]
    assert trainable == ["head.1.weight", "head.1.bias"]
    assert net.eval()(torch.randn(1, 3, 64, 64)).shape == (1, 3)
    net.train()
    assert not net.net._bn0.training and net.head.training  # frozen BN keeps its ImageNet statistics


def test_crop_shifts_with_zero_padding() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.arange(16.0).view(1, 1, 4, 4).repeat(64, 1, 1, 1)
    out = random_crop(x, 1, gen)
    assert out.shape == x.shape
    # Every crop is the padded image shifted by −1…1 px: its values are the original's or zeros.
    offsets = {tuple(o[0].nonzero()[0].tolist()) for o in out}
    assert len(offsets) > 1 and set(out.unique().tolist()) <= set(range(16))


def test_flip_and_erasing() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.arange(4.0).view(1, 1, 1, 4).repeat(32, 1, 1, 1)
    flipped = random_flip(x, gen)
    rows = {tuple(r.flatten().tolist()) for r in flipped}
    assert rows == {(0.0, 1.0, 2.0, 3.0), (3.0, 2.0, 1.0, 0.0)}
    ones = torch.ones(50, 1, 10, 10)
    erased = random_erasing(ones, 1.0, gen)
    zeros = (erased == 0).flatten(1).sum(1)
    assert (zeros > 0).all() and (zeros <= 30).all()  # 2–25 % of 100 px, rounding aside
    assert torch.equal(random_erasing(ones, 0.0, gen), ones)


def test_augment_is_reproducible() -> None:
    x = torch.randn(8, 1, 6, 6)
    a = augment(x, torch.Generator().manual_seed(5), padding=1, flip=True, erasing=0.5)
    b = augment(x, torch.Generator().manual_seed(5), padding=1, flip=True, erasing=0.5)
    assert torch.equal(a, b)
