"""Encoders saved as data: a directory of module configs and weights (after sentence-transformers' ``modules.json``).

Layout written by :func:`save_model_dir`::

    modules.json            [{"idx": 0, "name": "backbone", "path": "0_Backbone", "type": "mmir.Backbone"}, …]
    encoder.json            {"format": "mmir-encoder/2", "fingerprint": …, "dim": …, …training facts}
    0_Backbone/config.json  {"backbone": "efficientnet-lite0", "weights": null}
    1_Pooling/config.json   {"pooling": "gem", "scales": [1.0]}
    2_ProjectionHead/       config.json {"in_dim": 1280, "out_dim": 256, "hidden": 0, "sha256": …} + model.safetensors
      (or 2_FineTunedTail/  config.json {"sha256": …, "dim": 1280}           + model.safetensors)
    3_Normalize/config.json {}

:func:`read_model_dir` returns the :class:`~mmir.models.spec.EncoderSpec` of such a directory, or of an
mmir 0.1 entry (``model.json`` with ``head.npz`` / ``tail.npz``), which keeps opening unchanged.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from mmir.errors import ModelError
from mmir.models.spec import EncoderSpec, HeadKind, HeadSpec, spec_from_options
from mmir.models.weights import file_sha256

FORMAT = "mmir-encoder/2"
MODULES_FILE = "modules.json"
ENCODER_FILE = "encoder.json"
WEIGHTS_FILE = "model.safetensors"
LEGACY_FILE = "model.json"
LEGACY_FORMAT = "mmir-model/1"
_HEAD_FOLDERS = {HeadKind.PROJECTION: "2_ProjectionHead", HeadKind.FINETUNED_TAIL: "2_FineTunedTail"}


def is_model_dir(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a directory holding an mmir encoder (either format)."""
    folder = Path(path)
    return (folder / MODULES_FILE).is_file() or (folder / LEGACY_FILE).is_file()


def save_model_dir(
    out: Path, spec: EncoderSpec, head_module: Any | None = None, extra: dict[str, Any] | None = None
) -> Path:
    """Write ``spec`` (and the weights of its head, if any) as a model directory; returns the directory.

    Args:
        out: Target directory (created).
        spec: The encoder; its head, if any, is written from ``head_module`` (a module with ``save(path)`` and,
            for projection heads, ``config()``), or copied from ``spec.head.file`` when ``head_module`` is None.
        extra: JSON-ready facts to record in ``encoder.json`` (training config, metrics).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    modules = [_module(0, "backbone", "0_Backbone", {"backbone": spec.backbone, "weights": spec.weights}, out)]
    pooling = {"pooling": spec.pooling.value, "scales": list(spec.scales)}
    modules.append(_module(1, "pooling", "1_Pooling", pooling, out))
    dim = 0
    if spec.head is not None:
        folder = _HEAD_FOLDERS[spec.head.kind]
        (out / folder).mkdir(exist_ok=True)
        weights = out / folder / WEIGHTS_FILE
        if head_module is not None:
            head_module.save(weights)
        else:
            _copy(Path(spec.head.file), weights)
        config = {**(head_module.config() if head_module is not None and hasattr(head_module, "config") else {})}
        config["dim"] = spec.head.dim
        config["sha256"] = file_sha256(weights)
        modules.append(_module(2, "head", folder, config, out, kind=spec.head.kind.value))
        dim = spec.head.dim
    modules.append(_module(len(modules), "normalize", f"{len(modules)}_Normalize", {}, out))
    _write_json(out / MODULES_FILE, [{k: v for k, v in m.items() if k != "config"} for m in modules])
    _write_json(out / ENCODER_FILE, {"format": FORMAT, "name": spec.name, "dim": dim, **(extra or {})})
    return out


def _module(idx: int, name: str, path: str, config: dict[str, Any], out: Path, kind: str = "") -> dict[str, Any]:
    (out / path).mkdir(exist_ok=True)
    _write_json(out / path / "config.json", config)
    return {"idx": idx, "name": name, "path": path, "type": f"mmir.{kind or name}", "config": config}


def _copy(source: Path, target: Path) -> None:
    import shutil

    tmp = target.with_name(target.name + ".tmp")
    shutil.copyfile(source, tmp)
    os.replace(tmp, target)


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path}: cannot read model entry ({exc})") from exc


def read_model_dir(path: Path) -> EncoderSpec:
    """The spec of the model directory ``path`` (new or mmir 0.1 format), with its head file verified.

    Raises:
        ModelError: if the entry is malformed, or its head file is missing or was changed after it was written.
    """
    path = Path(path).absolute()
    if not (path / MODULES_FILE).is_file():
        return _read_legacy(path)
    modules = _read_json(path / MODULES_FILE)
    if not isinstance(modules, list):
        raise ModelError(f"{path / MODULES_FILE}: expected a list of modules")
    configs = {m.get("name"): (m, _read_json(path / str(m.get("path", "")) / "config.json")) for m in modules}
    if "backbone" not in configs or "pooling" not in configs:
        raise ModelError(f"{path / MODULES_FILE}: needs a backbone and a pooling module")
    backbone, pooling = configs["backbone"][1], configs["pooling"][1]
    meta = _read_json(path / ENCODER_FILE) if (path / ENCODER_FILE).is_file() else {}
    spec = EncoderSpec.from_dict(
        {"backbone": backbone.get("backbone"), "weights": backbone.get("weights"), "pooling": pooling.get("pooling"),
         "scales": pooling.get("scales", [1.0]), "name": meta.get("name") or f"{backbone.get('backbone')}+{path.name}"}
    )  # fmt: skip
    if "head" not in configs:
        return spec
    module, config = configs["head"]
    kind = HeadKind(str(module.get("type", "")).removeprefix("mmir."))
    weights = path / str(module["path"]) / WEIGHTS_FILE
    head = HeadSpec(kind, str(weights), _verified_sha(weights, config.get("sha256")), int(config.get("dim", 0)))
    return spec.with_head(head)


def _verified_sha(file: Path, recorded: str | None) -> str:
    if not file.is_file():
        raise ModelError(f"{file}: head file missing")
    digest = file_sha256(file)
    if recorded and recorded != digest:
        raise ModelError(f"{file}: does not match the hash recorded for it (file changed?)")
    return digest


def _read_legacy(path: Path) -> EncoderSpec:
    """An mmir 0.1 entry: ``model.json`` naming a base encoder and a ``head.npz`` or ``tail.npz``."""
    file = path / LEGACY_FILE
    meta = _read_json(file)
    if not isinstance(meta, dict) or meta.get("format") != LEGACY_FORMAT:
        raise ModelError(f"{file}: not an mmir model entry (expected format {LEGACY_FORMAT!r})")
    for key in ("base", "head", "base_options"):
        if key not in meta:
            raise ModelError(f"{file}: missing field {key!r}")
    kind = meta.get("kind", HeadKind.PROJECTION.value)
    try:
        head_kind = HeadKind(kind)
    except ValueError as exc:
        raise ModelError(f"{file}: unknown model kind {kind!r}") from exc
    if head_kind is HeadKind.FINETUNED_TAIL and meta["base_options"]:
        raise ModelError(f"{path}: a fine-tuned model takes no base options (got {sorted(meta['base_options'])})")
    head_file = path / str(meta["head"])
    digest = _verified_sha(head_file, meta.get("head_sha256"))
    label = "finetuned" if head_kind is HeadKind.FINETUNED_TAIL else "metric"
    spec = spec_from_options(str(meta["base"]), dict(meta["base_options"]))
    head = HeadSpec(head_kind, str(head_file), digest, int(meta.get("dim", 0)))
    return spec.with_head(head, name=f"{meta['base']}+{label}:{path.name}")


def write_projection_dir(
    out: Path, head: Any, base: str, base_options: dict[str, Any], extra: dict[str, Any] | None = None
) -> Path:
    """Save a projection head trained on ``base``'s descriptors (built with ``base_options``) as a model directory."""
    spec = spec_from_options(base, base_options)
    name = f"{base}+metric:{Path(out).name}"
    head_spec = HeadSpec(HeadKind.PROJECTION, "", "", int(head.out_dim))
    return save_model_dir(out, spec.with_head(head_spec, name), head, extra)


def write_tail_dir(out: Path, tail: Any, base: str, extra: dict[str, Any] | None = None) -> Path:
    """Save a fine-tuned tail of the bundled ``base`` as a model directory."""
    spec = spec_from_options(base, {})
    name = f"{base}+finetuned:{Path(out).name}"
    head = HeadSpec(HeadKind.FINETUNED_TAIL, "", "", int(tail.dim))
    return save_model_dir(out, spec.with_head(head, name), _TailWriter(tail), extra)


class _TailWriter:
    """Gives a fine-tuned tail the ``save(path)`` that :func:`save_model_dir` calls."""

    def __init__(self, tail: Any) -> None:
        self.tail = tail

    def save(self, path: Path) -> None:
        from mmir.models.finetuned import save_tail

        save_tail(self.tail, path)
