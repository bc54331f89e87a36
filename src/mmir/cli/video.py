"""``mmir shots`` and the temporal branch of ``mmir search --then``: thin commands over media/ and the API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from mmir.cli.commands import CollectionOpt, JsonOpt
from mmir.cli.groups import app, eval_app, train_app
from mmir.concepts import QueryMode
from mmir.media import display_path, read_file
from mmir.search.queries import ExampleQuery, TextQuery

SubQuery = tuple[str | None, Path | None, QueryMode]


@app.command()
def shots(
    video: Annotated[Path, typer.Argument(help="A video file.")],
    detector: Annotated[
        str, typer.Option(help="fast (default), transnetv2, fusion, adaptive, content, scenedetect-histogram.")
    ] = "fast",
    min_shot: Annotated[float, typer.Option(min=0.0, help="Shortest shot, seconds.")] = 0.25,
    max_shot: Annotated[float, typer.Option(min=0.0, help="Split longer shots (0: never).")] = 16.0,
    as_json: JsonOpt = False,
) -> None:
    """Detected shots of a video: start/end seconds, how each began (cut or gradual), keyframe times."""
    from mmir.indexing.video import VideoIndexOptions, detect_shots
    from mmir.media.shot_detectors import make_detector

    try:
        chosen = make_detector(detector)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    found = detect_shots(str(video), chosen, VideoIndexOptions(min_shot_s=min_shot, max_shot_s=max_shot))
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


def run_temporal(collection: Path, first: SubQuery, second: SubQuery, within: float, k: int, as_json: bool) -> None:
    """``mmir search A --then B --within T``: print the best ``A then B`` pair of each video."""
    from mmir.api import Collection

    with Collection.open(collection) as coll:
        hits = coll.search_then(_sub_query(*first), _sub_query(*second), within, k)
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
EncoderOpt = Annotated[str, typer.Option("--encoder", help="Frame encoder (a model name or directory).")]
FpsOpt = Annotated[float, typer.Option(min=0.1, max=30.0, help="Frames per second fed to the model.")]


def _clip_sequences(clips: Path, encoder_name: str, fps: float) -> tuple[list, list[str]]:
    from mmir.learn.sequence import clip_descriptors, list_clips
    from mmir.models import load_encoder

    paths, labels = list_clips(clips)
    encoder = load_encoder(encoder_name)
    return [clip_descriptors(path, encoder, fps) for path in paths], labels


@train_app.command("sequence")
def train_sequence(
    clips: ClipsArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory for the trained model.")] = Path("sequence-model"),
    arch: Annotated[str, typer.Option(help="rnn (Elman), lstm, gru, or bag (order-free baseline).")] = "lstm",
    hidden: Annotated[int, typer.Option(min=4, max=4096)] = 128,
    epochs: Annotated[int, typer.Option(min=1, max=10_000)] = 40,
    lr: Annotated[float, typer.Option(min=1e-6, max=1.0)] = 3e-3,
    encoder: EncoderOpt = "efficientnet-lite0",
    fps: FpsOpt = 2.0,
    seed: Annotated[int, typer.Option()] = 0,
    register: Annotated[
        str | None, typer.Option(help="Also make the model a concept of --collection, searchable as NAME.")
    ] = None,
    label: Annotated[str | None, typer.Option(help="With --register: the class scored (default: NAME).")] = None,
    collection: CollectionOpt = Path(".mmir"),
) -> None:
    """Train an event classifier over per-frame descriptor sequences of labelled clips.

    With --register NAME the model becomes a concept detector of the collection: every indexed video shot is
    scored from its stored frame descriptors (no decoding), and `mmir search NAME` finds the shots.
    """
    from mmir.learn.sequence import SequenceTraining, arch_from_name, save_sequence_model, train_sequence_model
    from mmir.models.sequence import SequenceConfig

    chosen = arch_from_name(arch)
    sequences, labels = _clip_sequences(clips, encoder, fps)
    classes = tuple(sorted(set(labels)))
    config = SequenceConfig(chosen, input_dim=sequences[0].shape[1], classes=classes, hidden=hidden)
    targets = [classes.index(label) for label in labels]
    model = train_sequence_model(
        sequences, targets, config, SequenceTraining(epochs=epochs, lr=lr, seed=seed),
        on_epoch=lambda epoch, loss: typer.echo(f"epoch {epoch + 1:3d}  loss {loss:.4f}") if epoch % 10 == 9 else None,
    )  # fmt: skip
    save_sequence_model(model, config, out)
    typer.echo(f"trained {chosen.value} on {len(sequences)} clips, {len(classes)} classes; saved to {out}")
    if register is not None:
        from mmir.api import Collection
        from mmir.indexing.video_concepts import register_sequence_concept

        with Collection.open(collection) as coll:
            concept = register_sequence_concept(coll, out, register, label)
        typer.echo(f"registered {concept.name!r} (class {concept.label!r}) in {collection}: "
                   f"`mmir search {concept.name}` finds its shots")  # fmt: skip


@app.command("sequence-concepts")
def sequence_concepts(
    collection: CollectionOpt = Path(".mmir"),
    remove: Annotated[str | None, typer.Option(help="Forget this concept and delete its copy of the model.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List the sequence models registered as concepts (`mmir train sequence --register`), or remove one."""
    from dataclasses import asdict

    from mmir.api import Collection
    from mmir.indexing.video_concepts import registered, unregister_sequence_concept

    with Collection.open(collection) as coll:
        if remove is not None:
            gone = unregister_sequence_concept(coll, remove)
            typer.echo(f"removed sequence concept {gone.name!r} from {collection}")
            return
        concepts = registered(coll.directory)
    if as_json:
        typer.echo(json.dumps([asdict(concept) for concept in concepts], indent=1))
        return
    if not concepts:
        typer.echo("no sequence concepts (register one with `mmir train sequence CLIPS --register NAME`)")
    for concept in concepts:
        typer.echo(f"{concept.name}\tclass {concept.label}\t{concept.model}")


@eval_app.command("sequence")
def eval_sequence(
    clips: ClipsArg,
    model: Annotated[Path, typer.Option("--model", "-m", help="A directory written by `mmir train sequence`.")],
    encoder: EncoderOpt = "efficientnet-lite0",
    fps: FpsOpt = 2.0,
) -> None:
    """Accuracy, top-k error and confusion matrix of a sequence model on labelled clips."""
    from mmir.learn.labels_csv import DataError
    from mmir.learn.sequence import evaluate_sequence_model, load_sequence_model

    net, config = load_sequence_model(model)
    sequences, labels = _clip_sequences(clips, encoder, fps)
    unknown = sorted(set(labels) - set(config.classes))
    if unknown:
        raise DataError(f"{clips}: labels the model was not trained on: {', '.join(unknown)}")
    report = evaluate_sequence_model(net, sequences, [config.classes.index(x) for x in labels], config.classes)
    typer.echo(report.format())
