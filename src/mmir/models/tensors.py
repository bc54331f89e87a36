"""Reading and writing module weights: safetensors (the format mmir writes) and mmir 0.1's ``.npz`` (read only).

safetensors holds plain tensors and a string-to-string metadata header: no pickle, so loading a file from
someone else can never run code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def save_safetensors(module: Any, path: Path, metadata: dict[str, str] | None = None) -> None:
    """Write ``module``'s state dict to ``path`` atomically (temporary file, then rename)."""
    import os

    from safetensors.torch import save_file

    state = {name: value.detach().cpu().contiguous() for name, value in module.state_dict().items()}
    tmp = Path(path).with_name(Path(path).name + ".tmp")
    save_file(state, str(tmp), metadata=metadata or {})
    os.replace(tmp, path)


def load_safetensors(path: Path) -> tuple[dict[str, Any], dict[str, str]]:
    """The state dict (torch tensors) and metadata of a safetensors file.

    Raises:
        OSError, ValueError: if the file is missing or not safetensors; callers name the file in their error.
    """
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            state = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118 (not a dict)
            return state, dict(handle.metadata() or {})
    except SafetensorError as exc:
        raise ValueError(str(exc)) from exc


def is_legacy_npz(path: Path) -> bool:
    """Whether ``path`` is a ``.npz`` (zip) file rather than safetensors, judged by its first bytes."""
    try:
        with open(path, "rb") as handle:
            return handle.read(4) == b"PK\x03\x04"
    except OSError:
        return False


def read_state_npz(path: Path, meta_key: str) -> tuple[list[int], dict[str, Any]]:
    """The integer header and the state dict of an mmir 0.1 ``.npz`` weights file (read-only compatibility).

    Raises:
        OSError, KeyError, ValueError, IndexError: if the file is missing, truncated or of another kind.
    """
    import numpy as np
    import torch

    with np.load(path, allow_pickle=False) as data:
        meta = [int(v) for v in data[meta_key]]
        state = {key: torch.from_numpy(data[key]) for key in data.files if key != meta_key}
    return meta, state
