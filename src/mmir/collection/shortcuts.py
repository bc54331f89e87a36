"""The one-line search shortcuts of :class:`mmir.api.Collection`: each builds a query and calls ``search``.

``Collection.search(query, k, per, spatial, filter)`` is the one search entry; these keep the older call forms
(``search_text``, ``similar``, ``feedback``…) that the CLI, notebooks and tests use, each documented by the query it
builds.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from mmir.concepts import QueryMode
from mmir.index.visible_text import TextField
from mmir.media import read_file
from mmir.search.queries import (
    ChannelQuery,
    ExampleQuery,
    FeedbackMethod,
    FeedbackQuery,
    FieldQuery,
    Fusion,
    ItemQuery,
    Per,
    Query,
    TemporalQuery,
    TextQuery,
    VectorQuery,
)
from mmir.types import DEFAULT_K, Hit

if TYPE_CHECKING:
    import numpy as np

    from mmir.search.filters import SearchFilter
    from mmir.search.pipeline import SearchResult
    from mmir.search.spatial import SpatialConfig
    from mmir.search.temporal import TemporalHit


class SearchShortcuts:
    """Mixed into :class:`mmir.api.Collection`, which provides :meth:`search`."""

    def search(
        self, query: Query, k: int = DEFAULT_K, per: Per | str = Per.FILE, spatial: SpatialConfig | None = None,
        filter: SearchFilter | None = None,
    ) -> SearchResult:  # fmt: skip
        raise NotImplementedError  # Collection.search

    def search_text(self, text: str, k: int = DEFAULT_K, mode: QueryMode = QueryMode.AND) -> list[Hit]:
        """Keyword search through concepts (``search(TextQuery(text, mode), k)``)."""
        return list(self.search(TextQuery(text, mode), k))

    def search_image(
        self, path: str | os.PathLike[str], k: int = DEFAULT_K, spatial: SpatialConfig | None = None
    ) -> list[Hit]:
        """Query by example with an image file, indexed or not (``search(ExampleQuery(...), k, spatial=...)``)."""
        return list(self.search(_example(path), k, spatial=spatial))

    def search_image_bytes(self, data: bytes, name: str, k: int = DEFAULT_K) -> list[Hit]:
        """Query by example with an uploaded image's bytes (``search(ExampleQuery(data, name), k)``)."""
        return list(self.search(ExampleQuery(data, name), k))

    def search_image_descriptor(
        self, path: str | os.PathLike[str], k: int = DEFAULT_K, descriptor: str = "cnn",
        weights: Mapping[str, float] | None = None, fusion: str = "late",
    ) -> list[Hit]:  # fmt: skip
        """Query by example in one descriptor channel or fused (``search(ChannelQuery(...), k)``)."""
        return list(self.search(ChannelQuery(_example(path), descriptor, dict(weights or {}), Fusion(fusion)), k))

    def search_descriptor(
        self, descriptor: np.ndarray, k: int = DEFAULT_K, why: str = "similar to the query"
    ) -> list[Hit]:
        """Query by a raw descriptor ``float32[D]`` the caller encoded (``search(VectorQuery(...), k)``)."""
        return list(self.search(VectorQuery(descriptor, why), k))

    def similar(
        self, path: str | os.PathLike[str] | ItemQuery, k: int = DEFAULT_K, per: Per | str = Per.FILE
    ) -> list[Hit]:
        """Items similar to an indexed file or shot, itself excluded (``search(ItemQuery(...), k, per)``)."""
        return list(self.search(path if isinstance(path, ItemQuery) else ItemQuery(os.fspath(path)), k, per))

    def feedback(
        self, positives: Sequence[int | str | os.PathLike[str] | ItemQuery],
        negatives: Sequence[int | str | os.PathLike[str] | ItemQuery] = (),
        k: int = DEFAULT_K, method: FeedbackMethod | str = "classifier", query: np.ndarray | None = None,
    ) -> list[Hit]:  # fmt: skip
        """Re-rank the collection from items marked relevant or not (``search(FeedbackQuery(...), k)``).

        Items are media ids, paths of indexed files, or :class:`ItemQuery` (a file or one shot).

        Raises:
            QueryError: if no item is marked relevant, or an item is not in the collection.
        """
        marks = FeedbackQuery(tuple(map(_item, positives)), tuple(map(_item, negatives)), FeedbackMethod(method), query)
        return list(self.search(marks, k))

    def search_then(
        self,
        first: TextQuery | ExampleQuery,
        second: TextQuery | ExampleQuery,
        within_s: float = 30.0,
        k: int = DEFAULT_K,
    ) -> list[TemporalHit]:
        """Temporal query: a shot matching ``first`` followed by one matching ``second`` within ``within_s``."""
        return list(self.search(TemporalQuery(first, second, within_s), k).pairs)

    def search_fields(
        self, text: str, fields: Sequence[TextField], k: int = DEFAULT_K, per_shot: bool = False
    ) -> list[Hit]:
        """Files (or shots) whose visible text / speech holds ``text``: ``search(FieldQuery(text, fields), k, per)``."""
        return list(self.search(FieldQuery(text, tuple(fields)), k, Per.SHOT if per_shot else Per.FILE))

    def retrieval_run(self, queries: dict[str, Path], depth: int = 1000) -> dict[str, list[tuple[str, float]]]:
        """Query by example for each ``query id → image file``; the run ranks indexed files by path."""
        return {
            query_id: [(hit.media.path, hit.score) for hit in self.search(_example(path), k=depth)]
            for query_id, path in queries.items()
        }


def _example(path: str | os.PathLike[str]) -> ExampleQuery:
    """An image file as a query by example (read through media/)."""
    return ExampleQuery(read_file(path), os.fspath(path))


def _item(item: int | str | os.PathLike[str] | ItemQuery) -> ItemQuery:
    """A media id, a path or an :class:`ItemQuery` as an :class:`ItemQuery`."""
    if isinstance(item, ItemQuery):
        return item
    if isinstance(item, (str, os.PathLike)):
        return ItemQuery(os.fspath(item))
    return ItemQuery(media_id=int(item))
