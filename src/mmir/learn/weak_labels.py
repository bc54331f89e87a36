"""Weak labels: concept names taken from tags, sidecar files, folder names or file names.

These are the labels real collections carry, and they are noisy by nature: a holiday folder holds the
hotel room as well as the beach, ``IMG_2041_dog.jpg`` may show the cat. Every source yields
:class:`WeakExample` rows (a file and its label set) for files the collection already indexed, so training
uses their stored descriptors (:func:`mmir.learn.robust_heads.train_robust_heads`) and never decodes a file.

Sources:
- a tags CSV, ``path,tag1;tag2`` (the same format as ``mmir train concepts LABELS.csv``);
- sidecars: ``photo.jpg.txt`` or ``photo.txt`` beside a file, tags separated by commas, semicolons or lines;
- folders: the name of the folder a file sits in;
- file names: the words of the file name (camera prefixes such as ``IMG``/``DSC`` and numbers are dropped).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from mmir.learn.labels_csv import DataError, read_label_csv
from mmir.media.errors import MediaError
from mmir.media.metadata import read_sidecar

if TYPE_CHECKING:
    from mmir.learn.robust_heads import RobustResult


class LabelSource(StrEnum):
    """Where weak labels come from."""

    TAGS = "tags"
    SIDECARS = "sidecars"
    FOLDERS = "folders"
    NAMES = "names"


@dataclass(frozen=True)
class WeakExample:
    """A file and the labels a weak source gives it (possibly empty: a pure negative)."""

    path: str
    labels: frozenset[str]


SIDECAR_SUFFIXES = (".txt", ".tags")
# Words in file names that name the camera, app or edit state, not the content.
_STOPWORD_TEXT = (
    "img image images dsc dscn dscf pxl pic pict photo photos picture screenshot screen shot scan copy edit edited "
    "final new version vid mov jpg jpeg png heic raw the and with from of in on at for"
)
NAME_STOPWORDS = frozenset(_STOPWORD_TEXT.split(" "))
_SPLIT_TAGS = re.compile(r"[,;\n]+")
_WORDS = re.compile(r"[^\W\d_]+")  # runs of letters (any alphabet); digits and underscores split words


def normalise_label(text: str) -> str:
    """Lower-case, trimmed, inner whitespace collapsed: ``' Golden  Retriever '`` → ``'golden retriever'``."""
    return " ".join(text.lower().split())


def from_tags_csv(csv_path: Path) -> list[WeakExample]:
    """Rows of a ``path,tag1;tag2`` CSV (relative paths against the CSV's folder; rows may have no tags).

    Raises:
        DataError: naming the file and line of a bad row (see :func:`mmir.learn.labels_csv.read_label_csv`).
    """
    rows = read_label_csv(csv_path, check_files=False, allow_empty=True)
    return [WeakExample(str(row.path.absolute()), _clean(row.labels)) for row in rows]


def from_sidecars(paths: Iterable[str], suffixes: Sequence[str] = SIDECAR_SUFFIXES) -> list[WeakExample]:
    """Tags read from a sidecar beside each file: ``name.jpg.txt`` first, then ``name.txt`` (``suffixes``).

    Files without a sidecar are left out (unknown, not negative); an empty sidecar makes a pure negative.

    Raises:
        DataError: naming the sidecar that cannot be read as UTF-8 text.
    """
    examples = []
    for path in paths:
        try:
            found = read_sidecar(path, tuple(suffixes))
        except MediaError as error:
            raise DataError(str(error)) from error
        if found is not None:
            examples.append(WeakExample(path, _clean(_SPLIT_TAGS.split(found[1]))))
    return examples


def from_folders(paths: Iterable[str]) -> list[WeakExample]:
    """One label per file: the name of the folder it sits in (``…/beach/0001.jpg`` → ``beach``)."""
    return [WeakExample(path, _clean([Path(path).parent.name])) for path in paths]


def from_names(paths: Iterable[str]) -> list[WeakExample]:
    """The words of each file's name (``IMG_2041_golden-dog.jpg`` → ``golden``, ``dog``).

    Numbers, one- and two-letter words and :data:`NAME_STOPWORDS` are dropped; words are split at
    underscores, hyphens, dots, digits and case changes (``beachSunset`` → ``beach``, ``sunset``).
    """
    examples = []
    for path in paths:
        stem = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", Path(path).stem)
        words = [w.lower() for w in _WORDS.findall(stem)]
        examples.append(WeakExample(path, frozenset(w for w in words if len(w) > 2 and w not in NAME_STOPWORDS)))
    return examples


def read_weak_labels(source: LabelSource, indexed: Sequence[str], where: Path | None = None) -> list[WeakExample]:
    """The weak labels of ``source`` for a collection whose indexed files are ``indexed`` (absolute paths).

    Args:
        source: Tags from a CSV, sidecar files, folder names or file names.
        indexed: The collection's indexed paths (folder and file names, and the files sidecars belong to).
        where: The tags CSV (``TAGS``), or the folder whose indexed files' sidecars are read (``SIDECARS``).
    """
    if source is LabelSource.TAGS:
        if where is None:
            raise DataError("tags need a CSV file of path,tag1;tag2 rows")
        return from_tags_csv(where)
    if source is LabelSource.SIDECARS:
        root = str(Path(where or "/").absolute()).rstrip("/") + "/"
        return from_sidecars(path for path in indexed if path.startswith(root))
    return from_folders(indexed) if source is LabelSource.FOLDERS else from_names(indexed)


def _clean(labels: Iterable[str]) -> frozenset[str]:
    return frozenset(label for label in (normalise_label(raw) for raw in labels) if label)


def keep_learnable(
    examples: Sequence[WeakExample], min_examples: int = 5, max_share: float = 0.9
) -> tuple[list[WeakExample], dict[str, str]]:
    """Drop labels that cannot make a concept: too rare, or on nearly every file (nothing to tell apart).

    Args:
        examples: Weakly labelled files.
        min_examples: Fewest files a label needs.
        max_share: Largest share of the files a label may cover.

    Returns:
        The examples with only learnable labels (files left without any label stay as pure negatives), and
        for each dropped label the reason.

    Raises:
        DataError: if no label is learnable.
    """
    counts = Counter(label for example in examples for label in example.labels)
    dropped: dict[str, str] = {}
    for label, count in counts.items():
        if count < min_examples:
            dropped[label] = f"only {count} files (need {min_examples})"
        elif count > max_share * len(examples):
            dropped[label] = f"on {count} of {len(examples)} files (nothing to tell it apart from)"
    kept = [WeakExample(e.path, frozenset(e.labels - dropped.keys())) for e in examples]
    if not any(example.labels for example in kept):
        raise DataError(
            f"no learnable label among {len(counts)} in {len(examples)} files "
            f"(each needs at least {min_examples} files and must not cover more than {max_share:.0%} of them)"
        )
    return kept, dropped


@dataclass(frozen=True)
class WeakTraining:
    """What :meth:`mmir.api.Collection.learn_weak_concepts` did.

    Attributes:
        result: The heads, out-of-fold probabilities and suspects (rows follow ``paths``).
        paths: The indexed files trained on, in row order.
        dropped: Labels left out, with the reason.
        unindexed: Labelled files skipped because they are not in the collection (no decoding is done).
    """

    result: RobustResult
    paths: tuple[str, ...]
    dropped: dict[str, str]
    unindexed: int
