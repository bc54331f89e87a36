"""Data readers: image folders, multi-label CSV, IDX; and the clear errors bad data must give."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mmir.errors import MmirError
from mmir.learn.datasets import (
    channel_stats,
    load_idx_images,
    load_image_folder,
    load_label_csv_images,
    load_labelled_images,
    split_indices,
)
from mmir.learn.idx import IdxError
from mmir.learn.labels_csv import DataError, read_label_csv


def _png(path: Path, value: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (10, 10), (value, value, value)).save(path)
    return path


def _idx(path: Path, array: np.ndarray) -> None:
    code = {np.dtype(np.uint8): 0x08}[array.dtype]
    header = bytes([0, 0, code, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    with gzip.open(path, "wb") as handle:
        handle.write(header + array.tobytes())


def test_image_folder(tmp_path: Path) -> None:
    _png(tmp_path / "cat" / "a.png", 10)
    _png(tmp_path / "cat" / "b.png", 20)
    _png(tmp_path / "dog" / "c.png", 200)
    data = load_image_folder(tmp_path, size=8, channels=1)
    assert data.class_names == ("cat", "dog") and data.images.shape == (3, 1, 8, 8)
    assert data.targets.tolist() == [0, 0, 1] and not data.multi_label
    assert int(data.images[2].float().mean()) == 200


def test_image_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        load_image_folder(tmp_path / "nope")
    with pytest.raises(DataError, match="no class folders"):
        load_image_folder(tmp_path)
    _png(tmp_path / "cat" / "a.png", 10)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="'empty' has no images"):
        load_image_folder(tmp_path)
    (tmp_path / "empty").rmdir()
    with pytest.raises(DataError, match=r"unknown label\(s\) \['cat'\]"):
        load_image_folder(tmp_path, class_names=["dog"])
    (tmp_path / "cat" / "broken.png").write_bytes(b"not an image")
    with pytest.raises(DataError, match="broken.png: cannot read image"):
        load_image_folder(tmp_path)


def test_multilabel_csv(tmp_path: Path) -> None:
    _png(tmp_path / "img" / "a.png", 10)
    _png(tmp_path / "img" / "b.png", 20)
    csv = tmp_path / "labels.csv"
    csv.write_text("path,labels\nimg/a.png,beach;dog\nimg/b.png, dog \n")
    rows = read_label_csv(csv)
    assert rows[0].path == tmp_path / "img" / "a.png" and rows[0].labels == {"beach", "dog"} and rows[1].line == 3
    data = load_label_csv_images(csv, size=4)
    assert data.multi_label and data.class_names == ("beach", "dog")
    assert data.targets.tolist() == [[1.0, 1.0], [0.0, 1.0]]
    assert load_labelled_images(csv, size=4).multi_label


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("img/missing.png,dog\n", r"labels.csv:1: file not found"),
        ("img/a.png,dog\nimg/a.png,cat\n", r"labels.csv:2: img/a.png is listed twice \(first on line 1\)"),
        ("img/a.png,\n", r"labels.csv:1: img/a.png has no labels"),
        ("img/a.png,dog,cat\n", r"labels.csv:1: expected 'path,label1;label2'"),
        ("# only a comment\n", "no labelled rows"),
    ],
)
def test_csv_errors_name_the_line(tmp_path: Path, content: str, message: str) -> None:
    _png(tmp_path / "img" / "a.png", 10)
    (tmp_path / "labels.csv").write_text(content)
    with pytest.raises(DataError, match=message):
        read_label_csv(tmp_path / "labels.csv")


def test_csv_unknown_label_against_model_classes(tmp_path: Path) -> None:
    _png(tmp_path / "a.png", 10)
    (tmp_path / "l.csv").write_text("a.png,dog;unicorn\n")
    with pytest.raises(DataError, match=r"l.csv:1: unknown label\(s\) \['unicorn'\]"):
        load_label_csv_images(tmp_path / "l.csv", class_names=["dog", "cat"])


def test_idx_folder_and_mismatch(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    _idx(tmp_path / "train-images-idx3-ubyte.gz", rng.integers(0, 255, (5, 6, 6), dtype=np.uint8))
    _idx(tmp_path / "train-labels-idx1-ubyte.gz", np.array([0, 1, 2, 1, 0], dtype=np.uint8))
    data = load_labelled_images(tmp_path, split="train")
    assert data.images.shape == (5, 1, 6, 6) and data.class_names == ("0", "1", "2")
    with pytest.raises(DataError, match="label 2 outside the 2 known classes"):
        load_idx_images(tmp_path, class_names=["a", "b"])
    _idx(tmp_path / "train-labels-idx1-ubyte.gz", np.array([0, 1, 2], dtype=np.uint8))
    with pytest.raises(IdxError, match="5 images but .* has 3 labels"):
        load_idx_images(tmp_path)
    with pytest.raises(DataError, match="expected one 't10k-images-idx3-ubyte"):
        load_idx_images(_only_labels(tmp_path), split="test")


def _only_labels(tmp_path: Path) -> Path:
    folder = tmp_path / "labels-only"
    folder.mkdir()
    _idx(folder / "t10k-labels-idx1-ubyte.gz", np.array([0], dtype=np.uint8))
    return folder


def test_errors_are_mmir_errors() -> None:
    assert issubclass(DataError, MmirError) and issubclass(IdxError, MmirError)


def test_split_and_stats_are_seeded_and_exact() -> None:
    train_a, val_a = split_indices(100, 0.2, seed=3)
    train_b, val_b = split_indices(100, 0.2, seed=3)
    assert torch.equal(train_a, train_b) and torch.equal(val_a, val_b)
    assert len(val_a) == 20 and sorted(train_a.tolist() + val_a.tolist()) == list(range(100))
    images = torch.tensor([[[[0, 255]]], [[[255, 255]]]], dtype=torch.uint8)  # [2, 1, 1, 2]: 0, 1, 1, 1
    mean, std = channel_stats(images)
    assert mean[0] == pytest.approx(0.75) and std[0] == pytest.approx(np.sqrt(0.75 * 0.25))
