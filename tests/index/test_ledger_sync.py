"""One mechanism: the ledger records what every derived output matches (vector index, concept columns, channel
indexes, metadata text), and older collections' own state files are adopted once."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from tests.test_pipeline_stages import FakeEncoder, MeanColour, _photos

from mmir.index import ledger
from mmir.index.catalog import Catalog, SegmentEncoding
from mmir.index.channel_indexes import DIRECTORY, ChannelIndexes
from mmir.index.channels import CatalogChannelSink
from mmir.index.concept_columns import STATE, ConceptColumns
from mmir.index.manifest import Manifest
from mmir.index.metadata_text import sync_metadata
from mmir.index.store import SegmentStore
from mmir.indexing.pipeline import Indexer, IndexOptions
from mmir.types import MediaKind


def _store(directory: Path) -> SegmentStore:
    directory.mkdir(exist_ok=True)
    manifest = Manifest(model="fake", fingerprint=FakeEncoder.fingerprint, dim=FakeEncoder.dim)
    manifest.save(directory / SegmentStore.MANIFEST)
    return SegmentStore(directory, manifest)


def _indexed(tmp_path: Path, n: int = 4) -> SegmentStore:
    folder = _photos(tmp_path / "photos", n, size=(40, 30))
    store = _store(tmp_path / "c")
    options = IndexOptions(progress=False, channels=(MeanColour(),), thumbnails=False)
    Indexer(store, FakeEncoder().build, options, channel_sink=CatalogChannelSink(store.catalog)).run([str(folder)])
    return store


def _reopen(store: SegmentStore) -> SegmentStore:
    store.close()
    return SegmentStore(store.directory, Manifest.load(store.directory / SegmentStore.MANIFEST))


def test_the_saved_vectors_are_current_by_the_ledger_not_the_manifest(tmp_path: Path) -> None:
    store = _indexed(tmp_path)
    saved = Manifest.load(store.directory / SegmentStore.MANIFEST)
    assert saved.vectors_generation == -1  # the manifest no longer keeps it
    recorded = ledger.producer(store.catalog, ledger.VECTORS)
    assert recorded is not None and recorded.setting == ledger.generation_setting(store.catalog.generation)
    reopened = _reopen(store)
    assert reopened.vectors_current()
    with reopened.catalog.transaction():  # the catalog moves on: the saved vectors are behind
        pass
    assert not reopened.vectors_current()
    reopened.close()


def test_an_older_collection_whose_manifest_records_the_generation_is_adopted(tmp_path: Path) -> None:
    store = _indexed(tmp_path)
    generation = store.catalog.generation
    store.catalog.connection.execute("DELETE FROM producers WHERE name = ?", (ledger.VECTORS,))  # as before
    old = Manifest.load(store.directory / SegmentStore.MANIFEST).with_changes(vectors_generation=generation)
    old.save(store.directory / SegmentStore.MANIFEST)
    reopened = _reopen(store)
    assert reopened.vectors_current()  # read from the old manifest while the ledger has no record
    _ = reopened.vectors
    reopened.lock_for_writing()
    reopened.flush()  # the next writer records it in the ledger
    assert ledger.producer(reopened.catalog, ledger.VECTORS) is not None
    assert Manifest.load(reopened.directory / SegmentStore.MANIFEST).vectors_generation == -1
    reopened.close()


def test_concept_columns_state_is_read_from_the_ledger(tmp_path: Path) -> None:
    store = _indexed(tmp_path, 6)
    columns = ConceptColumns(tmp_path / "cols", block_rows=4)
    columns.sync(store.catalog)
    assert not (tmp_path / "cols" / STATE).exists()  # no state file of its own
    first = (tmp_path / "cols" / "block-00000.f32").stat().st_ino
    fresh = ConceptColumns(tmp_path / "cols", block_rows=4)
    fresh.sync(store.catalog)  # another process: the ledger says the files are current
    assert (tmp_path / "cols" / "block-00000.f32").stat().st_ino == first
    want_ids, _ = store.catalog.all_concepts()
    np.testing.assert_array_equal(np.concatenate([b.ids for b in fresh.blocks()]), want_ids)
    (tmp_path / "cols" / "block-00001.ids").unlink()  # a block file lost: the record alone is not trusted
    ConceptColumns(tmp_path / "cols", block_rows=4).sync(store.catalog)
    assert (tmp_path / "cols" / "block-00000.f32").stat().st_ino != first
    store.close()


def test_an_older_collections_concept_state_file_is_adopted_without_rewriting_blocks(tmp_path: Path) -> None:
    store = _indexed(tmp_path, 6)
    columns = ConceptColumns(tmp_path / "cols", block_rows=4)
    columns.sync(store.catalog)
    recorded = ledger.producer(store.catalog, ledger.CONCEPT_COLUMNS)
    assert recorded is not None
    old_state = {**recorded.detail, "generation": store.catalog.generation}
    (tmp_path / "cols" / STATE).write_text(json.dumps(old_state))  # what mmir wrote before the ledger held it
    store.catalog.connection.execute("DELETE FROM producers WHERE name = ?", (ledger.CONCEPT_COLUMNS,))
    first = (tmp_path / "cols" / "block-00000.f32").stat().st_ino
    ConceptColumns(tmp_path / "cols", block_rows=4).sync(store.catalog)
    assert (tmp_path / "cols" / "block-00000.f32").stat().st_ino == first
    assert not (tmp_path / "cols" / STATE).exists() and ledger.producer(store.catalog, ledger.CONCEPT_COLUMNS)
    store.close()


def test_channel_index_state_is_read_from_the_ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = _indexed(tmp_path)
    ChannelIndexes.of_store(store).open("mean-colour")
    folder = store.directory / DIRECTORY
    assert (folder / "mean-colour.faiss").exists() and not list(folder.glob("*.json"))
    recorded = ledger.producer(store.catalog, ledger.channel_index("mean-colour"))
    assert recorded is not None and recorded.setting.startswith("change ")
    monkeypatch.setattr(ChannelIndexes, "_rebuild", lambda *_: pytest.fail("rebuilt although current"))
    opened = ChannelIndexes.of_store(store).open("mean-colour")
    assert len(opened.index) == 4
    store.close()


def test_an_older_collections_channel_state_file_is_adopted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = _indexed(tmp_path)
    ChannelIndexes.of_store(store).open("mean-colour")
    recorded = ledger.producer(store.catalog, ledger.channel_index("mean-colour"))
    assert recorded is not None
    (store.directory / DIRECTORY / "mean-colour.json").write_text(json.dumps(dict(recorded.detail)))
    store.catalog.connection.execute("DELETE FROM producers WHERE name = ?", (ledger.channel_index("mean-colour"),))
    monkeypatch.setattr(ChannelIndexes, "_rebuild", lambda *_: pytest.fail("rebuilt although current"))
    assert len(ChannelIndexes.of_store(store).open("mean-colour").index) == 4
    assert ledger.producer(store.catalog, ledger.channel_index("mean-colour")) == recorded  # taken over as it was
    assert not (store.directory / DIRECTORY / "mean-colour.json").exists()
    store.close()


def test_metadata_text_is_a_ledger_producer_and_info_names_the_ones_not_run(tmp_path: Path) -> None:
    store = _indexed(tmp_path)
    cover = {c.producer: c for c in ledger.coverage(store.catalog)}
    assert (cover[ledger.METADATA_TEXT].files, cover[ledger.METADATA_TEXT].total) == (4, 4)
    assert sync_metadata(store.catalog, lambda p: pytest.fail(f"{p} read again")).updated == 0
    names = {c.producer: str(c) for c in ledger.not_run(store.catalog)}
    assert names["ocr"] == "none (0/4 files)" and names["pca"] == "none (0/4 files)"
    assert names["shots"] == "none (0/0 files)"  # of the videos
    assert ledger.METADATA_TEXT not in names  # (the encoder is recorded by Collection, not by this bare Indexer)
    store.close()


def test_a_catalog_of_schema_11_opens_and_its_text_records_move_to_the_ledger(tmp_path: Path) -> None:
    photo = tmp_path / "p.jpg"
    photo.write_bytes(b"not really an image")
    (tmp_path / "p.txt").write_text("a quokka")
    catalog = Catalog(tmp_path / "catalog.sqlite")
    stat = photo.stat()
    segment = SegmentEncoding(np.zeros(4, np.float32), np.zeros(3, np.float32))
    with catalog.transaction():
        media_id, _, _ = catalog.put_media(str(photo), MediaKind.IMAGE, stat.st_size, stat.st_mtime, "0" * 40,
                                           [segment])  # fmt: skip
    assert sync_metadata(catalog).updated == 1
    signature = catalog.connection.execute("SELECT setting FROM ledger WHERE producer = 'metadata-text'").fetchone()
    size, _, sidecars = signature[0].split("|", 2)
    catalog.close()
    db = sqlite3.connect(tmp_path / "catalog.sqlite")  # as mmir wrote it at schema 11: the signature in media_text
    db.execute("DELETE FROM ledger WHERE producer = 'metadata-text'")
    db.execute("INSERT INTO media_text(media_id, size, mtime, sidecars) VALUES (?, ?, ?, ?)",
               (media_id, int(size), stat.st_mtime, sidecars))  # fmt: skip
    db.execute("PRAGMA user_version=11")
    db.commit()
    db.close()
    reopened = Catalog(tmp_path / "catalog.sqlite")
    assert reopened.connection.execute("PRAGMA user_version").fetchone()[0] == 12
    assert reopened.connection.execute("SELECT COUNT(*) FROM media_text").fetchone()[0] == 0
    assert sync_metadata(reopened, lambda p: pytest.fail(f"{p} read again")).updated == 0  # its record carried over
    reopened.close()
