"""Order matters: LSTM/GRU separate "A then B" from "B then A", which a bag-of-frames model cannot."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mmir.learn.sequence import (
    SequenceTraining,
    evaluate_sequence_model,
    load_sequence_model,
    predict_scores,
    save_sequence_model,
    train_sequence_model,
)
from mmir.models.sequence import SequenceArch, SequenceConfig

DIM = 8


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny nets: one intra-op thread avoids thread contention on a shared 2-core machine."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _clips(count: int, seed: int) -> tuple[list[np.ndarray], list[int]]:
    """Class 0: pattern A for a while, then B; class 1: B then A. Same frames, same mean, only order differs.

    Lengths and the switch point vary, and each frame gets noise, so neither a length nor a position rule works.
    """
    rng = np.random.default_rng(seed)
    a, b = np.eye(DIM, dtype=np.float32)[0], np.eye(DIM, dtype=np.float32)[1]
    clips, labels = [], []
    for i in range(count):
        half = int(rng.integers(3, 7))
        first, second = (a, b) if i % 2 == 0 else (b, a)
        clip = np.stack([first] * half + [second] * half)
        clips.append(clip + rng.normal(0, 0.3, clip.shape).astype(np.float32))
        labels.append(i % 2)
    return clips, labels


def _accuracy(arch: SequenceArch, train: tuple, test: tuple) -> float:
    config = SequenceConfig(arch, input_dim=DIM, classes=("a-then-b", "b-then-a"), hidden=24, dropout=0.0)
    model = train_sequence_model(*train, config, SequenceTraining(epochs=25, batch_size=16, lr=1e-2, seed=0))
    return 1.0 - evaluate_sequence_model(model, *test, config.classes).top1_error


def test_recurrent_nets_beat_bag_of_frames_when_order_matters() -> None:
    train, test = _clips(96, seed=0), _clips(60, seed=1)
    bag = _accuracy(SequenceArch.BAG, train, test)
    lstm = _accuracy(SequenceArch.LSTM, train, test)
    gru = _accuracy(SequenceArch.GRU, train, test)
    assert bag <= 0.7  # the mean of A..AB..B equals the mean of B..BA..A: chance, up to noise
    assert lstm >= 0.9 and gru >= 0.9
    assert lstm > bag + 0.2 and gru > bag + 0.2


def test_elman_rnn_trains_and_models_round_trip(tmp_path: Path) -> None:
    train = _clips(96, seed=2)
    config = SequenceConfig(SequenceArch.RNN, input_dim=DIM, classes=("x", "y"), hidden=16, dropout=0.0)
    model = train_sequence_model(*train, config, SequenceTraining(epochs=5, seed=0))
    save_sequence_model(model, config, tmp_path / "model")
    loaded, loaded_config = load_sequence_model(tmp_path / "model")
    assert loaded_config == config
    clips = train[0][:5]
    assert np.allclose(predict_scores(loaded, clips), predict_scores(model, clips), atol=1e-6)


def test_report_has_confusion_matrix() -> None:
    train, test = _clips(64, seed=3), _clips(20, seed=4)
    config = SequenceConfig(SequenceArch.GRU, input_dim=DIM, classes=("x", "y"), hidden=16, dropout=0.0)
    model = train_sequence_model(*train, config, SequenceTraining(epochs=10, seed=0))
    report = evaluate_sequence_model(model, *test, config.classes)
    assert report.confusion.shape == (2, 2) and report.confusion.sum() == 20
    assert "confusion matrix" in report.format()


def test_unusable_model_directory_is_a_data_error(tmp_path: Path) -> None:
    from mmir.learn.labels_csv import DataError

    with pytest.raises(DataError, match="not a usable sequence model"):
        load_sequence_model(tmp_path)
