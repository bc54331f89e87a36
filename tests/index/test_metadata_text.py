"""Metadata text in the catalog: FTS5 storage, BM25 matches, sidecar changes, no query-syntax injection."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from mmir.index.catalog import Catalog, SegmentEncoding
from mmir.index.metadata_text import fts_phrase, media_text, sync_metadata, term_matches
from mmir.media.metadata import TextField
from mmir.types import MediaKind


def _add(catalog: Catalog, path: Path) -> int:
    path.write_bytes(b"not really an image")  # names and sidecars need no pixels
    stat = path.stat()
    segment = SegmentEncoding(np.zeros(4, np.float32), np.zeros(3, np.float32))
    with catalog.transaction():
        media_id, _, _ = catalog.put_media(str(path), MediaKind.IMAGE, stat.st_size, stat.st_mtime, "0" * 40,
                                           [segment])  # fmt: skip
    return media_id


@pytest.fixture()
def catalog(tmp_path: Path):
    cat = Catalog(tmp_path / "catalog.sqlite")
    yield cat
    cat.close()


def test_file_and_folder_words_are_searchable(catalog: Catalog, tmp_path: Path) -> None:
    folder = tmp_path / "2019" / "SummerHoliday"
    folder.mkdir(parents=True)
    beach = _add(catalog, folder / "IMG_2031 beach.jpg")
    other = _add(catalog, tmp_path / "DSC_0001.jpg")
    assert sync_metadata(catalog).updated == 2
    (holiday, year, beaches) = term_matches(catalog, ["holiday", "2019", "beaches"])
    assert set(holiday) == {beach} and set(year) == {beach} and set(beaches) == {beach}  # Porter: beaches ~ beach
    assert other not in holiday and all(score > 0 for score in holiday.values())
    assert sync_metadata(catalog).updated == 0  # nothing changed: nothing re-read


def test_sidecar_change_is_picked_up(catalog: Catalog, tmp_path: Path) -> None:
    photo = tmp_path / "p.jpg"
    media_id = _add(catalog, photo)
    sync_metadata(catalog)
    assert term_matches(catalog, ["quokka"]) == [{}]
    sidecar = tmp_path / "p.txt"
    sidecar.write_text("A quokka smiling on Rottnest Island")
    assert sync_metadata(catalog).updated == 1
    assert set(term_matches(catalog, ["quokka"])[0]) == {media_id}
    sidecar.write_text("a wallaby")
    os.utime(sidecar, ns=(sidecar.stat().st_atime_ns, sidecar.stat().st_mtime_ns + 10**9))
    sync_metadata(catalog)
    quokka, wallaby = term_matches(catalog, ["quokka", "wallaby"])
    assert quokka == {} and set(wallaby) == {media_id}
    sidecar.unlink()
    sync_metadata(catalog)
    assert term_matches(catalog, ["wallaby"]) == [{}]
    assert set(media_text(catalog, media_id)) == {TextField.NAME}


@pytest.mark.parametrize(
    "hostile",
    [
        'quokka" OR "p',
        "quokka OR p",
        "NEAR(quokka p)",
        "p*",
        "name:p",
        "^p",
        "(",
        '"',
        "'; DROP TABLE media; --",
        "quokka AND NOT p",
        "{name}: p",
        "-p",
        "",
    ],
)
def test_fts5_syntax_in_user_input_is_plain_text(catalog: Catalog, tmp_path: Path, hostile: str) -> None:
    media_id = _add(catalog, tmp_path / "p.jpg")
    (tmp_path / "p.txt").write_text("quokka")
    sync_metadata(catalog)
    (found,) = term_matches(catalog, [hostile])
    # Only a phrase of the input's words can match: "quokka p" is not a phrase of "p quokka" text order …
    words = [w for w in "".join(c if c.isalnum() else " " for c in hostile.lower()).split()]
    expected = {media_id} if words in (["p"], ["quokka"]) else set()
    assert set(found) == expected, (hostile, found)
    assert catalog.counts()[0] == 1  # and the catalog is intact


def test_fts_phrase_quotes_every_token() -> None:
    assert fts_phrase('dog" OR x') == '"dog" + "or" + "x"'
    assert fts_phrase("***") is None


def test_removed_file_leaves_no_text(catalog: Catalog, tmp_path: Path) -> None:
    media_id = _add(catalog, tmp_path / "zebra.jpg")
    sync_metadata(catalog)
    with catalog.transaction():
        catalog.remove_media(media_id)
    assert term_matches(catalog, ["zebra"]) == [{}]


def test_texts_are_written_in_chunks_and_a_sync_with_nothing_to_do_writes_nothing(
    catalog: Catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mmir.index.metadata_text as metadata_text

    monkeypatch.setattr(metadata_text, "_SYNC_CHUNK", 2)
    ids = [_add(catalog, tmp_path / f"koala_{i}.jpg") for i in range(5)]
    (tmp_path / "koala_3.txt").write_text("eucalyptus")  # a sidecar found through the folder listing
    before = catalog.generation
    assert sync_metadata(catalog).updated == 5
    assert catalog.generation == before + 3  # chunks of 2, 2 and 1: three commits, not five
    assert set(term_matches(catalog, ["koala"])[0]) == set(ids)
    assert set(term_matches(catalog, ["eucalyptus"])[0]) == {ids[3]}
    after = catalog.generation
    assert sync_metadata(catalog).updated == 0
    assert catalog.generation == after  # no empty transaction: caches keyed on the generation stay valid
