"""Stores filled with synthetic clustered descriptors (no encoder), and the store implementations to test."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mmir.index import tuning
from mmir.index.catalog import SegmentEncoding
from mmir.index.manifest import Manifest
from mmir.index.store import SegmentStore
from mmir.types import MediaKind

DIM = 48


def clustered(n: int, seed: int = 0, dim: int = DIM) -> np.ndarray:
    """``float32[n, dim]`` L2-normalised vectors around 20 centres (like descriptors of related photos)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((20, dim))
    x = centres[rng.integers(0, 20, n)] + 0.6 * rng.standard_normal((n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def make_store(directory: Path, store: str = "faiss") -> SegmentStore:
    """A new empty collection whose vectors live in ``store``."""
    directory.mkdir(parents=True, exist_ok=True)
    manifest = Manifest(model="synthetic", fingerprint="synthetic:1", dim=DIM, store=store)
    manifest.save(directory / SegmentStore.MANIFEST)
    return SegmentStore(directory, manifest)


def reopen(store: SegmentStore) -> SegmentStore:
    """Close ``store`` and open its collection again from disk."""
    store.close()
    return SegmentStore(store.directory, Manifest.load(store.directory / SegmentStore.MANIFEST))


def put_files(store: SegmentStore, vectors: np.ndarray, prefix: str = "f") -> list[int]:
    """One file (one segment) per vector, named ``/data/{prefix}{i}.jpg``; returns the media ids."""
    ids = []
    for i, vector in enumerate(vectors):
        segment = SegmentEncoding(descriptor=vector, concepts=np.zeros(3, np.float32))
        ids.append(store.put(f"/data/{prefix}{i}.jpg", MediaKind.IMAGE, 1, 0.0, f"{prefix}{i}", [segment]))
    return ids


@pytest.fixture
def small_thresholds(monkeypatch: pytest.MonkeyPatch) -> int:
    """Exact up to 300 vectors, so tests cross into IVF with a few hundred vectors."""
    monkeypatch.setattr(tuning, "EXACT_MAX", 300)
    monkeypatch.setattr(tuning, "BACK_TO_EXACT", 150)
    return 300


def _milvus_available() -> bool:
    try:
        import milvus_lite  # noqa: F401
        import pymilvus  # noqa: F401
    except ImportError:
        return False
    return True


STORES = [
    "faiss",
    pytest.param(
        "milvus", marks=pytest.mark.skipif(not _milvus_available(), reason="needs the `scale` extra (pymilvus)")
    ),
]


@pytest.fixture(params=STORES)
def store_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """``faiss``, or a Milvus Lite file in the test's temporary folder."""
    if request.param == "faiss":
        return "faiss"
    (tmp_path / "milvus").mkdir()  # a Milvus Lite store's folder must exist (it is not created silently)
    return f"milvus:{tmp_path / 'milvus' / 'vectors.db'}"
