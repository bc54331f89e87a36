"""File text and query words meet: both go through the shared tokeniser; older catalogs are re-folded on open."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from mmir.concepts.text import tokenise
from mmir.index.catalog import MIGRATIONS, Catalog, SegmentEncoding
from mmir.index.metadata_text import sync_metadata, term_matches
from mmir.types import MediaKind


def _add(catalog: Catalog, path: Path) -> int:
    path.write_bytes(b"not really an image")  # names and sidecars need no pixels
    stat = path.stat()
    segment = SegmentEncoding(np.zeros(4, np.float32), np.zeros(3, np.float32))
    with catalog.transaction():
        media_id, _, _ = catalog.put_media(str(path), MediaKind.IMAGE, stat.st_size, stat.st_mtime, "0" * 40,
                                           [segment])  # fmt: skip
    return media_id


def _files_matching_every_word(catalog: Catalog, query: str) -> set[int]:
    """Files whose text holds every word of ``query`` as the search tokenises it (an AND of its terms)."""
    found = [set(matches) for matches in term_matches(catalog, tokenise(query))]
    return set.intersection(*found) if found else set()


@pytest.fixture()
def catalog(tmp_path: Path):
    cat = Catalog(tmp_path / "catalog.sqlite")
    yield cat
    cat.close()


def test_names_tags_and_queries_meet(catalog: Catalog, tmp_path: Path) -> None:
    paris = _add(catalog, tmp_path / "Paris2019.jpg")
    counter = _add(catalog, tmp_path / "IMG_2031.jpg")
    party = _add(catalog, tmp_path / "ｐａｒｔｙ.jpg")  # fullwidth letters in a file name
    flamingo = _add(catalog, tmp_path / "p1.jpg")
    (tmp_path / "p1.txt").write_text("a flamingo parade in the park")
    glued = _add(catalog, tmp_path / "flamingoparade.jpg")
    sync_metadata(catalog)
    assert _files_matching_every_word(catalog, "Paris2019") == {paris}
    assert _files_matching_every_word(catalog, "paris 2019") == {paris}
    assert _files_matching_every_word(catalog, "img2031") == {counter}
    assert _files_matching_every_word(catalog, "IMG_2031") == {counter}
    assert _files_matching_every_word(catalog, "party") == {party}
    assert _files_matching_every_word(catalog, "ｐａｒｔｙ") == {party}
    assert _files_matching_every_word(catalog, "flamingo,parade") == {flamingo}  # not glued into another file's name
    assert glued not in _files_matching_every_word(catalog, "flamingo,parade")


def test_an_older_catalog_is_refolded_on_open(tmp_path: Path) -> None:
    path = tmp_path / "catalog.sqlite"
    catalog = Catalog(path)
    paris = _add(catalog, tmp_path / "Paris2019.jpg")
    sync_metadata(catalog)
    catalog.close()
    # As a catalog written before the shared tokeniser stored it: the raw name, one step below the re-fold.
    db = sqlite3.connect(path)
    db.execute("UPDATE media_text_fts SET name = 'Paris2019.jpg ｂｅａｃｈ' WHERE rowid = ?", (paris,))
    refold_step = next(step for step, sql in MIGRATIONS.items() if "mmir_fold" in sql)
    db.execute(f"PRAGMA user_version={refold_step - 1}")
    db.commit()
    db.close()
    reopened = Catalog(path)
    try:
        assert _files_matching_every_word(reopened, "paris 2019 beach") == {paris}
        assert reopened.connection.execute("PRAGMA user_version").fetchone()[0] == max(MIGRATIONS)
    finally:
        reopened.close()
