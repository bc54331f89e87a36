"""``mmir index``: build or update a collection (thin over :meth:`mmir.api.Collection.index`)."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mmir.cli.groups import app
from mmir.cli.options import (
    COLLECTION,
    CollectionOpt,
    DetectorName,
    JsonOpt,
    OldDescriptorOpt,
    open_collection,
    refuse_renamed,
    require_with,
)
from mmir.errors import MmirError
from mmir.models.backends import Backend
from mmir.models.spec import Pooling

if TYPE_CHECKING:
    from mmir.api import Collection, TextOptions


class _EchoNotes(logging.Handler):
    """Media notes (files passed over, metadata text dropped, lenient decodes) as ``note: …`` lines on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        typer.echo(f"note: {self.format(record)}", err=True)


def _echo_media_notes(verbose: bool) -> None:
    logger = logging.getLogger("mmir.media")
    if not any(isinstance(handler, _EchoNotes) for handler in logger.handlers):
        logger.addHandler(_EchoNotes())
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)


@app.command()
def index(
    paths: Annotated[list[Path], typer.Argument(help="Folders or image files to index.")],
    collection: CollectionOpt = COLLECTION,
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Encoder of a new collection (see `mmir info`).")
    ] = None,
    pooling: Annotated[Pooling | None, typer.Option(help="Pooling of a new collection (default gem).")] = None,
    old_descriptor: OldDescriptorOpt = None,
    multiscale: Annotated[
        bool | None, typer.Option(help="Average descriptors over scales 1, 1/√2, 1/2 (a new collection).")
    ] = None,
    pca: Annotated[
        str | None, typer.Option(help="Learn PCA-whitening to this dimension on the collection; `none` removes it.")
    ] = None,
    whiten: Annotated[bool | None, typer.Option(help="With --pca: whiten (default), or plain PCA.")] = None,
    pca_from: Annotated[
        Path | None, typer.Option(help="With --pca: learn it on this other collection (same model) instead.")
    ] = None,
    weights: Annotated[Path | None, typer.Option(help="Weights file for torchvision:/timm:/open_clip: models.")] = None,
    batch_size: Annotated[
        int | None, typer.Option(min=1, max=1024, help="Images per model call (default: chosen for the backend).")
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
    backend: Annotated[
        Backend,
        typer.Option(envvar="MMIR_BACKEND", help="Encoder runtime (auto: ONNX Runtime when installed, else torch)."),
    ] = Backend.AUTO,
    store: Annotated[
        str | None,
        typer.Option(help="Where vectors live: faiss (default), milvus:PATH.db (Milvus Lite), milvus://HOST:PORT. "
                     "Recorded; later commands reuse it."),
    ] = None,
    executor: Annotated[
        str | None,
        typer.Option(help="Where images are decoded and encoded: local (default), ray (a local Ray cluster) or "
                     "ray://HOST:PORT (files must be readable by the workers at the same path)."),
    ] = None,
    as_json: JsonOpt = False,
    descriptors: Annotated[
        str | None,
        typer.Option(help="Descriptor channels to store: cnn plus any of colour, lbp, hog, bovw (comma-separated); "
                     "files already indexed without one get it back-filled (decoded again, no CNN). Default: cnn "
                     "plus the channels the collection already holds, so new files get them too."),
    ] = None,
    # Off by default until they are cheap enough: OCR costs ~1.3 s a photo here (indexing ~10x slower).
    ocr: Annotated[bool, typer.Option(help="Read visible text in photos and video keyframes (OCR; slow).")] = False,
    speech: Annotated[bool, typer.Option(help="Transcribe speech in videos (slow).")] = False,
    thumbnails: Annotated[
        bool, typer.Option(help="Keep 256 px cards and 1280 px previews for the web page (made from the decode "
                                "indexing already does; back-filled for files indexed without them).")
    ] = True,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="List each file passed over (other extension, link out of a root).")
    ] = False,
    retry_failed: Annotated[
        bool, typer.Option("--retry-failed", help="Try again the files that failed before and did not change.")
    ] = False,
    detector: Annotated[
        DetectorName | None, typer.Option(help="Shot detector for videos, as in `mmir shots` (default fast).")
    ] = None,
) -> None:
    """Build or update a collection: new and changed files are encoded, deleted ones removed, missing outputs added."""
    from mmir.api import IndexOptions, check_store

    _echo_media_notes(verbose)

    refuse_renamed(old_descriptor, "--descriptor", "--pooling", "descriptor channels to store are --descriptors")
    require_with(pca is None and pca_from is not None, "--pca-from", "--pca DIM")
    require_with(pca is None and whiten is not None, "--whiten/--no-whiten", "--pca DIM")
    _check_before_opening(descriptors, executor)
    settings = (("pooling", pooling.value if pooling else None), ("weights_path", weights))
    options = {key: str(value) for key, value in settings if value}
    if multiscale is not None:
        options["multiscale"] = str(multiscale).lower()
    pca_dim = _pca_dim(pca)
    if store is not None:
        check_store(store)  # before the collection is created or anything recorded
    with open_collection(collection, create=True, model=model, model_options=options, backend=backend.value) as coll:
        if store is not None:
            coll.use_store(store)
        names = descriptors.split(",") if descriptors is not None else ["cnn", *coll.stored_channels()]
        channels = coll.channel_extractors(names, [str(p) for p in paths])
        report = coll.index(
            [str(p) for p in paths],
            IndexOptions(batch_size=batch_size, progress=progress and not as_json, channels=tuple(channels),
                         retry_failed=retry_failed, shot_detector=detector, thumbnails=thumbnails),
            on_problem=lambda problem: typer.echo(f"skipped {problem}", err=True),
            channel_sink=coll.channel_sink() if channels else None,
            executor=executor,
            text=_text_options(ocr, speech),
            on_note=lambda note: typer.echo(f"note: {note}", err=True),
        )  # fmt: skip
        if pca is not None:
            _apply_pca(coll, pca_dim, whiten is not False, pca_from, as_json)
    if as_json:
        data = asdict(report) | {"images_per_second": report.images_per_second}
        data["problems"] = [asdict(p) for p in report.problems]
        typer.echo(json.dumps(data, indent=1))
    else:
        typer.echo(
            f"{report.scanned} files: {report.added} added, {report.updated} updated, {report.reused} copies reused, "
            f"{report.unchanged} unchanged, {report.removed} removed, {len(report.problems)} failed "
            f"({report.encoded} encoded in {report.seconds:.1f} s, {report.images_per_second:.1f} img/s)"
            + (f"; {report.backfilled} indexed files given missing descriptors" if report.backfilled else "")
            + (f"; {report.thumbnails_backfilled} given thumbnails" if report.thumbnails_backfilled else "")
        )
    if report.failed_before:
        typer.echo(f"{report.failed_before} files failed before (unchanged since); --retry-failed to try again",
                   err=True)  # fmt: skip
    if report.problems:  # this run's failures only: an unchanged broken file does not fail every later run
        raise typer.Exit(1)


def _check_before_opening(descriptors: str | None, executor: str | None) -> None:
    """A misspelled channel or executor fails at once, not after a new collection loaded its encoder."""
    from mmir.api import parse_executor
    from mmir.models.engineered import Descriptor

    known = [channel.value for channel in Descriptor]
    for name in (descriptors or "").split(","):
        if name.strip() and name.strip() not in known:
            raise MmirError(f"--descriptors: unknown channel {name.strip()!r}; choose from {', '.join(known)}")
    try:
        parse_executor(executor)
    except ValueError as exc:
        raise MmirError(str(exc)) from exc


def _text_options(ocr: bool, speech: bool) -> TextOptions | None:
    """The text producers to run (``None``: neither)."""
    from mmir.api import TextOptions

    return TextOptions(ocr=ocr, speech=speech) if ocr or speech else None


def _pca_dim(pca: str | None) -> int | None:
    """``--pca`` as a dimension; ``none`` → ``None`` (remove)."""
    if pca is None or pca.strip().lower() == "none":
        return None
    if not pca.strip().isdigit() or int(pca) < 1:
        raise typer.BadParameter(f"--pca {pca}: expected a dimension (e.g. 256) or none")
    return int(pca)


def _apply_pca(coll: Collection, dim: int | None, whiten: bool, training: Path | None, as_json: bool) -> None:
    fit = coll.learn_pca(dim, whiten=whiten, training=training)
    if fit is None:
        typer.echo("PCA removed: the vector index uses the raw descriptors again", err=as_json)
        return
    typer.echo(f"PCA: {fit.setting}, fitted on {fit.fitted_on} vectors; vector index re-derived", err=as_json)
    if fit.warning:
        typer.echo(f"warning: {fit.warning}", err=True)
