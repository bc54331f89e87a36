"""The same behaviour from every vector store: ids, deletes, updates and search results through SegmentStore."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tests.index.conftest import clustered, make_store, put_files, reopen


def _exact_top(vectors: np.ndarray, ids: np.ndarray, query: np.ndarray, k: int) -> list[int]:
    scores = vectors @ query
    return [int(ids[i]) for i in np.lexsort((ids, -scores))[:k]]


def test_search_returns_catalog_segment_ids_with_exact_scores(tmp_path: Path, store_uri: str) -> None:
    store = make_store(tmp_path / "c", store_uri)
    vectors = clustered(60)
    put_files(store, vectors)
    ids, stored = store.catalog.all_descriptors()
    scores, found = store.search(vectors[:3], 5)
    for row in range(3):
        assert found[row].tolist() == _exact_top(stored, ids, vectors[row], 5)
        np.testing.assert_allclose(scores[row], np.sort(stored @ vectors[row])[::-1][:5], rtol=1e-5, atol=1e-5)
    store.close()


def test_deletes_and_updates_are_seen_by_search_and_survive_reopening(tmp_path: Path, store_uri: str) -> None:
    store = make_store(tmp_path / "c", store_uri)
    vectors = clustered(40, seed=1)
    media = put_files(store, vectors)
    store.remove(media[:5])  # delete five files
    replacement = clustered(1, seed=99)[0]
    put_files(store, replacement[None], prefix="f")  # /data/f0.jpg comes back with new content (an update)
    store.flush()
    store = reopen(store)
    ids, _stored = store.catalog.all_descriptors()
    assert len(store.vectors) == len(ids) == 36
    _, found = store.search(replacement[None], 1)
    new_id = store.catalog.hits_rows(found[0].tolist())[int(found[0, 0])][0]
    assert new_id.path == "/data/f0.jpg"
    _, found = store.search(vectors[1:5], 3)  # deleted files never come back
    assert not set(found.ravel().tolist()) - set(ids.tolist())
    store.close()


def test_store_lagging_behind_the_catalog_is_resynced_on_open(tmp_path: Path, store_uri: str) -> None:
    store = make_store(tmp_path / "c", store_uri)
    put_files(store, clustered(30, seed=2))
    store.flush()
    put_files(store, clustered(10, seed=3), prefix="g")  # committed to the catalog, vectors never flushed
    store.close()  # as after a crash: the manifest's generation is behind the catalog's
    from mmir.index.manifest import Manifest
    from mmir.index.store import SegmentStore

    again = SegmentStore(store.directory, Manifest.load(store.directory / SegmentStore.MANIFEST))
    assert len(again.vectors) == 40
    _, found = again.search(clustered(10, seed=3)[:1], 1)
    assert again.catalog.hits_rows(found[0].tolist())[int(found[0, 0])][0].path == "/data/g0.jpg"
    again.close()


def test_empty_store_searches_to_nothing(tmp_path: Path, store_uri: str) -> None:
    store = make_store(tmp_path / "c", store_uri)
    scores, found = store.search(clustered(1), 5)
    assert scores.shape == found.shape == (1, 0)
    store.close()
