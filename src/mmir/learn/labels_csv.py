"""Multi-label CSV files: one ``path,label1;label2`` row per example.

Relative paths are resolved against the CSV's folder; a header row ``path,labels`` is allowed. Errors name the
file and line so a user can fix the row.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

from mmir.errors import MmirError

MIN_POSITIVES = 2  # a concept head needs at least two files carrying its label (held-out AP, calibration)


class DataError(MmirError):
    """Training or evaluation data is missing, empty or inconsistent."""


@dataclass(frozen=True)
class LabelledPath:
    """One row: a file and its (possibly empty) set of labels, plus its line number for messages."""

    path: Path
    labels: frozenset[str]
    line: int


def read_label_csv(
    csv_path: Path, *, check_files: bool = True, allow_empty: bool = False
) -> list[LabelledPath]:
    """Read ``path,label1;label2`` rows.

    Args:
        csv_path: The CSV file.
        check_files: Raise if a listed file does not exist.
        allow_empty: Accept rows without labels (pure negatives); otherwise each row needs one.

    Raises:
        DataError: naming the file and line for a missing file, a malformed row, a duplicate path or no rows.
    """
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise DataError(f"{csv_path}: label file not found")
    rows: list[LabelledPath] = []
    seen: dict[Path, int] = {}
    line = 0
    try:
        for line, fields in enumerate(csv.reader(io.StringIO(_text(csv_path), newline="")), start=1):
            if not fields or all(not f.strip() for f in fields) or fields[0].lstrip().startswith("#"):
                continue
            if line == 1 and fields[0].strip().lower() == "path":
                continue  # header
            rows.append(_parse_row(csv_path, line, fields, check_files, allow_empty, seen))
    except csv.Error as exc:  # a field over the csv module's 128 KB limit, a NUL byte, ...
        raise DataError(f"{csv_path}:{line + 1}: not a readable CSV row ({exc})") from exc
    if not rows:
        raise DataError(f"{csv_path}: no labelled rows")
    return rows


def _text(csv_path: Path) -> str:
    """The file's text (UTF-8, a byte-order mark allowed); a DataError naming the line of the first bad byte."""
    try:
        data = csv_path.read_bytes()
    except OSError as exc:
        raise DataError(f"{csv_path}: cannot read the label file ({exc.strerror})") from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        bad = data[exc.start]
        raise DataError(f"{csv_path}:{line}: not UTF-8 text (byte {bad:#04x}); save the CSV as UTF-8") from exc


def learnable(
    examples: list[LabelledPath], min_positives: int = MIN_POSITIVES
) -> tuple[list[LabelledPath], dict[str, int]]:
    """The examples without the labels too few files carry, and those labels with their counts.

    A label on one file cannot be learned (nor its held-out AP measured), but it should not stop the others:
    it is dropped (its file stays, as a negative for the other labels) and reported.
    """
    counts = Counter(label for example in examples for label in example.labels)
    skipped = {label: count for label, count in sorted(counts.items()) if count < min_positives}
    if not skipped:
        return examples, {}
    return [replace(example, labels=example.labels - skipped.keys()) for example in examples], skipped


def _parse_row(
    csv_path: Path, line: int, fields: list[str], check_files: bool, allow_empty: bool, seen: dict[Path, int]
) -> LabelledPath:
    where = f"{csv_path}:{line}"
    if len(fields) > 2:
        raise DataError(
            f"{where}: expected 'path,label1;label2', got {len(fields)} fields (quote paths with commas)"
        )
    raw_path = fields[0].strip()
    if not raw_path:
        raise DataError(f"{where}: empty path")
    path = Path(raw_path)
    if not path.is_absolute():
        path = csv_path.parent / path
    labels = frozenset(x.strip() for x in (fields[1] if len(fields) > 1 else "").split(";") if x.strip())
    if not labels and not allow_empty:
        raise DataError(f"{where}: {raw_path} has no labels")
    if check_files and not path.is_file():
        raise DataError(f"{where}: file not found: {path}")
    if path in seen:
        raise DataError(f"{where}: {raw_path} is listed twice (first on line {seen[path]})")
    seen[path] = line
    return LabelledPath(path=path, labels=labels, line=line)
