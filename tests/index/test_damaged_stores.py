"""Damaged vector stores and catalogs: a reader gets one line saying what is wrong and what to run; the writer
(``mmir index``) rebuilds the store from the catalog, which keeps every descriptor (nothing indexed is lost)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
from tests.index.conftest import _milvus_available, clustered, make_store, put_files

from mmir.errors import CollectionError
from mmir.index.manifest import Manifest
from mmir.index.store import SegmentStore
from mmir.index.stores import DamagedStoreError, parse_store

needs_milvus = pytest.mark.skipif(not _milvus_available(), reason="needs the `scale` extra (pymilvus)")


def _milvus_collection(tmp_path: Path, vectors: np.ndarray) -> Path:
    """A collection of ``len(vectors)`` files whose vectors live in Milvus Lite, saved and closed."""
    (tmp_path / "milvus").mkdir()
    store = make_store(tmp_path / "c", f"milvus:{tmp_path / 'milvus' / 'v.db'}")
    put_files(store, vectors)
    store.flush()  # the store matches the catalog's generation: it is loaded, not rebuilt, on open
    store.close()
    _stop_milvus_lite(tmp_path)
    return tmp_path / "c"


def _stop_milvus_lite(tmp_path: Path) -> None:
    """Stop this process's Milvus Lite server for the file, as a new process would start without it."""
    from milvus_lite.server_manager import server_manager_instance

    server_manager_instance.release_server(str(tmp_path / "milvus" / "v.db"))


def _open(directory: Path) -> SegmentStore:
    return SegmentStore(directory, Manifest.load(directory / SegmentStore.MANIFEST))


def _empty_milvus_manifests(tmp_path: Path) -> None:
    """Damage Milvus Lite's own manifest: it lists no data files (its vectors are silently gone)."""
    manifests = list((tmp_path / "milvus" / "v.db").glob("collections/*/manifest.json*"))
    assert manifests
    for path in manifests:
        data = json.loads(path.read_text())
        for partition in data["partitions"].values():
            partition["data_files"] = []
        path.write_text(json.dumps(data))


def _truncate_data_files(tmp_path: Path) -> None:
    files = list((tmp_path / "milvus" / "v.db").glob("collections/*/partitions/*/data/*"))
    assert files
    for path in files:
        path.write_bytes(path.read_bytes()[:40])


@needs_milvus
@pytest.mark.parametrize("damage", [_empty_milvus_manifests, _truncate_data_files])
def test_a_damaged_milvus_store_is_reported_to_readers_and_rebuilt_by_the_writer(
    tmp_path: Path, damage, caplog: pytest.LogCaptureFixture
) -> None:
    vectors = clustered(20, seed=4)
    directory = _milvus_collection(tmp_path, vectors)
    damage(tmp_path)
    reader = _open(directory)
    with pytest.raises(DamagedStoreError, match=r"vector store is damaged .*run `mmir index`") as raised:
        reader.search(vectors[:1], 3)  # not 0 hits as if nothing were indexed, not a pymilvus traceback
    assert "\n" not in str(raised.value)
    reader.close()

    writer = _open(directory)
    writer.lock_for_writing()
    with caplog.at_level(logging.WARNING):
        writer.flush()  # what every `mmir index` run ends with, even one that changed nothing
    assert any("rebuilt from the catalog" in record.getMessage() for record in caplog.records)
    writer.close()

    again = _open(directory)
    assert len(again.vectors) == 20
    _, found = again.search(vectors[:1], 1)
    assert again.catalog.hits_rows(found[0].tolist())[int(found[0, 0])][0].path == "/data/f0.jpg"
    again.close()


@needs_milvus
def test_a_garbage_milvus_file_is_one_line(tmp_path: Path) -> None:
    directory = _milvus_collection(tmp_path, clustered(5))
    import shutil

    shutil.rmtree(tmp_path / "milvus" / "v.db")
    (tmp_path / "milvus" / "v.db").write_bytes(np.random.default_rng(0).bytes(3000))
    store = _open(directory)
    with pytest.raises(CollectionError, match="cannot open the Milvus Lite store") as raised:
        store.search(clustered(1), 3)
    assert "\n" not in str(raised.value)
    store.close()


def test_a_milvus_lite_path_in_a_missing_folder_is_refused_not_created(tmp_path: Path) -> None:
    with pytest.raises(CollectionError, match="does not exist"):
        parse_store(f"milvus:{tmp_path / 'no' / 'such' / 'v.db'}")
    assert not (tmp_path / "no").exists()


def test_a_truncated_faiss_file_and_a_garbage_catalog(tmp_path: Path) -> None:
    vectors = clustered(12, seed=5)
    store = make_store(tmp_path / "c")
    put_files(store, vectors)
    store.flush()
    store.close()
    faiss_file = tmp_path / "c" / SegmentStore.VECTORS
    faiss_file.write_bytes(faiss_file.read_bytes()[:100])
    reopened = _open(tmp_path / "c")  # re-derived from the catalog's descriptors: same answers
    _, found = reopened.search(vectors[:1], 1)
    assert reopened.catalog.hits_rows(found[0].tolist())[int(found[0, 0])][0].path == "/data/f0.jpg"
    reopened.close()
    (tmp_path / "c" / SegmentStore.CATALOG).write_bytes(b"SQLite format 3\x00" + bytes(range(256)) * 8)
    for suffix in ("-wal", "-shm"):
        (tmp_path / "c" / (SegmentStore.CATALOG + suffix)).unlink(missing_ok=True)
    with pytest.raises(CollectionError, match="not a usable mmir catalog"):
        _open(tmp_path / "c")
