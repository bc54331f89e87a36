"""The kinds of query the search engine answers."""

from __future__ import annotations

from dataclasses import dataclass

from mmir.concepts import QueryMode


@dataclass(frozen=True)
class TextQuery:
    """Keyword search through concepts: ``text`` is mapped to weighted concepts."""

    text: str
    mode: QueryMode = QueryMode.AND


@dataclass(frozen=True)
class ExampleQuery:
    """Query by example with an image that need not be indexed (its encoded bytes)."""

    data: bytes
    name: str


@dataclass(frozen=True)
class ItemQuery:
    """Items similar to an already indexed file (the file itself is left out of the results)."""

    path: str


Query = TextQuery | ExampleQuery | ItemQuery
