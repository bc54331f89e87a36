"""torchvision/timm architectures with the user's own weights file (made here, offline)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mmir.errors import ModelError
from mmir.models import load_encoder


def _same_as_model(encoder, net) -> None:
    torch.manual_seed(0)
    batch = torch.randn(2, 3, 224, 224)
    encoded = encoder.encode_batch(batch.numpy())
    with torch.inference_mode():
        expected = torch.softmax(net.eval()(batch), dim=-1).numpy()
    assert np.allclose(encoded.concepts, expected, atol=1e-5)  # the feature/head split is faithful
    assert np.allclose(np.linalg.norm(encoded.descriptors, axis=1), 1.0, atol=1e-5)


def test_torchvision_architecture_from_a_local_checkpoint(tmp_path: Path) -> None:
    import torchvision

    torch.manual_seed(1)
    net = torchvision.models.resnet18(weights=None, num_classes=10)
    path = tmp_path / "resnet18.pth"
    torch.save({"state_dict": net.state_dict()}, path)  # wrapped, as training scripts often save
    encoder = load_encoder("torchvision:resnet18", weights_path=str(path))
    assert encoder.dim == 512 and len(encoder.concept_names) == 10
    assert encoder.fingerprint.startswith("torchvision:resnet18@")
    _same_as_model(encoder, net)


def test_timm_architecture_from_a_local_checkpoint(tmp_path: Path) -> None:
    import timm

    torch.manual_seed(2)
    net = timm.create_model("resnet10t", pretrained=False)
    path = tmp_path / "r10.pth"
    torch.save(net.state_dict(), path)
    encoder = load_encoder("timm:resnet10t", weights_path=str(path))
    assert len(encoder.concept_names) == 1000 and encoder.concept_names[0] == "n01440764"
    _same_as_model(encoder, net)


def test_wrong_weights_and_unknown_names_are_clear_errors(tmp_path: Path) -> None:
    import torchvision

    path = tmp_path / "alexnet.pth"
    torch.save(torchvision.models.alexnet(weights=None).state_dict(), path)
    with pytest.raises(ModelError, match="do not fit"):
        load_encoder("torchvision:resnet18", weights_path=str(path))
    with pytest.raises(ModelError, match="unknown"):
        load_encoder("timm:no_such_net", weights_path=str(path))
    with pytest.raises(ModelError, match="unknown model"):
        load_encoder("nonsense")
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError, match="garbage.pth"):
        load_encoder("torchvision:resnet18", weights_path=str(garbage))
