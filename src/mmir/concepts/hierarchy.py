"""The bundled WordNet → ImageNet data (built by ``scripts/build_concept_hierarchy.py``), loaded once."""

from __future__ import annotations

import functools
import gzip
import itertools
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from mmir.errors import MmirError

DATA_FILE = "wordnet_imagenet.json.gz"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class SenseLink:
    """A lemma's link to a synset: the classes it reaches and how strongly.

    Attributes:
        synset: NLTK-style synset name (``"dog.n.01"``).
        classes: ImageNet class indices (0–999, timm order) the synset covers.
        weight: Sense weight (frequency, rank, hypernym discount) in [0, 1].
        hops: 0 when the sense covers the classes itself, else steps up to the borrowed hypernym.
    """

    synset: str
    classes: tuple[int, ...]
    weight: float
    hops: int


@dataclass(frozen=True)
class ConceptHierarchy:
    """Lemmas → sense links, irregular plurals, and the 1000 ImageNet classes' ids, names and definitions."""

    class_synsets: tuple[str, ...]
    class_lemmas: tuple[str, ...]
    class_definitions: tuple[str, ...]
    links: Mapping[str, tuple[SenseLink, ...]]
    exceptions: dict[str, str]
    longest_lemma: int  # words in the longest lemma, bounds the multi-word search

    def lookup(self, lemma: str) -> tuple[SenseLink, ...]:
        """The sense links of a normalised lemma, strongest first; empty when unknown."""
        return self.links.get(lemma, ())

    @functools.cached_property
    def phrase_starts(self) -> dict[str, int]:
        """First word of every multi-word lemma (and irregular plural) → words in the longest one it starts.

        Only a phrase's last word is inflected, so its first word is always written as in the lemma: a query word
        that starts no lemma skips the phrase search at its position (a query of 50 made-up words tried ~280
        phrase lookups without it). Built once, on the first query of several words.
        """
        starts: dict[str, int] = {}
        for lemma in itertools.chain(self.links.keys(), self.exceptions.keys()):
            first, space, _rest = lemma.partition(" ")
            if space:
                starts[first] = max(starts.get(first, 0), lemma.count(" ") + 1)
        return starts


class _LazyLinks(Mapping[str, tuple[SenseLink, ...]]):
    """Lemma → sense links, built per lemma on first lookup.

    Building all ~100k :class:`SenseLink` objects up front cost most of a cold ``mmir search`` (0.8 s of 1.4 s
    under load, measured); a query looks up a handful of lemmas.
    """

    def __init__(self, raw: dict[str, list[list[float]]], table: list[tuple[str, tuple[int, ...]]]) -> None:
        self._raw = raw
        self._table = table
        self._built: dict[str, tuple[SenseLink, ...]] = {}

    def __getitem__(self, lemma: str) -> tuple[SenseLink, ...]:
        found = self._built.get(lemma)
        if found is None:
            entries = self._raw[lemma]  # KeyError for unknown lemmas, as a dict would raise
            found = tuple(
                SenseLink(self._table[int(row)][0], self._table[int(row)][1], weight, int(hops))
                for row, weight, hops in entries
            )
            self._built[lemma] = found
        return found

    def __contains__(self, lemma: object) -> bool:
        return lemma in self._raw

    def __iter__(self) -> Iterator[str]:
        return iter(self._raw)

    def __len__(self) -> int:
        return len(self._raw)


def _parse(raw: dict) -> ConceptHierarchy:
    if raw.get("version") != FORMAT_VERSION:
        raise MmirError(f"concept data file has version {raw.get('version')}, expected {FORMAT_VERSION}")
    table = [(name, tuple(classes)) for name, _offset, classes in raw["synsets"]]
    links = _LazyLinks(raw["lemmas"], table)
    classes = raw["classes"]
    return ConceptHierarchy(
        class_synsets=tuple(classes["synsets"]),
        class_lemmas=tuple(classes["lemmas"]),
        class_definitions=tuple(classes["definitions"]),
        links=links,
        exceptions=dict(raw["exceptions"]),
        longest_lemma=max(lemma.count(" ") for lemma in raw["lemmas"]) + 1,
    )


@lru_cache(maxsize=1)
def load_hierarchy() -> ConceptHierarchy:
    """The bundled hierarchy (parsed once per process; about 0.5 MB compressed)."""
    blob = resources.files("mmir.concepts").joinpath("data").joinpath(DATA_FILE).read_bytes()
    return _parse(json.loads(gzip.decompress(blob)))
