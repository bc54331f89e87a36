"""``mmir train concepts --weak | --from-folders | --from-names``: concepts from noisy labels (thin over the API)."""

from __future__ import annotations

from pathlib import Path

import typer

from mmir.media import display_path


def train_weak(
    collection: Path, weak: Path | None, from_folders: bool, from_names: bool, min_examples: int, plain: bool,
    show_suspects: int, seed: int,
) -> None:  # fmt: skip
    """Read the weak labels, train robust concepts on stored descriptors, print AP and the suspects."""
    from mmir.api import Collection
    from mmir.learn.robust_heads import RobustConfig, RobustLoss
    from mmir.learn.weak_labels import from_folders as folder_labels
    from mmir.learn.weak_labels import from_names as name_labels
    from mmir.learn.weak_labels import from_sidecars, from_tags_csv

    with Collection.open(collection) as coll:
        if weak is not None and weak.is_dir():
            root = str(weak.absolute())
            examples = from_sidecars(p for p in coll.indexed_paths() if p.startswith(root.rstrip("/") + "/"))
        elif weak is not None:
            examples = from_tags_csv(weak)
        else:
            examples = folder_labels(coll.indexed_paths()) if from_folders else name_labels(coll.indexed_paths())
        loss = RobustLoss.CROSS_ENTROPY if plain else RobustLoss.GCE
        report = coll.learn_weak_concepts(examples, RobustConfig(loss=loss, seed=seed), min_examples)
    result = report.result
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
    for suspect in result.suspects[:show_suspects]:
        better = f"; looks like {suspect.suggested!r} ({suspect.suggested_confidence:.2f})" if suspect.suggested else ""
        typer.echo(
            f"  {display_path(report.paths[suspect.index])}: {suspect.label!r} ({suspect.confidence:.2f}){better}"
        )
