"""Export the bundled MiniLM to ONNX into the user cache (run as ``python -m mmir.concepts.minilm_export DIR``).

Training-side code: imports torch, transformers and onnx. :func:`mmir.concepts.minilm.ensure_exported` runs it in a
child process, once per model; the graph is the Hugging Face ``BertModel`` plus the model's mean pooling, exported
with ``torch.onnx.export`` and checked against PyTorch before the cache entry is committed.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from mmir.concepts.minilm import DATA, FORMAT, GRAPH, MAX_LENGTH, META, entry_dir, lookup
from mmir.errors import ModelError

# Largest |torch − onnx| allowed on the unit-length embeddings of the check sentences (cosine ≥ 1 − 1e-5).
EXPORT_TOLERANCE = 1e-4
CHECK_TEXTS = ("a man riding a wave on a surfboard", "kitten", "zqvbrlko fnordle", "x")


def _pooled_model(folder: Path) -> Any:
    """``BertModel`` + masked mean pooling: ``(ids int64[B, L], mask int64[B, L]) → float32[B, 384]``."""
    import torch
    from transformers import BertModel

    class MeanPooled(torch.nn.Module):
        def __init__(self, bert: torch.nn.Module) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
            return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)

    # Eager attention: one plain graph of MatMul/Softmax that every ONNX Runtime version runs the same way.
    bert = BertModel.from_pretrained(str(folder), add_pooling_layer=False, attn_implementation="eager")
    return MeanPooled(bert).eval()


def _tokens(folder: Path, texts: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.enable_truncation(MAX_LENGTH)
    tokenizer.no_padding()
    encodings = tokenizer.encode_batch(list(texts))
    length = max(len(e.ids) for e in encodings)
    ids, mask = np.zeros((len(texts), length), np.int64), np.zeros((len(texts), length), np.int64)
    for row, encoding in enumerate(encodings):
        ids[row, : len(encoding.ids)], mask[row, : len(encoding.ids)] = encoding.ids, 1
    return ids, mask


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _export_to(model: Any, folder: Path, target: Path) -> None:
    """Write ``GRAPH`` + ``DATA`` into ``target`` and check them against PyTorch on padded batches."""
    import onnx
    import onnxruntime as ort
    import torch

    ids, mask = _tokens(folder, CHECK_TEXTS)
    dynamic = {"input_ids": {0: "batch", 1: "length"}, "attention_mask": {0: "batch", 1: "length"},
               "embeddings": {0: "batch"}}  # fmt: skip
    single = target / "single.onnx"
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")  # tracer warnings about Python control flow on shapes
        torch.onnx.export(
            model, (torch.from_numpy(ids), torch.from_numpy(mask)), str(single),
            input_names=["input_ids", "attention_mask"], output_names=["embeddings"], dynamic_axes=dynamic,
            opset_version=17, dynamo=False,
        )  # fmt: skip
        expected = _unit(model(torch.from_numpy(ids), torch.from_numpy(mask)).numpy())
    graph = onnx.load(str(single))
    onnx.save_model(graph, str(target / GRAPH), save_as_external_data=True, all_tensors_to_one_file=True,
                    location=DATA, size_threshold=1024)  # fmt: skip
    single.unlink()
    session = ort.InferenceSession(str(target / GRAPH), providers=["CPUExecutionProvider"])
    got = _unit(session.run(None, {"input_ids": ids, "attention_mask": mask})[0])
    error = float(np.abs(got - expected).max())
    if not error <= EXPORT_TOLERANCE:
        raise ModelError(f"the MiniLM ONNX export differs from PyTorch by {error:.2e} (> {EXPORT_TOLERANCE})")


def export(folder: Path) -> Path:
    """Export the model in ``folder`` to the cache unless it is there; the cached ``model.onnx``.

    Raises:
        ModelError: if the export fails or differs from PyTorch.
    """
    found = lookup(folder)
    if found is not None:
        return found
    entry = entry_dir(folder)
    entry.parent.mkdir(parents=True, exist_ok=True)
    tmp = entry.with_name(f"{entry.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        _export_to(_pooled_model(folder), folder, tmp)
        meta = {"format": FORMAT, "model_dir": str(folder), "graph_size": (tmp / GRAPH).stat().st_size,
                "data_size": (tmp / DATA).stat().st_size}  # fmt: skip
        (tmp / META).write_text(json.dumps(meta), encoding="utf-8")
        shutil.rmtree(entry, ignore_errors=True)  # a damaged entry (lookup refused it)
        try:
            tmp.rename(entry)
        except OSError:  # another process committed the same entry first: keep theirs
            if lookup(folder) is None:
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    done = lookup(folder)
    if done is None:
        raise ModelError(f"{entry}: the MiniLM export did not leave a complete cache entry")
    return done


def main(argv: list[str]) -> int:
    """``python -m mmir.concepts.minilm_export MODEL_DIR``: export, print the cached path; 1 with a message."""
    try:
        print(export(Path(argv[0])))
    except (ModelError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
