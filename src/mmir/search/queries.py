"""The kinds of query the search pipeline answers, and the unit results are grouped to.

Every query goes through :func:`mmir.search.pipeline.run` (``Collection.search(query, k, per=...)``):

- :class:`TextQuery` — keywords through concepts, fused with metadata text (and a joint model's text tower);
- :class:`ExampleQuery` — an image that need not be indexed (its bytes), or :class:`VectorQuery` — its
  descriptor already encoded by the caller (the server encodes uploads outside its lock);
- :class:`ItemQuery` — an indexed file **or one shot of it** (``"safari.mp4@8.0"``: the shot covering 8 s);
- :class:`FeedbackQuery` — items (files or shots) marked relevant / not relevant;
- :class:`TemporalQuery` — a shot matching one sub-query followed by one matching another;
- :class:`ChannelQuery` — query by example in one descriptor channel (``cnn|colour|lbp|hog|bovw``) or ``fused``;
- :class:`FieldQuery` — a phrase in the words photos show (OCR) or videos say (speech): ``--shows`` / ``--said``.
"""

from __future__ import annotations

import enum
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from mmir.concepts import QueryMode
from mmir.errors import QueryError
from mmir.index.visible_text import TextField


class Per(str, enum.Enum):
    """The unit results are grouped to: one hit per file (its best shot), or one per shot."""

    FILE = "file"
    SHOT = "shot"


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


@dataclass(frozen=True, eq=False)
class VectorQuery:
    """Query by example with a raw descriptor ``float32[D]`` the caller encoded (e.g. outside a lock)."""

    descriptor: np.ndarray
    why: str = "similar to the query"


@dataclass(frozen=True)
class ItemQuery:
    """An indexed file, or one of its shots, as the query (the item itself is left out of the results).

    Attributes:
        path: The file's path (``""`` when given by ``media_id``).
        at_s: A time in seconds: the shot covering it is the query (``None``: the whole file).
        media_id: The file's catalog id instead of ``path``.
        segment_id: A shot's catalog id (overrides ``at_s``).
    """

    path: str = ""
    at_s: float | None = None
    media_id: int | None = None
    segment_id: int | None = None

    @property
    def is_shot(self) -> bool:
        """Whether one shot, not the whole file, is meant."""
        return self.at_s is not None or self.segment_id is not None


_AT = re.compile(r"^(?P<path>.+)@(?P<at>\d+(?:\.\d*)?)$")


def parse_item(text: str) -> ItemQuery:
    """``"video.mp4@8.0"`` → the shot covering 8 s of ``video.mp4``; any other text is a whole file's path.

    A file whose own name ends in ``@<number>`` is still meant whole when it exists.
    """
    found = _AT.match(text)
    if found is None or os.path.exists(text):
        return ItemQuery(text)
    return ItemQuery(found["path"], at_s=float(found["at"]))


class FeedbackMethod(str, enum.Enum):
    """How marked items re-rank the collection."""

    ROCCHIO = "rocchio"
    CLASSIFIER = "classifier"


@dataclass(frozen=True, eq=False)
class FeedbackQuery:
    """Items (files or shots) marked relevant (``positives``, at least one) or not (``negatives``).

    ``query`` is an optional raw query descriptor ``float32[D]`` (query by example) that Rocchio keeps.
    """

    positives: tuple[ItemQuery, ...]
    negatives: tuple[ItemQuery, ...] = ()
    method: FeedbackMethod = FeedbackMethod.CLASSIFIER
    query: np.ndarray | None = None

    def __post_init__(self) -> None:
        if not self.positives:
            raise QueryError("relevance feedback needs at least one item marked relevant")


SubQuery = TextQuery | ExampleQuery | VectorQuery | ItemQuery


@dataclass(frozen=True)
class TemporalQuery:
    """A shot matching ``first`` followed, in the same video, by one matching ``second`` within ``within_s``."""

    first: SubQuery
    second: SubQuery
    within_s: float = 30.0


class Fusion(str, enum.Enum):
    """How several descriptor channels are combined (see :mod:`mmir.search.fusion`)."""

    LATE = "late"
    EARLY = "early"


@dataclass(frozen=True)
class ChannelQuery:
    """Query by example in one descriptor channel, or several fused (``descriptor="fused"``).

    Attributes:
        example: The query image (an :class:`ExampleQuery`) or an indexed item (file or shot).
        descriptor: ``cnn``, ``colour``, ``lbp``, ``hog``, ``bovw`` or ``fused``.
        weights: Fusion weights per channel (missing: the validated defaults).
        fusion: Late or early fusion.
    """

    example: ExampleQuery | ItemQuery
    descriptor: str = "cnn"
    weights: Mapping[str, float] = field(default_factory=dict)
    fusion: Fusion = Fusion.LATE

    def __hash__(self) -> int:
        return hash((self.example, self.descriptor, tuple(sorted(self.weights.items())), self.fusion))


_WORD = re.compile(r"\w")


@dataclass(frozen=True)
class FieldQuery:
    """A phrase looked for only in the words segments show (OCR, ``shows``) or say (speech, ``said``).

    Attributes:
        text: The phrase (at least one word).
        fields: Where to look (any of :class:`~mmir.index.visible_text.TextField`).
        fuzzy: Let a one-word query match OCR misreadings of it (scored lower by their closeness).
    """

    text: str
    fields: tuple[TextField, ...] = (TextField.SHOWS,)
    fuzzy: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields", tuple(TextField(f) for f in self.fields))
        if not _WORD.search(self.text):
            raise QueryError(f"{self.text!r} has no word to look for")
        if not self.fields:
            raise QueryError("a field query needs a field to look in (shows or said)")


Query = TextQuery | ExampleQuery | VectorQuery | ItemQuery | FeedbackQuery | TemporalQuery | ChannelQuery | FieldQuery
