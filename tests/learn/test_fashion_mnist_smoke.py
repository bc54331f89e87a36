"""A short real run: LeNet-5 on 3,000 Fashion-MNIST images learns well above chance in two epochs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mmir.evaluate.classification import topk_error
from mmir.learn.datasets import load_idx_images
from mmir.learn.idx import FASHION_MNIST_DIR
from mmir.learn.predict import Normaliser, predict_logits
from mmir.learn.recipe import TrainConfig
from mmir.learn.trainer import train_classifier
from mmir.models.convnets import Arch

pytestmark = pytest.mark.skipif(
    not (FASHION_MNIST_DIR / "t10k-images-idx3-ubyte.gz").exists(),
    reason="needs Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist)",
)


@pytest.mark.slow
def test_lenet_learns_fashion_mnist(tmp_path: Path) -> None:
    train = load_idx_images(FASHION_MNIST_DIR, split="train").subset(torch.arange(3000))
    test = load_idx_images(FASHION_MNIST_DIR, split="test").subset(torch.arange(1000))
    assert test.class_names[9] == "Ankle boot" and train.images.shape[1:] == (1, 28, 28)
    cfg = TrainConfig(arch=Arch.LENET5, epochs=2, batch_size=64, lr=0.05, validation_fraction=0.1, erasing=0.0)
    result = train_classifier(train, cfg, tmp_path, progress=False)
    logits = predict_logits(result.model, test.images, Normaliser(result.meta.mean, result.meta.std)).numpy()
    assert topk_error(logits, test.targets.numpy(), 1) < 0.35  # chance is 0.9
