"""The typed description of an encoder: backbone → pooling → optional head or fine-tuned tail → L2 normalisation.

An :class:`EncoderSpec` is data: it round-trips through JSON (:meth:`EncoderSpec.to_dict`), it is what a model
directory stores (:mod:`mmir.models.model_dir`), and together with the hashes of the weights it names it
determines the encoder's output, hence its fingerprint (:func:`fingerprint_of`). The concept branch (the
backbone's own classifier) is always part of the encoder.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mmir.errors import ModelError

MULTISCALE = (1.0, 2**-0.5, 0.5)


class Pooling(str, enum.Enum):
    """How a feature map becomes one vector (implemented in :mod:`mmir.models.pooling`)."""

    AVG = "avg"
    GEM = "gem"
    RMAC = "rmac"


class HeadKind(str, enum.Enum):
    """What follows the backbone besides pooling."""

    PROJECTION = "projection-head"  # a learned projection of the pooled descriptor (metric learning on descriptors)
    FINETUNED_TAIL = "finetuned-tail"  # the backbone's last blocks fine-tuned (descriptor branch only)


@dataclass(frozen=True)
class HeadSpec:
    """A learned module after the backbone.

    Attributes:
        kind: Projection head or fine-tuned tail.
        file: Absolute path of its weights file (safetensors, or mmir 0.1 ``.npz``).
        sha256: Hex SHA-256 of that file, as recorded when it was written.
        dim: Output dimension of the descriptor branch.
    """

    kind: HeadKind
    file: str
    sha256: str
    dim: int


@dataclass(frozen=True)
class EncoderSpec:
    """Everything that determines an encoder's output.

    Attributes:
        backbone: Registered name (``efficientnet-lite0``) or ``torchvision:<arch>`` / ``timm:<arch>``.
        weights: Local weights file for ``torchvision:``/``timm:`` backbones (``None``: bundled or published).
        pooling: How the last feature map becomes the descriptor.
        scales: Input scales whose descriptors are averaged (multi-scale extraction); concepts use scale 1.
        head: An optional learned projection head or fine-tuned tail.
        name: Display name (defaults to the backbone's).
    """

    backbone: str
    weights: str | None = None
    pooling: Pooling = Pooling.GEM
    scales: tuple[float, ...] = (1.0,)
    head: HeadSpec | None = None
    name: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not self.scales or any(scale <= 0 for scale in self.scales):
            raise ModelError(f"scales must be positive, got {self.scales}")
        if self.head is not None and self.head.kind is HeadKind.FINETUNED_TAIL and self.scales != (1.0,):
            raise ModelError("a fine-tuned tail does not support multi-scale descriptors")

    @property
    def display_name(self) -> str:
        """The name shown to users."""
        return self.name or self.backbone

    def with_head(self, head: HeadSpec | None, name: str = "") -> EncoderSpec:
        """A copy with another head."""
        return replace(self, head=head, name=name or self.name)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (see :meth:`from_dict`)."""
        head = None
        if self.head is not None:
            head = {
                "kind": self.head.kind.value, "file": self.head.file, "sha256": self.head.sha256, "dim": self.head.dim,
            }  # fmt: skip
        return {
            "backbone": self.backbone, "weights": self.weights, "pooling": self.pooling.value,
            "scales": list(self.scales), "head": head, "name": self.name,
        }  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EncoderSpec:
        """Inverse of :meth:`to_dict`.

        Raises:
            ModelError: on a missing or invalid field.
        """
        try:
            head_data = data.get("head")
            head = None
            if head_data:
                head = HeadSpec(
                    HeadKind(head_data["kind"]), str(head_data["file"]), str(head_data["sha256"]), int(head_data["dim"])
                )
            return cls(
                backbone=str(data["backbone"]), weights=data.get("weights"),
                pooling=Pooling(data.get("pooling", "gem")),
                scales=tuple(float(s) for s in data.get("scales", (1.0,))), head=head, name=str(data.get("name", "")),
            )  # fmt: skip
        except (KeyError, ValueError, TypeError) as exc:
            raise ModelError(f"invalid encoder spec ({exc})") from exc


def spec_from_options(model: str, options: dict[str, Any]) -> EncoderSpec:
    """The spec of a backbone name plus the CLI's options (``pooling``, ``multiscale``, ``weights_path``).

    This is the one place where option strings become typed values.

    Raises:
        ModelError: for an unknown option or value.
    """
    known = {"pooling", "multiscale", "weights_path"}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ModelError(f"unknown model option(s) {unknown} for {model!r}; known: {sorted(known)}")
    try:
        pooling = Pooling(getattr(options.get("pooling"), "value", options.get("pooling") or "gem"))
    except ValueError as exc:
        raise ModelError(f"unknown pooling {options.get('pooling')!r}; choose avg, gem or rmac") from exc
    multiscale = str(options.get("multiscale", False)).lower() in ("1", "true", "yes")
    weights = options.get("weights_path")
    return EncoderSpec(
        backbone=model, weights=str(Path(weights).absolute()) if weights else None, pooling=pooling,
        scales=MULTISCALE if multiscale else (1.0,),
    )  # fmt: skip


def with_absolute_paths(
    model: str | None, options: dict[str, str] | None
) -> tuple[str | None, dict[str, str] | None]:
    """A model reference and its options with the local files they name made absolute.

    A collection's manifest records both, and later commands may run from another folder: a model directory
    (e.g. a metric-learning run), an ``open_clip:CONFIG.json`` and the ``weights_path`` option.
    """
    if model is not None:
        prefix, colon, rest = model.partition(":")
        if Path(model).is_dir():
            model = str(Path(model).resolve())
        elif colon and rest.endswith(".json") and Path(rest).is_file():
            model = f"{prefix}:{Path(rest).resolve()}"
    if options and options.get("weights_path"):
        options = {**options, "weights_path": str(Path(options["weights_path"]).absolute())}
    return model, options


def options_of(spec: EncoderSpec) -> dict[str, str]:
    """The option strings that rebuild ``spec`` through :func:`spec_from_options` (no head)."""
    options = {"pooling": spec.pooling.value}
    if spec.scales != (1.0,):
        options["multiscale"] = "true"
    if spec.weights:
        options["weights_path"] = spec.weights
    return options


def fingerprint_of(spec: EncoderSpec, weights_id: str) -> str:
    """The fingerprint: a canonical rendering of the spec and the hashes of every weights file it uses.

    ``weights_id`` is the backbone's ``name@hash``. The rendering is the one mmir 0.1 wrote, so collections
    built by it keep opening: ``<weights_id>/<pooling>[@scales][+head@<hash>]`` and ``<backbone>+tail@<hash>``.
    """
    if spec.head is not None and spec.head.kind is HeadKind.FINETUNED_TAIL:
        return f"{spec.backbone}+tail@{spec.head.sha256[:16]}"
    multi = "" if spec.scales == (1.0,) else "@" + ",".join(f"{scale:.3g}" for scale in spec.scales)
    base = f"{weights_id}/{spec.pooling.value}{multi}"
    if spec.head is not None:
        return f"{base}+head@{spec.head.sha256[:16]}"
    return base
