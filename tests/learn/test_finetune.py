"""Fine-tuning EfficientNet-Lite0's last blocks by metric learning, and the model entry it becomes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from mmir.errors import ModelError
from mmir.learn.finetune import finetune_tail, interpolate_weights
from mmir.learn.metric import MetricConfig, MetricLoss, MinerKind
from mmir.models import load_encoder
from mmir.models.efficientnet import split_efficientnet
from mmir.models.model_dir import write_tail_dir


def _inputs(n: int = 24, side: int = 64) -> torch.Tensor:
    return torch.randn(n, 3, side, side, generator=torch.Generator().manual_seed(0))


def test_an_untrained_split_reproduces_the_base_encoder(lite0_torch) -> None:
    x = _inputs(4)
    trunk, tail, _ = split_efficientnet("efficientnet-lite0", train_blocks=3)
    with torch.no_grad():
        ours = torch.nn.functional.normalize(tail(trunk(x)), dim=-1).numpy()
    np.testing.assert_allclose(ours, lite0_torch.encode_batch(x.numpy()).descriptors, atol=1e-5)


def test_train_blocks_out_of_range_is_a_model_error() -> None:
    with pytest.raises(ModelError, match="between 0 and 16"):
        split_efficientnet("efficientnet-lite0", train_blocks=17)


def test_tail_training_keeps_batch_norm_statistics_frozen() -> None:
    _, tail, _ = split_efficientnet("efficientnet-lite0", train_blocks=1)
    before = tail.head[1].running_mean.clone()
    tail.train()
    assert not tail.head[1].training and tail.blocks[0].training
    tail(torch.randn(8, 192, 2, 2)).sum().backward()
    torch.testing.assert_close(tail.head[1].running_mean, before)


def test_interpolation_mixes_floating_weights_and_keeps_counters() -> None:
    torch.manual_seed(0)
    pretrained, finetuned = torch.nn.BatchNorm1d(3), torch.nn.BatchNorm1d(3)
    finetuned.weight.data.fill_(3.0)
    finetuned.num_batches_tracked.fill_(7)
    interpolate_weights(pretrained, finetuned, 0.25)  # pretrained weight is 1
    torch.testing.assert_close(finetuned.weight.data, torch.full((3,), 1.5))
    assert int(finetuned.num_batches_tracked) == 7
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        interpolate_weights(pretrained, finetuned, 1.5)
    with pytest.raises(ValueError, match="structure"):
        interpolate_weights(torch.nn.Linear(2, 2), finetuned, 0.5)


@pytest.mark.slow
def test_finetuned_entry_round_trips_and_keeps_imagenet_concepts(tmp_path: Path, lite0_torch) -> None:
    x = _inputs(24)
    labels = np.repeat(np.arange(3), 8)
    x[labels == 1] += 1.0  # make the groups separable so that training has something to learn
    config = MetricConfig(loss=MetricLoss.CONTRASTIVE, miner=MinerKind.ALL, epochs=2, p=3, k=4, lr=1e-3)
    result = finetune_tail(
        "efficientnet-lite0", [x[:12], x[12:]], labels, config, train_blocks=2, alpha=0.5, progress=False
    )
    assert len(result.history.epochs) == 2
    write_tail_dir(tmp_path / "ft", result.tail, "efficientnet-lite0", extra={"train_blocks": 2})
    modules = json.loads((tmp_path / "ft" / "modules.json").read_text())
    assert [m["type"] for m in modules] == ["mmir.backbone", "mmir.pooling", "mmir.finetuned-tail", "mmir.normalize"]
    config_file = tmp_path / "ft" / "2_FineTunedTail" / "config.json"
    assert json.loads(config_file.read_text())["dim"] == 1280

    encoder = load_encoder(tmp_path / "ft", backend="torch")
    lite0 = lite0_torch
    mine, base = encoder.encode_batch(x[:6].numpy()), lite0.encode_batch(x[:6].numpy())
    assert "+tail@" in encoder.fingerprint and encoder.fingerprint != lite0.fingerprint
    np.testing.assert_allclose(np.linalg.norm(mine.descriptors, axis=1), 1.0, rtol=1e-5)
    assert np.abs(mine.descriptors - base.descriptors).max() > 1e-3  # the tail did change
    np.testing.assert_allclose(mine.concepts, base.concepts, atol=1e-5)  # keyword search is unchanged
    with torch.no_grad():
        direct = torch.nn.functional.normalize(result.tail(result.trunk(x[:6])), dim=-1).numpy()
    np.testing.assert_allclose(mine.descriptors, direct, atol=1e-5)

    with pytest.raises(ModelError, match="trained with pooling"):
        load_encoder(tmp_path / "ft", backend="torch", pooling="avg")
    (tmp_path / "ft" / "2_FineTunedTail" / "model.safetensors").write_bytes(b"junk")
    with pytest.raises(ModelError, match="does not match the hash"):
        load_encoder(tmp_path / "ft", backend="torch")
    config = json.loads(config_file.read_text())
    config["sha256"] = ""  # an entry without a recorded hash still gets its file checked
    config_file.write_text(json.dumps(config))
    with pytest.raises(ModelError, match="not a fine-tuned tail file"):
        load_encoder(tmp_path / "ft", backend="torch")
