"""Joint text–image models (open_clip): the image tower encodes a collection, the text tower encodes queries.

``load_encoder("open_clip:ViT-B-32", weights_path="clip.pt")`` builds an encoder whose descriptor is the model's
L2-normalised image embedding (``E``-d; no pooling choice: the tower already pools) and whose concept branch is
the model's zero-shot classifier over the 1000 ImageNet classes (prompt ``"a photo of a {name}."``, softmax of the
model's own logit scale × cosine), so the concept route, ``why`` and user concepts keep working. The class text
embeddings cost one pass of the text tower over 1000 prompts; they are cached per weights file.

:func:`text_tower_for` gives a collection built with such a model its text tower: query text → ``float32[E]`` in
the same space as the stored image descriptors (see :mod:`mmir.search.joint_fusion`).

The architecture is an open_clip model name (``ViT-B-32``) or an open_clip model-config JSON file (``.json``, the
format of open_clip's ``model_configs/``). The weights always come from a local file (``--weights``): mmir never
downloads a checkpoint. ``open_clip_torch`` is the optional ``joint`` extra, imported only when needed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import pickle
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mmir.errors import ModelError
from mmir.models.spec import EncoderSpec, Pooling, spec_from_options
from mmir.models.weights import Preprocessing, file_sha256

if TYPE_CHECKING:
    from types import ModuleType

    from mmir.index.manifest import Manifest
    from mmir.models.backbone import Backbone

log = logging.getLogger(__name__)

PREFIX = "open_clip"
EXTRA = "joint"
# CLIP's single most used zero-shot prompt (Radford et al. 2021, sec. 3.1.4); ensembles gain ~1 % and cost 80×.
PROMPT = "a photo of a {}."
TEXT_BATCH = 64


def is_joint(backbone: str) -> bool:
    """Whether a backbone name is a joint text–image model (``open_clip:<arch>``)."""
    return backbone.startswith(PREFIX + ":")


def joint_spec(spec: EncoderSpec, options: Mapping[str, Any]) -> EncoderSpec:
    """The spec of an ``open_clip:`` entry: average pooling of the 1×1 embedding map, config paths absolute.

    Raises:
        ModelError: without a weights file, or with options that do not apply (pooling, multi-scale).
    """
    if not spec.weights:
        raise ModelError(
            f"{spec.backbone} needs --weights FILE: a local open_clip checkpoint (mmir never downloads one)"
        )
    pooling = options.get("pooling")
    if (pooling and str(getattr(pooling, "value", pooling)) != Pooling.AVG.value) or spec.scales != (1.0,):
        raise ModelError(f"{spec.backbone} gives one embedding per image; --pooling and --multiscale do not apply")
    arch = spec.backbone.partition(":")[2]
    if arch.endswith(".json"):
        arch = str(Path(arch).absolute())
    return replace(spec, backbone=f"{PREFIX}:{arch}", pooling=Pooling.AVG)


def _open_clip() -> ModuleType:
    try:
        import open_clip
    except ImportError as exc:
        raise ModelError(f"open_clip models need the '{EXTRA}' extra: pip install 'mmir[{EXTRA}]'") from exc
    return open_clip


@dataclass(frozen=True, eq=False)
class JointModel:
    """A loaded open_clip model with what mmir needs around it.

    Attributes:
        net: The open_clip ``CLIP`` module (eval mode).
        tokenizer: ``list[str] -> int64 tensor [N, context]``.
        preprocessing: The image tower's input preprocessing.
        weights_id: ``open_clip:<arch>@<hash>`` (part of the fingerprint).
        dim: ``E``, the joint embedding dimension.
        logit_scale: The model's learned temperature (``exp`` of its parameter; 100 for OpenAI CLIP).
    """

    net: Any
    tokenizer: Any
    preprocessing: Preprocessing
    weights_id: str
    dim: int
    logit_scale: float

    def encode_text(self, texts: Sequence[str]) -> np.ndarray:
        """``float32[N, E]`` L2-normalised text embeddings, ``TEXT_BATCH`` texts per pass."""
        import torch

        parts = [np.zeros((0, self.dim), np.float32)]
        with torch.inference_mode():
            for start in range(0, len(texts), TEXT_BATCH):
                tokens = self.tokenizer(list(texts[start : start + TEXT_BATCH]))
                parts.append(self.net.encode_text(tokens, normalize=True).float().numpy())
        return np.concatenate(parts)


def load_joint(arch: str, weights_path: str) -> JointModel:
    """The open_clip model ``arch`` with the checkpoint ``weights_path`` (cached per file version).

    Raises:
        ModelError: the extra is missing, the architecture is unknown, or the weights do not fit it.
    """
    path = Path(weights_path)
    if not path.is_file():
        raise ModelError(f"{weights_path}: no such weights file")
    stat = path.stat()
    return _load(arch, str(path.absolute()), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=2)
def _load(arch: str, weights: str, _size: int, _mtime_ns: int) -> JointModel:
    oc = _open_clip()
    name, config_id = _architecture(oc, arch)
    try:
        # open_clip reads the file itself (safetensors or torch.load with weights_only): data, never code.
        net = oc.create_model(name, pretrained=weights, device="cpu")
    except (RuntimeError, ValueError, KeyError, OSError, EOFError, AssertionError, pickle.UnpicklingError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelError(f"{weights}: not a checkpoint of open_clip {name} ({first})") from exc
    net.eval()
    cfg = getattr(net.visual, "preprocess_cfg", {})
    size = cfg.get("size", 224)
    side = int(size if isinstance(size, int) else min(size))
    preprocessing = Preprocessing(
        resize=side, crop=side, mean=tuple(cfg.get("mean", oc.OPENAI_DATASET_MEAN)),
        std=tuple(cfg.get("std", oc.OPENAI_DATASET_STD)),
        interpolation="bilinear" if cfg.get("interpolation") == "bilinear" else "bicubic",
    )  # fmt: skip
    dim = int(net.text_projection.shape[-1] if hasattr(net, "text_projection") else net.visual.output_dim)
    return JointModel(
        net=net, tokenizer=oc.get_tokenizer(name), preprocessing=preprocessing,
        weights_id=f"{PREFIX}:{Path(name).name}{config_id}@{file_sha256(Path(weights))[:16]}", dim=dim,
        logit_scale=float(net.logit_scale.exp().item()),
    )  # fmt: skip


def _architecture(oc: ModuleType, arch: str) -> tuple[str, str]:
    """``(open_clip model name, config hash suffix)``; a JSON config file is registered with open_clip first."""
    if not arch.endswith(".json"):
        if arch not in oc.list_models():
            raise ModelError(
                f"unknown open_clip architecture {arch!r} (see open_clip.list_models(), or a .json config)"
            )
        return arch, ""
    config = Path(arch)
    try:
        text = config.read_text()
        json.loads(text)
    except (OSError, ValueError) as exc:
        raise ModelError(f"{arch}: not a readable open_clip model config ({exc})") from exc
    oc.add_model_config(config)  # open_clip's registry is keyed by the file's stem
    return config.stem, f"+cfg{hashlib.sha256(text.encode()).hexdigest()[:8]}"


def joint_backbone(arch: str, weights_path: str | None) -> Backbone:
    """The image tower of ``arch`` as a :class:`~mmir.models.backbone.Backbone` with a zero-shot concept head.

    ``features`` maps ``[B, 3, S, S]`` to the normalised embedding as a ``[B, E, 1, 1]`` map (average pooling of it
    is the identity); ``classifier`` maps that to ``[B, 1000]`` logits over the ImageNet classes.
    """
    from mmir.models.backbone import Backbone, Lambda
    from mmir.models.imagenet import imagenet_display_names, imagenet_synsets
    from mmir.models.zero_shot import ZeroShotHead

    if not weights_path:
        raise ModelError(f"{PREFIX}:{arch} needs --weights FILE (a local checkpoint)")
    model = load_joint(arch, weights_path)
    classes = class_embeddings(model, imagenet_display_names())
    return Backbone(
        name=f"{PREFIX}:{Path(arch).stem if arch.endswith('.json') else arch}",
        features=Lambda(model.net, lambda x: _image_map(model.net, x)),
        classifier=ZeroShotHead(classes, model.logit_scale),
        concept_names=imagenet_synsets(), preprocessing=model.preprocessing, dim=model.dim,
        weights_id=model.weights_id,
    )  # fmt: skip


def _image_map(net: Any, x: Any) -> Any:
    """``[B, 3, S, S] -> [B, E, 1, 1]``: the normalised image embedding as a 1×1 feature map."""
    import torch

    if not torch.onnx.is_in_onnx_export():
        return net.encode_image(x, normalize=True)[:, :, None, None]
    # PyTorch's fused attention fast path has no ONNX form; the plain path computes the same attention.
    fast = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        return net.encode_image(x, normalize=True)[:, :, None, None]
    finally:
        torch.backends.mha.set_fastpath_enabled(fast)


def class_embeddings(model: JointModel, names: Sequence[str]) -> np.ndarray:
    """``float32[C, E]``: the text embeddings of ``PROMPT`` for each class name, cached per weights and names."""
    from mmir.models.onnx_cache import cache_root

    key = hashlib.sha256("\n".join([model.weights_id, PROMPT, *names]).encode()).hexdigest()[:32]
    path = cache_root() / "joint" / f"{key}.npy"
    if path.is_file():
        cached = np.load(path)
        if cached.shape == (len(names), model.dim):
            return cached.astype(np.float32)
    log.info("%s: embedding %d class prompts with the text tower (once per weights file)", model.weights_id, len(names))
    embedded = model.encode_text([PROMPT.format(name) for name in names]).astype(np.float32)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, embedded)
        tmp.replace(path)
    except OSError as exc:  # a read-only cache only costs the pass next time
        log.warning("cannot cache class embeddings in %s (%s)", path.parent, exc)
    return embedded


class TextTower:
    """A collection's joint text tower: query text → embedding comparable with its stored image descriptors.

    Attributes:
        dim: ``E``.
        weights_id: The checkpoint it came from (matches the collection's fingerprint).
    """

    def __init__(self, model: JointModel) -> None:
        self._model = model
        self.dim = model.dim
        self.weights_id = model.weights_id

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """``float32[N, E]`` L2-normalised embeddings of ``texts``."""
        return self._model.encode_text(texts)


def text_tower_for(model: str, options: Mapping[str, str], fingerprint: str) -> TextTower | None:
    """The text tower of a collection's model, or ``None`` when it is not a joint model (no torch import then).

    Args:
        model: The manifest's model (a name or a model directory).
        options: The manifest's model options (``weights_path`` …).
        fingerprint: The collection's fingerprint; the checkpoint must still be the one that built it.

    Raises:
        ModelError: the checkpoint changed since indexing, or cannot be loaded.
    """
    spec = _joint_spec_of(model, options)
    if spec is None:
        return None
    assert spec.weights is not None  # joint_spec requires it
    loaded = load_joint(spec.backbone.partition(":")[2], spec.weights)
    if not fingerprint.startswith(loaded.weights_id + "/"):
        raise ModelError(
            f"{spec.weights} now loads as {loaded.weights_id}, but the collection was built by {fingerprint}; "
            "re-index into a new collection"
        )
    return TextTower(loaded)


def manifest_text_tower(manifest: Manifest) -> TextTower | None:
    """:func:`text_tower_for` the model recorded in a collection's manifest."""
    return text_tower_for(manifest.model, manifest.model_options, manifest.fingerprint)


def _joint_spec_of(model: str, options: Mapping[str, str]) -> EncoderSpec | None:
    """The resolved spec when ``model`` is (or is a model directory of) a joint model, else ``None``."""
    from mmir.models.model_dir import is_model_dir, read_model_dir

    if is_model_dir(model):
        spec = read_model_dir(Path(model))
        return spec if is_joint(spec.backbone) else None
    if not is_joint(model):
        return None
    return joint_spec(spec_from_options(model, dict(options)), options)  # what factory.resolve_spec does for it
