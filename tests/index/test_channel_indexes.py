"""Each descriptor channel's own persisted vector index: exact, kept in step on add/update/delete, reopened."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mmir.index.catalog import Catalog, SegmentEncoding
from mmir.index.channel_indexes import ChannelIndexes, CnnSource
from mmir.index.channels import CatalogChannelSink, channel_vectors
from mmir.models.engineered import tfidf
from mmir.types import MediaKind

K = 12


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


@pytest.fixture()
def catalog(tmp_path: Path):
    """A catalog of 30 files with random ``colour`` (unit) and ``bovw`` (counts) rows."""
    catalog = Catalog(tmp_path / "catalog.sqlite")
    rng = np.random.default_rng(0)
    seg = SegmentEncoding(np.ones(4, np.float32), np.zeros(2, np.float32))
    sink = CatalogChannelSink(catalog)
    for i in range(30):
        with catalog.transaction():
            media_id = catalog.put_media(f"/p/{i}.jpg", MediaKind.IMAGE, 1, 1.0, f"{i:040x}", [seg])[0]
        counts = rng.poisson(0.7, K).astype(np.float32)
        sink.store(media_id, {"colour": _unit(rng.random(K, np.float32)), "bovw": counts})
    yield catalog
    catalog.close()


def _id(catalog: Catalog, path: str) -> int:
    record = catalog.lookup(path)
    assert record is not None
    return record.id


def _search(indexes: ChannelIndexes, name: str, raw: np.ndarray, k: int) -> tuple[list[int], np.ndarray]:
    opened = indexes.open(name)
    scores, ids = opened.index.search(opened.query(raw), k)
    return ids[0].tolist(), scores[0]


def _exact(catalog: Catalog, name: str, raw: np.ndarray, k: int) -> tuple[list[int], np.ndarray]:
    """The answer of a scan over the stored rows (what channel search did before it had indexes)."""
    ids, rows = channel_vectors(catalog, name)
    if name == "bovw":
        rows, idf = tfidf(rows)
        query = tfidf(raw, idf)[0][0]
    else:
        query = _unit(raw)
    scores = rows @ query
    top = np.argsort(-scores, kind="stable")[:k]
    return ids[top].tolist(), scores[top]


@pytest.mark.parametrize("name", ["colour", "bovw"])
def test_channel_index_answers_like_an_exact_scan(tmp_path: Path, catalog: Catalog, name: str) -> None:
    indexes = ChannelIndexes(tmp_path / "ci", catalog)
    for raw in np.random.default_rng(1).random((5, K), np.float32):
        ids, scores = _search(indexes, name, raw, 10)
        expected_ids, expected_scores = _exact(catalog, name, raw, 10)
        assert ids == expected_ids
        np.testing.assert_allclose(scores, expected_scores, atol=1e-5)


def test_deleted_updated_and_added_files_reach_the_index_without_a_rebuild(
    tmp_path: Path, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    indexes = ChannelIndexes(tmp_path / "ci", catalog)
    assert len(indexes.open("colour").index) == 30
    monkeypatch.setattr(ChannelIndexes, "_rebuild", lambda *a: pytest.fail("rebuilt instead of following the log"))
    gone = _id(catalog, "/p/3.jpg")
    with catalog.transaction():
        catalog.remove_media(gone)  # the channel rows go by ON DELETE CASCADE, logged by a trigger
    changed = _id(catalog, "/p/7.jpg")
    target = _unit(np.arange(K, dtype=np.float32) - 5)
    CatalogChannelSink(catalog).store(changed, {"colour": target})  # INSERT OR REPLACE: an update
    opened = indexes.open("colour")
    assert gone not in opened.index.ids().tolist() and len(opened.index) == 29
    assert _search(indexes, "colour", target, 1)[0] == [changed]
    ids, scores = _search(indexes, "colour", target, 29)
    expected_ids, expected_scores = _exact(catalog, "colour", target, 29)
    assert ids == expected_ids
    np.testing.assert_allclose(scores, expected_scores, atol=1e-5)


def test_the_index_survives_reopening_and_the_log_is_pruned(tmp_path: Path, catalog: Catalog) -> None:
    ChannelIndexes(tmp_path / "ci", catalog).open("bovw")
    assert (tmp_path / "ci" / "bovw.faiss").exists() and (tmp_path / "ci" / "bovw.idf.npy").exists()
    pending = catalog.connection.execute("SELECT COUNT(*) FROM channel_changes WHERE name = 'bovw'").fetchone()[0]
    assert pending == 0  # the saved index holds every logged change
    path = catalog.path
    catalog.close()
    reopened = Catalog(path)
    try:
        indexes = ChannelIndexes(tmp_path / "ci", reopened)
        indexes._rebuild = lambda *a: pytest.fail("a current saved index was rebuilt")  # type: ignore[method-assign]
        raw = np.random.default_rng(2).random(K, np.float32)
        assert _search(indexes, "bovw", raw, 5)[0] == _exact(reopened, "bovw", raw, 5)[0]
    finally:
        reopened.close()


def test_a_current_index_is_not_written_again(
    tmp_path: Path, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    indexes = ChannelIndexes(tmp_path / "ci", catalog)
    indexes.open("colour")
    CatalogChannelSink(catalog).store(_id(catalog, "/p/1.jpg"), {"colour": _unit(np.ones(K, np.float32))})
    indexes.open("colour")  # follows the change, saves, prunes the log
    monkeypatch.setattr(ChannelIndexes, "_save", lambda *a: pytest.fail("a current index was written again"))
    indexes.open("colour")  # the pruned log holds nothing newer: loaded as is


def test_a_damaged_index_file_is_rebuilt_from_stored_rows(tmp_path: Path, catalog: Catalog) -> None:
    ChannelIndexes(tmp_path / "ci", catalog).open("colour")
    (tmp_path / "ci" / "colour.faiss").write_bytes(b"not faiss")
    assert len(ChannelIndexes(tmp_path / "ci", catalog).open("colour").index) == 30


def test_the_cnn_channel_follows_the_catalog_generation_and_projection(tmp_path: Path, catalog: Catalog) -> None:
    calls: list[int] = []

    def project(x: np.ndarray) -> np.ndarray:
        calls.append(len(x))
        return x[:, :2]

    indexes = ChannelIndexes(tmp_path / "ci", catalog, CnnSource(project, "pca-a"))
    assert indexes.open("cnn").index.dim == 2 and calls == [30]
    indexes.open("cnn")
    assert calls == [30]  # saved and current: loaded, not rebuilt
    with catalog.transaction():
        catalog.remove_media(_id(catalog, "/p/0.jpg"))
    assert len(indexes.open("cnn").index) == 29 and calls == [30, 29]
    other = ChannelIndexes(tmp_path / "ci", catalog, CnnSource(lambda x: x, "no pca"))
    assert other.open("cnn").index.dim == 4


def test_early_fusion_from_channel_scores_equals_the_fused_vectors_inner_product() -> None:
    from mmir.search.fusion import early_fusion, early_fusion_scores

    rng = np.random.default_rng(3)
    db = {"cnn": _unit(rng.standard_normal((6, 5))), "colour": _unit(rng.random((6, 3)))}
    q = {"cnn": _unit(rng.standard_normal((1, 5))), "colour": _unit(rng.random((1, 3)))}
    weights = {"cnn": 1.0, "colour": 0.3}
    fused = early_fusion(db, weights) @ early_fusion(q, weights)[0]
    per_channel = {name: db[name] @ q[name][0] for name in db}
    np.testing.assert_allclose(early_fusion_scores(per_channel, weights), fused, atol=1e-6)


def test_channels_of_weight_zero_are_left_out_and_all_zero_is_refused() -> None:
    from mmir.errors import QueryError
    from mmir.search.fusion import late_fusion, weighted_channels

    assert weighted_channels(["cnn", "colour", "hog"], {"colour": 0.0, "hog": 2.0}) == ["cnn", "hog"]
    with pytest.raises(QueryError, match="sum to zero"):
        late_fusion({"cnn": np.ones(3), "colour": np.zeros(3)}, {"cnn": 0.0, "colour": 0.0})


def test_a_relearned_pca_with_the_same_file_name_changes_the_cnn_channel_key(tmp_path: Path) -> None:
    import os
    from types import SimpleNamespace

    from mmir.index.channel_indexes import projection_key

    store = SimpleNamespace(directory=tmp_path, manifest=SimpleNamespace(fingerprint="f", dim=4, pca="pca.npz"))
    (tmp_path / "pca.npz").write_bytes(b"first")
    before = projection_key(store)  # type: ignore[arg-type]
    (tmp_path / "pca.npz").write_bytes(b"second")
    os.utime(tmp_path / "pca.npz", ns=(1, 1))
    assert projection_key(store) != before  # type: ignore[arg-type]
    store.manifest.pca = None
    assert projection_key(store) == "f|4|None"  # type: ignore[arg-type]


def test_the_cnn_channel_is_built_from_bounded_reads(
    tmp_path: Path, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mmir.index.channel_indexes as channel_indexes

    whole = ChannelIndexes(tmp_path / "whole", catalog, CnnSource(lambda x: x, "raw")).open("cnn").index
    monkeypatch.setattr(channel_indexes, "_CNN_BATCH", 7)
    monkeypatch.setattr(Catalog, "all_media_descriptors", lambda self: pytest.fail("read every file at once"))
    calls: list[int] = []

    def project(x: np.ndarray) -> np.ndarray:
        calls.append(len(x))
        return x

    chunked = ChannelIndexes(tmp_path / "chunked", catalog, CnnSource(project, "raw")).open("cnn").index
    assert calls == [7, 7, 7, 7, 2]
    query = np.ones((1, whole.dim), np.float32) / np.sqrt(whole.dim)
    for got, expected in zip(chunked.search(query, 30), whole.search(query, 30), strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_channel_vectors_of_some_files_match_their_rows_in_every_batch(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mmir.index.channels as channels

    every_id, every_row = channel_vectors(catalog, "colour")
    monkeypatch.setattr(channels, "_SQL_BATCH", 4)  # 11 ids: three statements
    wanted = [int(i) for i in every_id[::-3]] + [10**9]  # unsorted, and one file that does not exist
    ids, rows = channel_vectors(catalog, "colour", wanted)
    assert ids.tolist() == sorted(wanted[:-1])
    np.testing.assert_array_equal(rows, every_row[np.searchsorted(every_id, ids)])
    assert channel_vectors(catalog, "colour", [])[0].shape == (0,)
