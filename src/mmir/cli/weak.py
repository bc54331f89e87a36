"""``mmir train concepts``: concepts from labelled examples, or from noisy labels with ``--weak | --from-folders |
--from-names`` (thin over the API)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from mmir.cli.groups import train_app
from mmir.cli.options import COLLECTION, CollectionOpt, JsonOpt, given, open_collection, require_with
from mmir.errors import MmirError
from mmir.media import display_path


@train_app.command("concepts")
def train_concepts(
    ctx: typer.Context,
    labels: Annotated[
        Path | None, typer.Argument(help="CSV of `path,label1;label2` rows (paths relative to the CSV).")
    ] = None,
    collection: CollectionOpt = COLLECTION,
    negatives: Annotated[int, typer.Option(help="Random indexed items used as extra negatives.")] = 500,
    seed: Annotated[int, typer.Option()] = 0,
    weak: Annotated[
        Path | None,
        typer.Option(help="Noisy tags: a `path,tag1;tag2` CSV, or a folder whose files have .txt/.tags sidecars."),
    ] = None,
    from_folders: Annotated[bool, typer.Option(help="Noisy labels: each indexed file's folder name.")] = False,
    from_names: Annotated[bool, typer.Option(help="Noisy labels: the words of each indexed file's name.")] = False,
    min_examples: Annotated[int, typer.Option(min=2, help="Weak labels: fewest files a label needs.")] = 5,
    plain: Annotated[bool, typer.Option(help="Weak labels: plain cross-entropy instead of the robust GCE.")] = False,
    show_suspects: Annotated[int, typer.Option(help="Weak labels: list up to N files that look mislabelled.")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Learn new concepts from labelled examples; keyword search uses them at once (no re-indexing).

    With --weak, --from-folders or --from-names the labels are noisy (tags, folder or file names): concepts are
    trained with a noise-robust loss on the stored descriptors, and --show-suspects lists doubtful labels.
    """
    sources = [labels is not None, weak is not None, from_folders, from_names]
    if sum(sources) != 1:
        raise MmirError("give exactly one of: LABELS.csv, --weak FILE|FOLDER, --from-folders, --from-names")
    weak_only = given(ctx, "min_examples", "plain", "show_suspects")
    if labels is not None:
        require_with(bool(weak_only), " ".join(weak_only), "noisy labels (--weak, --from-folders or --from-names)")
    else:
        require_with(bool(given(ctx, "negatives")), "--negatives", "a LABELS.csv (noisy labels use every file)")
        train_weak(collection, weak, from_folders, from_names, min_examples, plain, show_suspects, seed, as_json)
        return
    from mmir.learn import MIN_POSITIVES, learnable, read_label_csv

    examples, skipped = learnable(read_label_csv(labels, allow_empty=True))
    for name, count in skipped.items():  # the other labels are still learned
        typer.echo(f"skipped label {name!r}: {count} file(s) carry it, a concept needs {MIN_POSITIVES}", err=True)
    with open_collection(collection) as coll:
        heads = coll.learn_concepts(examples, negatives=negatives, seed=seed)
    held_out = {name: heads.held_out_ap.get(name, float("nan")) for name in heads.names}
    if as_json:
        typer.echo(json.dumps({"examples": len(examples), "held_out_ap": held_out}, indent=1))
        return
    typer.echo(f"learned {len(heads.names)} concepts from {len(examples)} examples (held-out AP):")
    for name, ap in held_out.items():
        typer.echo(f"  {ap:.3f}  {name}")


def train_weak(
    collection: Path, weak: Path | None, from_folders: bool, from_names: bool, min_examples: int, plain: bool,
    show_suspects: int, seed: int, as_json: bool = False,
) -> None:  # fmt: skip
    """Read the weak labels, train robust concepts on stored descriptors, print AP and the suspects."""
    from mmir.learn import LabelSource, RobustConfig, RobustLoss, read_weak_labels

    if weak is not None:
        source = LabelSource.SIDECARS if weak.is_dir() else LabelSource.TAGS
    else:
        source = LabelSource.FOLDERS if from_folders else LabelSource.NAMES
    with open_collection(collection) as coll:
        examples = read_weak_labels(source, coll.indexed_paths(), weak)
        loss = RobustLoss.CROSS_ENTROPY if plain else RobustLoss.GCE
        report = coll.learn_weak_concepts(examples, RobustConfig(loss=loss, seed=seed), min_examples)
    result = report.result
    suspects: list[dict[str, Any]] = [
        {"path": display_path(report.paths[s.index]), "label": s.label, "confidence": s.confidence,
         "suggested": s.suggested, "suggested_confidence": s.suggested_confidence}
        for s in result.suspects[:show_suspects]
    ]  # fmt: skip
    if as_json:
        typer.echo(json.dumps({
            "files": len(report.paths), "exclusive": result.exclusive, "loss": loss.value,
            "unindexed": report.unindexed, "held_out_ap": {n: result.heads.held_out_ap[n] for n in result.heads.names},
            "dropped": dict(report.dropped), "suspects_found": len(result.suspects), "suspects": suspects,
        }, indent=1))  # fmt: skip
        return
    mode = "one label per file (softmax)" if result.exclusive else "several labels per file (sigmoid)"
    typer.echo(
        f"learned {len(result.heads.names)} concepts from {len(report.paths)} indexed files, {mode}, loss {loss.value}"
        f"; {report.unindexed} labelled files not indexed were skipped"
    )
    for name in result.heads.names:
        typer.echo(f"  {result.heads.held_out_ap[name]:.3f}  {name}   (out-of-fold AP against the noisy labels)")
    for label, reason in sorted(report.dropped.items()):
        typer.echo(f"  skipped label {label!r}: {reason}")
    hint = " (most doubtful first):" if show_suspects else "; list them with --show-suspects N"
    typer.echo(f"{len(result.suspects)} files look mislabelled" + (hint if result.suspects else ""))
    for row in suspects:
        better = f"; looks like {row['suggested']!r} ({row['suggested_confidence']:.2f})" if row["suggested"] else ""
        typer.echo(f"  {row['path']}: {row['label']!r} ({row['confidence']:.2f}){better}")
