"""`mmir train concepts` with awkward label files: one line naming the file and line, never a traceback; a label
too few files carry is skipped (and named) while the others are learned."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mmir.api import Collection
from mmir.learn.labels_csv import DataError, learnable, read_label_csv


def mmir(*args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-m", "mmir", *args], capture_output=True, text=True, env=env)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def test_a_csv_that_is_not_utf8_names_its_line(tmp_path: Path, photo_dir: Path) -> None:
    labels = tmp_path / "labels.csv"
    labels.write_bytes(f"{photo_dir / 'horse.png'},horse\n{photo_dir / 'coffee.png'},caf\xe9\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"labels\.csv:2: not UTF-8 text \(byte 0xe9\)"):
        read_label_csv(labels)


def test_a_field_over_the_csv_limit_is_one_line(tmp_path: Path, photo_dir: Path) -> None:
    labels = tmp_path / "labels.csv"
    labels.write_text(f"{photo_dir / 'horse.png'},horse\n{photo_dir / 'coffee.png'},{'x' * 200_000}\n")
    with pytest.raises(DataError, match=r"labels\.csv:2: not a readable CSV row \(field larger than field limit"):
        read_label_csv(labels)


def test_a_label_on_one_file_is_skipped_not_fatal(tmp_path: Path, photo_dir: Path) -> None:
    labels = tmp_path / "labels.csv"
    rows = ["astronaut.png,person", "coffee.png,drink", "horse.png,person;animal", "chelsea.png,animal"]
    labels.write_text("\n".join(f"{photo_dir / row}" for row in rows) + "\n")
    examples, skipped = learnable(read_label_csv(labels))
    assert skipped == {"drink": 1}
    assert [sorted(e.labels) for e in examples] == [["person"], [], ["animal", "person"], ["animal"]]


@pytest.mark.slow  # indexes six photos and runs the CLI three times
def test_train_concepts_from_the_command_line(tmp_path: Path, photo_dir: Path, reuse_lite0) -> None:
    coll = str(tmp_path / "coll")
    with Collection.open(coll, create=True) as collection:
        collection.index([photo_dir])
    latin = tmp_path / "latin.csv"
    latin.write_bytes(f"{photo_dir / 'coffee.png'},caf\xe9\n".encode("latin-1"))
    result = mmir("train", "concepts", str(latin), "-c", coll)
    assert result.returncode == 2 and "latin.csv:1: not UTF-8 text" in result.stderr
    huge = tmp_path / "huge.csv"
    huge.write_text(f"{photo_dir / 'coffee.png'},{'x' * 200_000}\n")
    result = mmir("train", "concepts", str(huge), "-c", coll)
    assert result.returncode == 2 and "huge.csv:1: not a readable CSV row" in result.stderr
    mixed = tmp_path / "mixed.csv"
    rows = ["astronaut.png,person", "coffee.png,drink", "horse.png,person;animal", "chelsea.png,animal"]
    mixed.write_text("\n".join(f"{photo_dir / row}" for row in rows) + "\n")
    result = mmir("train", "concepts", str(mixed), "-c", coll)
    assert result.returncode == 0, result.stderr
    assert "skipped label 'drink'" in result.stderr
    assert "learned 2 concepts" in result.stdout
