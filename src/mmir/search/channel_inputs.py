"""What a descriptor-channel query needs: the query's raw vector in each channel, and the video shots' vectors.

The query is an image (its channels extracted once) or an indexed item: a photo's stored channel rows, or a video
shot's keyframe vectors (:mod:`mmir.search.channel_shots`); its ``cnn`` vector is the encoder's or the stored one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from mmir.errors import QueryError
from mmir.search.channel_search import ShotRows

if TYPE_CHECKING:
    from PIL import Image

    from mmir.search.engine import SearchEngine
    from mmir.search.items import ResolvedItem


class ChannelInputs:
    """The query's raw channel vectors and every video shot's, each computed once per query.

    Args:
        engine: The collection's search engine (store, encoder, channel extractors).
        item: The indexed file or shot that is the query, or ``None``.
        image: The decoded query image, or ``None``.
    """

    def __init__(self, engine: SearchEngine, item: ResolvedItem | None, image: Image.Image | None) -> None:
        self.engine, self.item, self.image = engine, item, image
        self._shots: dict[str, ShotRows] = {}

    def shots(self, name: str) -> ShotRows | None:
        """Video shots' raw vectors in engineered channel ``name`` (``None`` for ``cnn``, which has its own)."""
        if name == "cnn":
            return None
        if name not in self._shots:
            from mmir.search.channel_shots import shot_vectors

            (extractor,) = self.engine.channel_extractors([name])
            self._shots[name] = shot_vectors(self.engine.store, name, extractor.extract)
        return self._shots[name]

    def query_vectors(self, wanted: Sequence[str]) -> dict[str, np.ndarray]:
        """``{name: raw float32[K]}`` of the query in each channel of ``wanted``.

        Raises:
            QueryError: the query item has no vector in a wanted channel (not indexed with it).
        """
        engineered = [n for n in wanted if n != "cnn"]
        if self.image is not None:
            vectors = {e.name: e.extract(self.image) for e in self.engine.channel_extractors(engineered)}
            if "cnn" in wanted:
                vectors["cnn"] = self.engine.encoder().encode([self.image]).descriptors[0]
            return vectors
        assert self.item is not None
        vectors = {name: self._item_vector(self.item, name) for name in engineered}
        if "cnn" in wanted:
            vectors["cnn"] = self.item.query_vector()[0]
        return vectors

    def _item_vector(self, item: ResolvedItem, name: str) -> np.ndarray:
        from mmir.index.channels import channel_vectors

        found, rows = channel_vectors(self.engine.store.catalog, name, [item.media.id])
        if len(found):
            return rows[0]
        shot_ids, shot_rows = self.shots(name) or (np.zeros(0, np.int64), np.zeros((0, 0), np.float32))
        at = np.flatnonzero(shot_ids == item.segment_ids[0])  # a video shot: its keyframe's vector
        if not len(at):
            raise QueryError(f"{item.label()}: has no {name} descriptor (index it with --descriptors {name})")
        return shot_rows[at[0]]
