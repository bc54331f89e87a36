"""Parsing ``--store`` values: what is recorded in the manifest, and one-line errors for the rest."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmir.errors import CollectionError
from mmir.index.stores import StoreKind, parse_store


def test_store_addresses_and_their_recorded_form(tmp_path: Path) -> None:
    assert parse_store("faiss").kind is StoreKind.FAISS and parse_store("").uri == "faiss"
    lite = parse_store("milvus:./vectors.db", base=tmp_path)
    assert lite.kind is StoreKind.MILVUS_LITE and lite.uri == f"milvus:{tmp_path / 'vectors.db'}"
    assert parse_store(lite.uri) == lite  # the recorded form parses back to itself
    server = parse_store("milvus://milvus.example:19530")
    assert server.kind is StoreKind.MILVUS_SERVER and server.location == "http://milvus.example:19530"
    assert parse_store(server.uri) == server


@pytest.mark.parametrize(
    ("value", "message"),
    [("milvus://nohost", "expected milvus://HOST:PORT"), ("milvus:vectors.sqlite", "a file ending in .db"),
     ("qdrant://x:1", "expected faiss, milvus:PATH.db or milvus://HOST:PORT")],
)  # fmt: skip
def test_bad_store_addresses_are_refused_in_one_line(value: str, message: str) -> None:
    with pytest.raises(CollectionError, match=message):
        parse_store(value)
