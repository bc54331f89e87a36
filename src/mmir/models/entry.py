"""Model entries on disk: a directory with ``model.json`` naming a base encoder and what was learned on it.

``mmir train metric`` writes one; ``get_encoder(<dir>)`` (see :mod:`mmir.models.registry`) loads it through
:func:`load_model_dir`, giving an :class:`~mmir.models.encoder.Encoder`. Two kinds:

- ``projection-head``: descriptors are the base descriptors passed through the learned head, L2-normalised;
- ``finetuned-tail``: the base network's last blocks were fine-tuned (:mod:`mmir.models.finetuned`).

The fingerprint includes the learned file's hash, so an index built with another head (or none) is refused.

``model.json``::

    {"format": "mmir-model/1", "kind": "projection-head", "base": "efficientnet-lite0",
     "base_options": {"pooling": "gem"}, "head": "head.npz", "head_sha256": "…", "dim": 256}
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mmir.errors import ModelError
from mmir.models.encoder import Encoded, Encoder
from mmir.models.weights import file_sha256

if TYPE_CHECKING:
    import torch
    from PIL import Image

    from mmir.learn.metric import ProjectionHead
    from mmir.models.finetuned import EfficientNetTail

FORMAT = "mmir-model/1"
MODEL_FILE = "model.json"
HEAD_FILE = "head.npz"
TAIL_FILE = "tail.npz"
KIND_HEAD = "projection-head"
KIND_TAIL = "finetuned-tail"


class ProjectedEncoder:
    """An :class:`Encoder` whose descriptors are ``normalize(head(base descriptors))``.

    Args:
        base: The encoder the head was trained on (same pooling and preprocessing).
        head: The trained projection ``float[B, D] -> float[B, E]``.
        head_hash: Hex SHA-256 of the head file, for the fingerprint.
        name: Name shown to users.
    """

    def __init__(self, base: Encoder, head: ProjectionHead, head_hash: str, name: str) -> None:
        self.base = base
        self.head = head
        self.name = name
        self.dim = head.out_dim
        self.concept_names = base.concept_names
        self.transform: Callable[..., torch.Tensor] = base.transform
        self.input_side: int = getattr(base, "input_side", 224)
        self.fingerprint = f"{base.fingerprint}+head@{head_hash[:16]}"

    def _project(self, encoded: Encoded) -> Encoded:
        if len(encoded.descriptors) == 0:
            return Encoded(np.zeros((0, self.dim), np.float32), encoded.concepts)
        return Encoded(self.head.project(encoded.descriptors), encoded.concepts)

    def encode(self, images: Sequence[Image.Image]) -> Encoded:
        """Encode RGB PIL images: ``descriptors float32[B, E]`` (L2-normalised), base concepts."""
        return self._project(self.base.encode(images))

    def encode_tensor(self, batch: torch.Tensor) -> Encoded:
        """Encode a preprocessed ``float32[B, 3, H, W]`` batch."""
        return self._project(self.base.encode_tensor(batch))


def write_model_dir(
    out: Path, head: ProjectionHead, base: str, base_options: dict[str, Any], extra: dict[str, Any] | None = None
) -> Path:
    """Write ``head`` and a ``model.json`` describing it into ``out`` (created if needed).

    Args:
        out: Target directory.
        head: The trained head.
        base: Registered name of the base encoder.
        base_options: Keyword arguments that rebuild the base exactly (e.g. ``{"pooling": "gem"}``).
        extra: More JSON-ready facts to record (training config, metrics).

    Returns:
        The path of ``model.json``.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    head.save(out / HEAD_FILE)
    return _write_meta(out, KIND_HEAD, HEAD_FILE, base, base_options, head.out_dim, extra)


def write_finetuned_dir(out: Path, tail: EfficientNetTail, base: str, extra: dict[str, Any] | None = None) -> Path:
    """Write a fine-tuned tail of the bundled ``base`` and its ``model.json`` into ``out``; returns the JSON path."""
    from mmir.models.finetuned import save_tail

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    save_tail(tail, out / TAIL_FILE)
    return _write_meta(out, KIND_TAIL, TAIL_FILE, base, {}, tail.dim, extra)


def _write_meta(
    out: Path, kind: str, file: str, base: str, options: dict[str, Any], dim: int, extra: dict[str, Any] | None
) -> Path:
    meta = {
        "format": FORMAT,
        "kind": kind,
        "base": base,
        "base_options": options,
        "head": file,
        "head_sha256": file_sha256(out / file),
        "dim": dim,
        **(extra or {}),
    }
    path = out / MODEL_FILE
    path.write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


def read_model_json(path: Path) -> dict[str, Any]:
    """The validated content of ``<path>/model.json``.

    Raises:
        ModelError: if it is missing, not JSON, of another format, or lacks a field.
    """
    file = Path(path) / MODEL_FILE
    try:
        meta = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"{file}: cannot read model entry ({exc})") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelError(f"{file}: not an mmir model entry (expected format {FORMAT!r})")
    for key in ("base", "head", "base_options"):
        if key not in meta:
            raise ModelError(f"{file}: missing field {key!r}")
    return meta


def load_model_dir(path: Path, **kwargs: Any) -> Encoder:
    """Load the model entry in directory ``path`` as an :class:`Encoder`.

    Args:
        path: Directory holding ``model.json`` and the head file.
        **kwargs: Extra options for the base encoder (e.g. ``weights_path``); options recorded in
            ``model.json`` (such as ``pooling``) cannot be changed, since the head was trained on them.

    Raises:
        ModelError: if the entry is malformed, the head file is missing or altered, or an option conflicts.
    """
    from mmir.learn.metric import ProjectionHead
    from mmir.models.finetuned import load_finetuned
    from mmir.models.registry import get_encoder

    path = Path(path)
    meta = read_model_json(path)
    kind = meta.get("kind", KIND_HEAD)
    if kind not in (KIND_HEAD, KIND_TAIL):
        raise ModelError(f"{path / MODEL_FILE}: unknown model kind {kind!r}")
    options = dict(meta["base_options"])
    for key, value in kwargs.items():
        if key in options and str(options[key]) != str(getattr(value, "value", value)):
            raise ModelError(f"{path}: the head was trained with {key}={options[key]!r}, not {value!r}")
        options[key] = value
    head_file = path / str(meta["head"])
    if not head_file.is_file():
        raise ModelError(f"{head_file}: head file missing")
    digest = file_sha256(head_file)
    if meta.get("head_sha256") and meta["head_sha256"] != digest:
        raise ModelError(f"{head_file}: does not match the hash recorded in {MODEL_FILE} (file changed?)")
    if kind == KIND_TAIL:
        if options:
            raise ModelError(f"{path}: a fine-tuned model takes no base options (got {sorted(options)})")
        fingerprint = f"{meta['base']}+tail@{digest[:16]}"
        return load_finetuned(str(meta["base"]), head_file, fingerprint, name=f"{meta['base']}+finetuned:{path.name}")
    try:
        head = ProjectionHead.load(head_file)
    except Exception as exc:  # any unreadable head is reported as a model problem
        raise ModelError(f"{head_file}: cannot load projection head ({exc})") from exc
    base = get_encoder(str(meta["base"]), **options)
    if head.in_dim != base.dim:
        raise ModelError(f"{head_file}: head expects {head.in_dim}-d input but {meta['base']} gives {base.dim}-d")
    return ProjectedEncoder(base, head, digest, name=f"{meta['base']}+metric:{path.name}")
