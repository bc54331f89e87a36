"""The CLI's one flag vocabulary: option types every command shares, with their defaults defined once.

- ``-c/--collection`` (env ``MMIR_COLLECTION``, default :data:`mmir.api.DEFAULT_COLLECTION`) wherever a
  collection is read;
- ``-k`` wherever results are ranked (default :data:`mmir.api.DEFAULT_K`);
- ``--json``: a flag printing JSON to stdout; a file is written with ``--out FILE``;
- ``--model``: the encoder (a model name or a directory from ``mmir train metric``);
- closed sets are Enums or Literals, so help and errors list the choices. Literals stand in for enums whose
  module imports torch (seconds at every start-up); ``tests/cli/test_flag_vocabulary.py`` checks they match.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from mmir.api import DEFAULT_COLLECTION, DEFAULT_K, DEFAULT_MODEL
from mmir.errors import MmirError

if TYPE_CHECKING:
    from mmir.api import Collection

CollectionOpt = Annotated[
    Path, typer.Option("--collection", "-c", help="Collection directory.", envvar="MMIR_COLLECTION")
]
MaybeCollectionOpt = Annotated[
    Path | None,
    typer.Option("--collection", "-c", help="Search this collection to make the run.", envvar="MMIR_COLLECTION"),
]
TopK = Annotated[int, typer.Option("-k", "--top", min=1, max=10_000, help="Number of results.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")]
ModelOpt = Annotated[str, typer.Option("--model", "-m", help="Encoder: a model name or a `mmir train metric` folder.")]

COLLECTION = DEFAULT_COLLECTION
K = DEFAULT_K
MODEL = DEFAULT_MODEL

# Literal mirrors of torch-module enums (checked equal to them by the tests).
MetricLossName = Literal[
    "triplet", "contrastive", "multisimilarity", "normsoftmax", "proxyanchor", "cosface", "arcface"
]
"""Values of :class:`mmir.learn.metric.MetricLoss`."""
MinerName = Literal["semihard", "hard", "all", "multisimilarity"]
"""Values of :class:`mmir.learn.metric.MinerKind`."""
SequenceArchName = Literal["rnn", "lstm", "gru", "bag"]
"""Values of :class:`mmir.models.sequence.SequenceArch`."""
ArchName = Literal["lenet5", "alexnet-small", "vgg-small", "resnet-small"]
"""Values of :class:`mmir.models.convnets.Arch` trained from scratch."""
BackboneName = Literal["efficientnet-lite0", "efficientnet-lite2"]
"""Values of :class:`mmir.models.convnets.Arch` fine-tuned (``--from``)."""
ScheduleName = Literal["constant", "step", "cosine"]
"""Values of :class:`mmir.learn.schedule.Schedule`."""
ClassificationLossName = Literal["cross-entropy", "bce", "mse"]
"""Values of :class:`mmir.learn.recipe.ClassificationLoss`."""
DetectorName = Literal["fast", "transnetv2", "fusion", "adaptive", "content", "scenedetect-histogram"]
"""Names :func:`mmir.media.shot_detectors.make_detector` accepts."""
ChannelName = Literal["cnn", "colour", "lbp", "hog", "bovw", "fused"]
"""Values of :class:`mmir.models.engineered.Descriptor`, plus ``fused``."""


# Old names, hidden: giving one is an error that names the new flag (no silent alias, no other meaning).
OldDescriptorOpt = Annotated[str | None, typer.Option("--descriptor", hidden=True)]
OldEncoderOpt = Annotated[str | None, typer.Option("--encoder", hidden=True)]


def refuse_renamed(value: object, old: str, new: str, hint: str = "") -> None:
    """Refuse a renamed flag with one line saying what it is called now (and ``hint``, if another flag may be meant).

    Raises:
        MmirError: if ``value`` was given.
    """
    if value is not None:
        raise MmirError(f"{old} is now {new} ({old} {value} → {new} {value})" + (f"; {hint}" if hint else ""))


def given(ctx: typer.Context, *names: str) -> list[str]:
    """The parameters among ``names`` set on the command line (or from the environment), not left at default."""
    found = []
    for name in names:
        source = ctx.get_parameter_source(name)
        if source is not None and source.name in ("COMMANDLINE", "ENVIRONMENT"):
            found.append("--" + name.replace("_", "-"))
    return found


def require_with(given: bool, option: str, needs: str) -> None:
    """Refuse ``option`` given without ``needs`` (one line, exit status 2) instead of ignoring it.

    Raises:
        MmirError: if ``given``.
    """
    if given:
        raise MmirError(f"{option} needs {needs}")


def open_collection(collection: Path, **kwargs: object) -> Collection:
    """:meth:`mmir.api.Collection.open`, on the encoder runtime ``MMIR_BACKEND`` names (default auto)."""
    from mmir.api import Collection

    kwargs.setdefault("backend", os.environ.get("MMIR_BACKEND") or "auto")
    return Collection.open(collection, **kwargs)  # type: ignore[arg-type]


class _StatusLines(logging.Handler):
    """The library's ``mmir.status`` messages (slow one-off steps about to start) as lines on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        typer.echo(self.format(record), err=True)


def echo_status_lines() -> None:
    """Show ``mmir.status`` messages ("exporting … to ONNX (once)…") on stderr, once per process."""
    logger = logging.getLogger("mmir.status")
    if not any(isinstance(handler, _StatusLines) for handler in logger.handlers):
        logger.addHandler(_StatusLines())
    logger.setLevel(logging.INFO)
    logger.propagate = False
