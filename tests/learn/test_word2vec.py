"""word2vec skip-gram training (gensim): neighbours as constructed, saved folder, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("gensim")

from mmir.concepts.word_models import load_word_model, read_word_vectors
from mmir.errors import MmirError
from mmir.learn.word2vec import Word2VecConfig, train_word2vec, train_word2vec_file

# Two groups of words that share contexts only within their group: skip-gram must put group mates together.
ANIMALS = ("cat", "kitten", "moggy")
VEHICLES = ("car", "truck", "jalopy")
ANIMAL_CONTEXTS = ("the {} purrs softly on the warm sofa", "a sleepy {} chases a mouse", "my {} meows for milk")
VEHICLE_CONTEXTS = ("the {} drives fast down the highway", "a rusty {} needs new tyres", "my {} honks in traffic")


def synthetic_corpus(repeats: int = 40) -> list[str]:
    lines = []
    for _ in range(repeats):
        lines += [ctx.format(w) for w in ANIMALS for ctx in ANIMAL_CONTEXTS]
        lines += [ctx.format(w) for w in VEHICLES for ctx in VEHICLE_CONTEXTS]
    return lines


SMALL = Word2VecConfig(dim=16, window=3, negative=5, min_count=1, epochs=10, seed=1, sample=0.0)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("w2v")
    corpus = folder / "corpus.txt"
    corpus.write_text("\n".join(synthetic_corpus()) + "\n", encoding="utf-8")
    result = train_word2vec_file(corpus, folder / "out", SMALL)
    assert result.words == len({w for line in synthetic_corpus(1) for w in line.split()})
    return folder / "out"


def test_neighbours_follow_shared_contexts(trained: Path) -> None:
    vectors = read_word_vectors(trained, "w2v")
    e = vectors.embed([*ANIMALS, *VEHICLES])
    sims = e @ e.T
    within = [sims[0, 1], sims[0, 2], sims[1, 2], sims[3, 4], sims[3, 5], sims[4, 5]]
    across = sims[:3, 3:]
    assert min(within) > float(across.max()) + 0.2, (within, across.max())
    nearest_vehicles = {word for word, _ in vectors.neighbours("truck", top=2)}
    assert nearest_vehicles == {"car", "jalopy"}


def test_saved_folder_has_config_and_unit_vectors(trained: Path) -> None:
    config = json.loads((trained / "config.json").read_text())
    assert config["model"] == "word2vec-skipgram-ns" and config["config"]["dim"] == 16
    raw = np.load(trained / "vectors.npy")
    assert raw.dtype == np.float16 and raw.shape[1] == 16
    assert np.allclose(np.linalg.norm(raw.astype(np.float32), axis=1), 1.0, atol=1e-2)
    model = load_word_model(f"w2v:{trained}")
    assert model is not None and model.name == "w2v:out"
    out = model.embed(["kitten", "zebra quokka"])
    assert out.shape == (2, 16) and out.dtype == np.float32
    assert np.isclose(np.linalg.norm(out[0]), 1.0) and not out[1].any()  # unknown text: a zero row


def test_empty_corpus_and_rare_words_are_one_line_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n...\n")
    with pytest.raises(MmirError, match="empty.txt: the corpus holds no words"):
        train_word2vec_file(empty, tmp_path / "out")
    with pytest.raises(MmirError, match="no word occurs 5 times"):
        train_word2vec([["a", "b"]], tmp_path / "out", Word2VecConfig(min_count=5))
    with pytest.raises(MmirError, match="cannot read the corpus"):
        train_word2vec_file(tmp_path / "missing.txt", tmp_path / "out")


def test_cli_train_words_is_registered_and_writes_a_folder(tmp_path: Path) -> None:
    """``mmir train words`` is reachable from the real entry point (registered when the CLI loads)."""
    import subprocess
    import sys

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(synthetic_corpus(2)) + "\n", encoding="utf-8")
    out = tmp_path / "vectors"
    args = ["train", "words", str(corpus), "--out", str(out), "--dim", "8", "--epochs", "1", "--min-count", "1"]
    result = subprocess.run([sys.executable, "-m", "mmir", *args], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert f"--text-model w2v:{out}" in result.stdout
    assert read_word_vectors(out, "w2v").dim == 8
