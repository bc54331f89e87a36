"""Export the composed encoder to ONNX once per fingerprint and keep it in the user cache directory.

Layout: ``<cache>/onnx/<key>.onnx`` and ``<key>.json`` (fingerprint, dims, preprocessing, concept names, the
file's SHA-256). The JSON is written last and both are written atomically (temporary file + rename), so a
crash never leaves an entry that looks complete; a damaged entry is ignored and exported again. Because the
key is the fingerprint (spec + weights hashes), a collection can reopen its encoder from the cache without
importing PyTorch — which is what makes a cold ``mmir search --image`` fast.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mmir.errors import ModelError
from mmir.models.weights import Preprocessing

if TYPE_CHECKING:
    from mmir.models.network import EncoderNet

FORMAT = "mmir-onnx/1"
# Largest |torch - onnx| allowed on the L2-normalised descriptors of a random batch when exporting.
EXPORT_TOLERANCE = 1e-3


@dataclass(frozen=True)
class CachedEncoder:
    """A complete cache entry."""

    onnx_path: str
    fingerprint: str
    dim: int
    concept_names: tuple[str, ...]
    preprocessing: Preprocessing
    name: str
    quantized: bool


def cache_root() -> Path:
    """``$MMIR_CACHE_DIR``, else ``$XDG_CACHE_HOME/mmir``, else ``~/.cache/mmir``."""
    if os.environ.get("MMIR_CACHE_DIR"):
        return Path(os.environ["MMIR_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mmir"


def _key(fingerprint: str, quantized: bool) -> str:
    return hashlib.sha256(f"{fingerprint}|int8={quantized}".encode()).hexdigest()[:32]


def lookup(fingerprint: str, quantized: bool = False) -> CachedEncoder | None:
    """The cache entry for ``fingerprint``, or ``None`` when missing or damaged."""
    meta_path = cache_root() / "onnx" / f"{_key(fingerprint, quantized)}.json"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("format") != FORMAT or meta.get("fingerprint") != fingerprint:
            return None
        onnx_path = meta_path.with_suffix(".onnx")
        if onnx_path.stat().st_size != meta["onnx_size"]:
            return None
        return CachedEncoder(
            onnx_path=str(onnx_path), fingerprint=fingerprint, dim=int(meta["dim"]),
            concept_names=tuple(meta["concept_names"]), preprocessing=Preprocessing(**_tuples(meta["preprocessing"])),
            name=str(meta["name"]), quantized=quantized,
        )  # fmt: skip
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _tuples(data: dict[str, Any]) -> dict[str, Any]:
    return {key: tuple(value) if isinstance(value, list) else value for key, value in data.items()}


def export(
    net: EncoderNet, *, fingerprint: str, name: str, concept_names: tuple[str, ...], dim: int,
    preprocessing: Preprocessing, quantized: bool = False,
) -> CachedEncoder:  # fmt: skip
    """Export ``net`` to the cache (checked against PyTorch), unless an entry exists already.

    Raises:
        ModelError: if the export fails or its outputs differ from PyTorch's.
    """
    found = lookup(fingerprint, quantized)
    if found is not None:
        return found
    folder = cache_root() / "onnx"
    folder.mkdir(parents=True, exist_ok=True)
    key = _key(fingerprint, quantized)
    tmp = folder / f"{key}.{os.getpid()}.tmp.onnx"
    # A status line before the slow part (~25 s on 2 cores): the progress bar only starts after it.
    logging.getLogger("mmir.status").info("exporting %s to ONNX (once)…", name)
    try:
        _export_graph(net, tmp, preprocessing.crop, has_concepts=bool(concept_names))
        if quantized:
            _quantize(tmp)
        else:
            _check_against_torch(net, tmp, preprocessing.crop)
        os.replace(tmp, folder / f"{key}.onnx")
    finally:
        tmp.unlink(missing_ok=True)
    meta = {
        "format": FORMAT, "fingerprint": fingerprint, "name": name, "dim": dim, "concept_names": list(concept_names),
        "preprocessing": asdict(preprocessing), "onnx_size": (folder / f"{key}.onnx").stat().st_size,
    }  # fmt: skip
    meta_tmp = folder / f"{key}.{os.getpid()}.tmp.json"
    meta_tmp.write_text(json.dumps(meta), encoding="utf-8")
    os.replace(meta_tmp, folder / f"{key}.json")
    entry = lookup(fingerprint, quantized)
    assert entry is not None
    return entry


def _export_graph(net: EncoderNet, path: Path, side: int, has_concepts: bool) -> None:
    import torch

    outputs = ["descriptors", "concepts"] if has_concepts else ["descriptors"]
    dynamic = {"images": {0: "batch"}, **{out: {0: "batch"} for out in outputs}}
    example = torch.zeros(2, 3, side, side)
    from mmir.models.network import DescriptorsOnly

    wrapped = net if has_concepts else DescriptorsOnly(net)
    try:
        with warnings.catch_warnings(), torch.inference_mode():
            warnings.simplefilter("ignore")
            # The TorchScript-based exporter: it handles these CNNs in seconds (the dynamo one took ~20 s).
            torch.onnx.export(
                wrapped, (example,), str(path), input_names=["images"], output_names=outputs,
                dynamic_axes=dynamic, opset_version=17, dynamo=False,
            )  # fmt: skip
    except Exception as exc:  # the exporter raises many types for unsupported operators
        raise ModelError(f"cannot export the encoder to ONNX ({type(exc).__name__}: {exc})") from exc


def _check_against_torch(net: EncoderNet, path: Path, side: int) -> None:
    import torch

    from mmir.models.backends import OnnxRunner

    batch = np.random.default_rng(0).standard_normal((3, 3, side, side)).astype(np.float32)
    with torch.inference_mode():
        expected = net(torch.from_numpy(batch))[0].numpy()
    got = OnnxRunner(path, "onnx", concepts=0).run(batch)[0]
    error = float(np.abs(got - expected).max())
    if not error <= EXPORT_TOLERANCE:
        raise ModelError(f"the ONNX export differs from PyTorch by {error:.2e} (> {EXPORT_TOLERANCE})")


def _quantize(path: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantized = path.with_name(path.stem + ".int8.onnx")
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantiser logs every tensor it skips (hundreds of lines) on the root logger
    try:
        quantize_dynamic(str(path), str(quantized), weight_type=QuantType.QInt8)
        os.replace(quantized, path)
    finally:
        root.setLevel(level)
        quantized.unlink(missing_ok=True)
