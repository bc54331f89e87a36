"""word2vec skip-gram with negative sampling (Mikolov et al. 2013) on a user's text, through gensim (extra ``text``).

``mmir train words CORPUS.txt --out DIR`` trains on one sentence per line, tokenised exactly as queries are
(:func:`mmir.concepts.text.tokenise`), and writes ``DIR/vectors.npy`` (float16 unit vectors), ``DIR/vocab.txt``
and ``DIR/config.json`` (:func:`mmir.concepts.word_models.save_word_vectors`); ``--text-model w2v:DIR`` then reads
them without gensim.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mmir.concepts.text import tokenise
from mmir.concepts.word_models import save_word_vectors
from mmir.errors import MmirError, require


@dataclass(frozen=True)
class Word2VecConfig:
    """Skip-gram training settings (gensim's names in brackets).

    Attributes:
        dim: Vector size (``vector_size``).
        window: Largest distance between a centre word and a context word (``window``).
        negative: Noise words drawn per positive pair (``negative``).
        min_count: Words seen fewer times are dropped (``min_count``).
        epochs: Passes over the corpus; small corpora need more (``epochs``).
        sample: Down-sampling threshold of frequent words (``sample``).
        seed: Random seed; with one worker training is reproducible (``seed``).
        workers: Training threads (``workers``).
    """

    dim: int = 100
    window: int = 5
    negative: int = 5
    min_count: int = 2
    epochs: int = 20
    sample: float = 1e-3
    seed: int = 0
    workers: int = 1


@dataclass(frozen=True)
class Word2VecResult:
    """What training produced: the folder, vocabulary size, corpus size and time."""

    out: Path
    words: int
    sentences: int
    tokens: int
    seconds: float


def read_corpus(path: Path) -> list[list[str]]:
    """Tokenised non-empty lines of ``path``.

    Raises:
        MmirError: one line naming the file when it cannot be read or holds no words.
    """
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise MmirError(f"{path}: cannot read the corpus ({exc.strerror})") from exc
    sentences = [tokens for tokens in (tokenise(line) for line in text.splitlines()) if tokens]
    if not sentences:
        raise MmirError(f"{path}: the corpus holds no words")
    return sentences


def train_word2vec(sentences: list[list[str]], out: Path, config: Word2VecConfig | None = None,
                   source: str = "") -> Word2VecResult:  # fmt: skip
    """Train skip-gram with negative sampling on ``sentences`` and save the vectors in ``out``.

    Args:
        sentences: Tokenised sentences.
        out: Output folder (created).
        config: Training settings.
        source: Where the corpus came from (recorded in ``config.json``).

    Raises:
        MmirError: when no word occurs ``min_count`` times.
    """
    config = config or Word2VecConfig()
    gensim_models: Any = require("gensim.models", "text")
    started = time.perf_counter()
    counts = Counter(word for sentence in sentences for word in sentence)
    tokens = sum(counts.values())
    if not any(n >= config.min_count for n in counts.values()):
        raise MmirError(f"{source or 'corpus'}: no word occurs {config.min_count} times (lower --min-count)")
    model = gensim_models.Word2Vec(
        sentences=sentences, vector_size=config.dim, window=config.window, negative=config.negative, hs=0, sg=1,
        min_count=config.min_count, epochs=config.epochs, sample=config.sample, seed=config.seed,
        workers=config.workers,
    )  # fmt: skip
    words = list(model.wv.index_to_key)
    vectors = np.asarray(model.wv.vectors, np.float32)  # float32[V, dim], rows in index_to_key order
    meta = {"model": "word2vec-skipgram-ns", "config": asdict(config), "source": source,
            "sentences": len(sentences), "tokens": tokens, "words": len(words)}  # fmt: skip
    save_word_vectors(out, words, vectors, meta)
    return Word2VecResult(out, len(words), len(sentences), tokens, time.perf_counter() - started)


def train_word2vec_file(corpus: Path, out: Path, config: Word2VecConfig | None = None) -> Word2VecResult:
    """:func:`train_word2vec` on a text file (one sentence a line)."""
    return train_word2vec(read_corpus(corpus), out, config, source=str(corpus))
