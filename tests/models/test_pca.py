"""PCA-whitening: whitened covariance ≈ identity, dimensions, persistence without pickle."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mmir.errors import MmirError
from mmir.models.pca import PCAError, PCAWhitening


@pytest.fixture(scope="module")
def correlated() -> np.ndarray:
    rng = np.random.default_rng(0)
    mixing = rng.standard_normal((16, 16)) * np.linspace(5, 0.1, 16)[:, None]
    return (rng.standard_normal((3000, 16)) @ mixing + 3.0).astype(np.float32)


def test_whitening_makes_the_covariance_identity(correlated: np.ndarray) -> None:
    pca = PCAWhitening.fit(correlated, dim=8, whiten=True)
    out = pca.transform(correlated, normalize=False)
    assert out.shape == (3000, 8)
    np.testing.assert_allclose(np.cov(out, rowvar=False), np.eye(8), atol=1e-3)
    np.testing.assert_allclose(out.mean(axis=0), 0.0, atol=1e-3)


def test_plain_pca_keeps_variance_order_and_normalises(correlated: np.ndarray) -> None:
    pca = PCAWhitening.fit(correlated, dim=4, whiten=False)
    raw = pca.transform(correlated, normalize=False)
    variances = raw.var(axis=0)
    assert np.all(np.diff(variances) <= 0)
    np.testing.assert_allclose(variances, pca.eigenvalues, rtol=1e-2)
    np.testing.assert_allclose(np.linalg.norm(pca.transform(correlated), axis=1), 1.0, rtol=1e-5)


def test_shrinkage_interpolates_to_plain_pca(correlated: np.ndarray) -> None:
    full = PCAWhitening.fit(correlated, dim=6, whiten=True, shrinkage=1.0)
    plain = PCAWhitening.fit(correlated, dim=6, whiten=False)
    np.testing.assert_allclose(full.transform(correlated), plain.transform(correlated), atol=1e-4)


def test_save_load_round_trip_without_pickle(tmp_path: Path, correlated: np.ndarray) -> None:
    pca = PCAWhitening.fit(correlated, dim=5, whiten=True, shrinkage=0.2)
    pca.save(tmp_path / "pca.npz")
    with np.load(tmp_path / "pca.npz", allow_pickle=False) as data:
        assert "components" in data.files
    loaded = PCAWhitening.load(tmp_path / "pca.npz")
    assert loaded.whiten and loaded.shrinkage == pytest.approx(0.2) and loaded.dim == 5
    np.testing.assert_array_equal(loaded.transform(correlated[:10]), pca.transform(correlated[:10]))


def test_errors_are_clear(tmp_path: Path, correlated: np.ndarray) -> None:
    with pytest.raises(PCAError, match="between 1 and"):
        PCAWhitening.fit(correlated, dim=17)
    with pytest.raises(PCAError, match="between 1 and"):
        PCAWhitening.fit(correlated[:3], dim=3)
    with pytest.raises(PCAError, match="NaN"):
        PCAWhitening.fit(np.full((5, 2), np.nan, np.float32), dim=1)
    pca = PCAWhitening.fit(correlated, dim=2)
    with pytest.raises(PCAError, match="16-d"):
        pca.transform(np.zeros((1, 3), np.float32))
    (tmp_path / "bad.npz").write_bytes(b"junk")
    with pytest.raises(MmirError, match="cannot read"):
        PCAWhitening.load(tmp_path / "bad.npz")
