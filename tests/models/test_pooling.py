"""Pooling: GeM's limits, R-MAC on a hand-made map, multi-scale extraction."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from mmir.models.pooling import GeM, Pooling, gap, gem, multiscale_pool, pool, rmac


def test_gem_limits() -> None:
    torch.manual_seed(0)
    x = torch.rand(2, 3, 5, 5) + 0.1
    torch.testing.assert_close(gem(x, 1.0), gap(x))
    torch.testing.assert_close(gem(x, 200.0), x.amax(dim=(-2, -1)), atol=0.03, rtol=0.03)


def test_learnable_gem_gets_a_gradient() -> None:
    module = GeM(p=3.0)
    module(torch.rand(2, 4, 3, 3) + 0.1).sum().backward()
    assert module.p.grad is not None and torch.isfinite(module.p.grad)


def test_rmac_single_region_is_normalised_max() -> None:
    x = torch.zeros(1, 2, 4, 4)
    x[0, 0, 1, 1] = 3.0
    x[0, 1, 2, 2] = 4.0
    out = rmac(x, levels=1)  # one square region covers the whole map
    torch.testing.assert_close(out, F.normalize(torch.tensor([[3.0, 4.0]]), dim=-1))


def test_multiscale_of_one_scale_is_normalised_pool() -> None:
    torch.manual_seed(0)
    batch = torch.rand(2, 3, 16, 16)
    features = torch.nn.Conv2d(3, 8, 3, stride=2)
    with torch.no_grad():
        single = multiscale_pool(features, batch, Pooling.GEM, scales=(1.0,))
        expected = F.normalize(pool(features(batch).clamp(min=0), Pooling.GEM), dim=-1)
    torch.testing.assert_close(single, expected)


def test_multiscale_averages_scales() -> None:
    torch.manual_seed(0)
    batch = torch.rand(2, 3, 32, 32)
    features = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, stride=2), torch.nn.ReLU())
    with torch.no_grad():
        out = multiscale_pool(features, batch, Pooling.AVG, scales=(1.0, 0.5))
        half = F.interpolate(batch, size=(16, 16), mode="bilinear", align_corners=False)
        expected = (F.normalize(gap(features(batch)), dim=-1) + F.normalize(gap(features(half)), dim=-1)) / 2
    assert out.shape == (2, 8)
    torch.testing.assert_close(out, expected)
    with pytest.raises(ValueError):
        multiscale_pool(features, batch, Pooling.AVG, scales=())
