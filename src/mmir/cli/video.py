"""``mmir shots`` and the temporal branch of ``mmir search --then``: thin commands over media/ and the API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from mmir.api import ExampleQuery, QueryMode, SearchFilter, TemporalQuery, TextQuery
from mmir.cli.groups import app, eval_app, train_app
from mmir.cli.options import (
    COLLECTION,
    MODEL,
    CollectionOpt,
    DetectorName,
    JsonOpt,
    ModelOpt,
    OldEncoderOpt,
    SequenceArchName,
    open_collection,
    refuse_renamed,
    require_with,
)
from mmir.errors import MmirError
from mmir.media import IMAGE_EXTENSIONS, display_path, read_file

SubQuery = tuple[str | None, Path | None, QueryMode]


@app.command()
def shots(
    video: Annotated[Path, typer.Argument(help="A video file.")],
    detector: Annotated[
        DetectorName, typer.Option(help="Shot detector (transnetv2, fusion: a model, slower).")
    ] = "fast",
    min_shot: Annotated[float, typer.Option(min=0.0, help="Shortest shot, seconds.")] = 0.25,
    max_shot: Annotated[float, typer.Option(min=0.0, help="Split longer shots (0: never).")] = 16.0,
    as_json: JsonOpt = False,
) -> None:
    """Detected shots of a video: start/end seconds, how each began (cut or gradual), keyframe times."""
    from mmir.api import detect_shots

    if video.suffix.lower() in IMAGE_EXTENSIONS:
        raise MmirError(f"{display_path(str(video))}: not a video (an image); `mmir shots` takes a video file")
    found = detect_shots(video, detector, min_shot_s=min_shot, max_shot_s=max_shot, progress=not as_json)
    if len(found.frame_times) <= 1:
        raise MmirError(f"{display_path(str(video))}: not a video (a single frame); `mmir shots` takes a video file")
    info, problem = found.info, found.problem
    rows = [
        {
            "shot": number, "start": round(shot.start_s, 3), "end": round(shot.end_s, 3),
            "transition": shot.opened_by.value if shot.opened_by else None,
            "keyframe": round(float(found.frame_times[(shot.first + shot.last) // 2]), 3),
        }
        for number, shot in enumerate(found.shots, 1)
    ]  # fmt: skip
    if as_json:
        typer.echo(json.dumps({"path": display_path(str(video)), "duration": info.duration_s, "fps": info.fps,
                               "width": info.width, "height": info.height, "rotation": info.rotation,
                               "problem": problem, "shots": rows}, indent=1))  # fmt: skip
        return
    size = f"{info.width}x{info.height}" + (f", rotated {info.rotation}°" if info.rotation else "")
    typer.echo(f"{display_path(str(video))}: {len(rows)} shots ({size}, {info.fps:.2f} fps)")
    for row in rows:
        began = row["transition"] or "start"
        typer.echo(
            f"{row['shot']:4d}  {row['start']:9.2f} - {row['end']:9.2f} s  ({began})  keyframe {row['keyframe']}"
        )
    if problem:
        typer.echo(f"warning: {display_path(str(video))}: {problem}", err=True)


def _sub_query(text: str | None, image: Path | None, mode: QueryMode) -> TextQuery | ExampleQuery:
    if text is not None:
        return TextQuery(text, mode)
    assert image is not None
    return ExampleQuery(read_file(image), str(image))


def run_temporal(
    collection: Path, first: SubQuery, second: SubQuery, within: float, k: int, as_json: bool,
    flt: SearchFilter | None = None,
) -> None:  # fmt: skip
    """``mmir search A --then B --within T``: print the best ``A then B`` pair of each video (of those ``flt``
    allows)."""
    with open_collection(collection) as coll:
        temporal = TemporalQuery(_sub_query(*first), _sub_query(*second), within)
        hits = coll.search(temporal, k, filter=flt).pairs
    if as_json:
        typer.echo(json.dumps([{
            "rank": rank, "path": display_path(hit.media.path), "score": round(hit.score, 6), "why": list(hit.why),
            "media_id": hit.media.id, "first": {"segment_id": hit.first.id, "start": hit.first.start_s,
                                                "end": hit.first.end_s},
            "second": {"segment_id": hit.second.id, "start": hit.second.start_s, "end": hit.second.end_s},
        } for rank, hit in enumerate(hits, 1)], indent=1))  # fmt: skip
        return
    if not hits:
        typer.echo("no results")
    for rank, hit in enumerate(hits, 1):
        typer.echo(f"{rank:3d}  {hit.score:.4f}  {display_path(hit.media.path)}  [{'; '.join(hit.why)}]")


ClipsArg = Annotated[Path, typer.Argument(help="A folder per label of video clips, or a CSV of path,label rows.")]
FpsOpt = Annotated[float, typer.Option(min=0.1, max=30.0, help="Frames per second fed to the model.")]


@train_app.command("sequence")
def train_sequence(
    clips: ClipsArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory for the trained model.")] = Path("sequence-model"),
    arch: Annotated[
        SequenceArchName, typer.Option(help="rnn (Elman), lstm, gru, or bag (order-free baseline).")
    ] = "lstm",
    hidden: Annotated[int, typer.Option(min=4, max=4096)] = 128,
    epochs: Annotated[int, typer.Option(min=1, max=10_000)] = 40,
    lr: Annotated[float, typer.Option(min=1e-6, max=1.0)] = 3e-3,
    model: ModelOpt = MODEL,
    old_encoder: OldEncoderOpt = None,
    fps: FpsOpt = 2.0,
    seed: Annotated[int, typer.Option()] = 0,
    register: Annotated[
        str | None, typer.Option(help="Also make the model a concept of --collection, searchable as NAME.")
    ] = None,
    label: Annotated[str | None, typer.Option(help="With --register: the class scored (default: NAME).")] = None,
    collection: CollectionOpt = COLLECTION,
    as_json: JsonOpt = False,
) -> None:
    """Train an event classifier over per-frame descriptor sequences of labelled clips.

    With --register NAME the model becomes a concept detector of the collection: every indexed video shot is
    scored from its stored frame descriptors (no decoding), and `mmir search NAME` finds the shots.
    """
    from mmir.learn import SequenceRun, SequenceTraining, train_on_clips

    refuse_renamed(old_encoder, "--encoder", "--model")
    require_with(label is not None and register is None, "--label", "--register NAME")
    run = SequenceRun(model, fps, arch, hidden, SequenceTraining(epochs=epochs, lr=lr, seed=seed))

    def echo(epoch: int, loss: float) -> None:
        if epoch % 10 == 9:
            typer.echo(f"epoch {epoch + 1:3d}  loss {loss:.4f}", err=as_json)

    trained = train_on_clips(clips, out, run, on_epoch=echo)
    config = trained.config
    facts: dict[str, object] = {"arch": config.arch.value, "clips": trained.clips, "classes": list(config.classes),
                                "out": str(out)}  # fmt: skip
    if not as_json:
        classes = len(config.classes)
        typer.echo(f"trained {config.arch.value} on {trained.clips} clips, {classes} classes; saved to {out}")
    if register is not None:
        with open_collection(collection) as coll:
            concept = coll.register_sequence_concept(out, register, label)
        facts["registered"] = {"name": concept.name, "label": concept.label, "collection": str(collection)}
        if not as_json:
            typer.echo(f"registered {concept.name!r} (class {concept.label!r}) in {collection}: "
                       f"`mmir search {concept.name}` finds its shots")  # fmt: skip
    if as_json:
        typer.echo(json.dumps(facts, indent=1))


@app.command("sequence-concepts")
def sequence_concepts(
    collection: CollectionOpt = COLLECTION,
    remove: Annotated[str | None, typer.Option(help="Forget this concept and delete its copy of the model.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List the sequence models registered as concepts (`mmir train sequence --register`), or remove one."""
    from dataclasses import asdict

    with open_collection(collection) as coll:
        if remove is not None:
            gone = coll.unregister_sequence_concept(remove)
            if as_json:
                typer.echo(json.dumps({"removed": gone.name}))
            else:
                typer.echo(f"removed sequence concept {gone.name!r} from {collection}")
            return
        concepts = coll.sequence_concepts()
    if as_json:
        typer.echo(json.dumps([asdict(concept) for concept in concepts], indent=1, default=str))
        return
    if not concepts:
        typer.echo("no sequence concepts (register one with `mmir train sequence CLIPS --register NAME`)")
    for concept in concepts:
        typer.echo(f"{concept.name}\tclass {concept.label}\t{concept.model}")


@eval_app.command("sequence")
def eval_sequence(
    clips: ClipsArg,
    checkpoint: Annotated[Path, typer.Option("--checkpoint", help="A directory written by `mmir train sequence`.")],
    model: ModelOpt = MODEL,
    old_encoder: OldEncoderOpt = None,
    fps: FpsOpt = 2.0,
    as_json: JsonOpt = False,
) -> None:
    """Accuracy, top-k error and confusion matrix of a sequence model on labelled clips."""
    from mmir.learn import SEQUENCE_CONFIG, evaluate_on_clips

    refuse_renamed(old_encoder, "--encoder", "--model")
    if (Path(model) / SEQUENCE_CONFIG).is_file():  # --model named the sequence model before it named the encoder
        raise MmirError(f"--model {model} is a sequence model: pass it as --checkpoint (--model is the frame encoder)")

    report = evaluate_on_clips(checkpoint, clips, model, fps)
    if as_json:
        typer.echo(json.dumps({"top1_error": report.top1_error, "top5_error": report.top5_error,
                               "per_class_accuracy": dict(zip(report.class_names, map(float, report.per_class_accuracy),
                                                              strict=True)),
                               "confusion": report.confusion.tolist()}, indent=1))  # fmt: skip
        return
    typer.echo(report.format())
