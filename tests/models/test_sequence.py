"""Recurrent sequence nets: shapes, padding never leaks into the state, config round trip."""

from __future__ import annotations

import pytest
import torch

from mmir.models.sequence import SequenceArch, SequenceConfig, build_sequence_model


@pytest.mark.parametrize("arch", list(SequenceArch))
def test_logits_shape_and_padding_is_ignored(arch: SequenceArch) -> None:
    torch.manual_seed(0)
    config = SequenceConfig(arch, input_dim=6, classes=("a", "b", "c"), hidden=16, dropout=0.0)
    model = build_sequence_model(config).eval()
    frames = torch.randn(2, 5, 6)
    lengths = torch.tensor([5, 3])
    logits = model(frames, lengths)
    assert logits.shape == (2, 3)
    padded = frames.clone()
    padded[1, 3:] = 1000.0  # garbage after the clip's end must not change its logits
    assert torch.allclose(model(padded, lengths), logits, atol=1e-5)
    alone = model(frames[1:, :3], torch.tensor([3]))  # the same clip without padding
    assert torch.allclose(alone, logits[1:], atol=1e-5)


def test_config_round_trips_through_json_form() -> None:
    config = SequenceConfig(SequenceArch.GRU, input_dim=4, classes=("x", "y"), hidden=8, layers=2)
    assert SequenceConfig.from_dict(config.to_dict()) == config
