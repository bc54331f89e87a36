"""The vector index is chosen by collection size, re-trained as it grows, and stays correct across the switch."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tests.index.conftest import DIM, clustered, make_store, put_files, reopen

from mmir.index.builder import recall_at
from mmir.index.catalog import SegmentEncoding
from mmir.index.manifest import Manifest
from mmir.index.store import SegmentStore
from mmir.index.tuning import IndexKind
from mmir.index.vectors import FaissIndex
from mmir.types import MediaKind


def _exact_ids(store: SegmentStore, queries: np.ndarray, k: int) -> np.ndarray:
    ids, vectors = store.catalog.all_descriptors()
    order = np.argsort(-(queries @ vectors.T), axis=1, kind="stable")[:, :k]
    return ids[order]


def test_index_switches_to_ivf_past_the_threshold_and_keeps_the_top_hits(
    tmp_path: Path, store_uri: str, small_thresholds: int
) -> None:
    store = make_store(tmp_path / "c", store_uri)
    data = clustered(1240, seed=4)
    queries, data = data[1200:], data[:1200]  # held-out queries from the same distribution
    put_files(store, data[:200])
    store.flush()
    assert store.vectors.plan.kind is IndexKind.EXACT
    before = _exact_ids(store, queries, 10)
    assert np.array_equal(store.search(queries, 10)[1], before)
    put_files(store, data[200:], prefix="g")
    store.flush()  # 1,200 > 300: rebuilt as IVF from the stored descriptors and tuned
    plan = store.vectors.plan
    assert plan.kind is IndexKind.IVF and plan.trained_size == 1200 and plan.nprobe >= 1
    assert plan.expected_recall >= 0.9 and plan.tuned_at
    scores, found = store.search(queries, 10)
    assert recall_at(_exact_ids(store, queries, 10), found) >= 0.95
    assert np.all(np.diff(scores, axis=1) <= 1e-6)
    store = reopen(store)
    assert store.manifest.index_plan == plan  # recorded; reopened without rebuilding
    assert recall_at(_exact_ids(store, queries, 10), store.search(queries, 10)[1]) >= 0.95
    store.close()


def test_ivf_deletes_and_updates_after_memory_mapped_reopen(tmp_path: Path, small_thresholds: int) -> None:
    store = make_store(tmp_path / "c")
    media = put_files(store, clustered(800, seed=6))
    store.flush()
    store = reopen(store)
    assert "memory-mapped" in store.describe_vectors().index_type
    target = clustered(1, seed=7)
    store.remove(media[:100])  # the first write reloads the mapped index into memory
    put_files(store, target, prefix="f")  # /data/f0.jpg was removed above: added back with new content
    store.flush()
    store = reopen(store)
    ids = set(store.catalog.all_descriptors()[0].tolist())
    assert len(store.vectors) == len(ids) == 701
    _, found = store.search(clustered(50, seed=6)[:100], 20)
    assert set(found[found >= 0].tolist()) <= ids
    _, found = store.search(target, 1)
    assert store.catalog.hits_rows([int(found[0, 0])])[int(found[0, 0])][0].path == "/data/f0.jpg"
    store.close()


def test_shrinking_collection_goes_back_to_exact(tmp_path: Path, small_thresholds: int) -> None:
    store = make_store(tmp_path / "c")
    media = put_files(store, clustered(500, seed=8))
    store.flush()
    assert store.vectors.plan.kind is IndexKind.IVF
    store.remove(media[:400])
    store.flush()  # 100 < 150: exact again
    assert store.vectors.plan.kind is IndexKind.EXACT
    assert isinstance(FaissIndex.load(store.directory / SegmentStore.VECTORS, store.vectors.metric), FaissIndex)
    store.close()


def test_rerank_ignores_candidates_deleted_from_the_catalog(tmp_path: Path, small_thresholds: int) -> None:
    store = make_store(tmp_path / "c")
    put_files(store, clustered(600, seed=9))
    store.flush()
    query = clustered(1, seed=10)
    _, first = store.search(query, 5)
    with store.catalog.transaction():  # another writer deleted a hit; this index has not caught up yet
        store.catalog.remove_media(store.catalog.hits_rows([int(first[0, 0])])[int(first[0, 0])][0].id)
    _, again = store.search(query, 5)
    assert int(first[0, 0]) not in again[0].tolist()
    assert again[0].tolist() == [*first[0, 1:].tolist(), again[0, -1]]
    store.close()


def test_legacy_manifest_and_exact_index_still_open(tmp_path: Path) -> None:
    directory = tmp_path / "old"
    store = make_store(directory)
    put_files(store, clustered(20, seed=11))
    store.flush()
    store.close()
    # What mmir wrote before this change: no store / index_plan keys, an IDMap2 Flat file.
    data = json.loads((directory / SegmentStore.MANIFEST).read_text())
    for key in ("store", "store_collection", "index_plan"):
        data.pop(key)
    (directory / SegmentStore.MANIFEST).write_text(json.dumps(data))
    manifest = Manifest.load(directory / SegmentStore.MANIFEST)
    assert manifest.index_plan is None and manifest.store == "faiss" and manifest.factory == "Flat"
    old = SegmentStore(directory, manifest)
    generation = old.catalog.generation
    assert len(old.vectors) == 20 and old.catalog.generation == generation
    assert isinstance(FaissIndex.load(directory / SegmentStore.VECTORS, old.vectors.metric), FaissIndex)
    _, found = old.search(clustered(20, seed=11)[:1], 1)
    assert old.catalog.hits_rows([int(found[0, 0])])[int(found[0, 0])][0].path == "/data/f0.jpg"
    old.close()


def test_rebuild_reads_the_catalog_in_bounded_batches(tmp_path: Path, small_thresholds: int,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    from mmir.index import builder, catalog

    monkeypatch.setattr(builder, "BATCH", 128)
    seen: list[int] = []
    original = catalog.Catalog.iter_descriptors

    def spy(self: catalog.Catalog, batch: int):  # type: ignore[no-untyped-def]
        for ids, vectors in original(self, batch):
            seen.append(len(ids))
            yield ids, vectors

    monkeypatch.setattr(catalog.Catalog, "all_descriptors", lambda self: pytest.fail("read everything at once"))
    monkeypatch.setattr(catalog.Catalog, "iter_descriptors", spy)
    store = make_store(tmp_path / "c")
    for i, vector in enumerate(clustered(700, seed=12)):
        store.catalog.transaction  # noqa: B018 (documenting: put() commits one file per transaction)
        store.put(f"/d/{i}.jpg", MediaKind.IMAGE, 1, 0.0, str(i), [SegmentEncoding(vector, np.zeros(3, np.float32))])
    store.flush()
    assert store.vectors.plan.kind is IndexKind.IVF
    assert seen and max(seen) <= 128 and sum(seen) == 700
    assert store.vectors.dim == DIM
    store.close()
