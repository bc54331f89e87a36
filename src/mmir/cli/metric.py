"""``mmir train metric`` and ``mmir eval retrieval``: thin commands over :mod:`mmir.learn.metric` and
:mod:`mmir.evaluate.trec`."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from mmir.cli.groups import eval_app, train_app
from mmir.errors import MmirError

if TYPE_CHECKING:
    import numpy as np
    import torch

    from mmir.learn.metric import EpochStats, MetricConfig, TrainHistory

_BATCH = 32  # images decoded and encoded at a time


def read_groups(source: Path) -> tuple[list[Path], list[int], list[str]]:
    """Images and their group index from a folder per identity or a CSV of ``path,group`` rows.

    The readers are the training data's own (:func:`mmir.learn.datasets.image_folder_files` and
    :func:`mmir.learn.labels_csv.read_label_csv`); a CSV row here must name exactly one group.

    Returns:
        ``(paths, labels, group_names)`` where ``labels[i]`` indexes ``group_names``.

    Raises:
        MmirError: if the source is missing, a CSV row is malformed, or no image is found.
    """
    from mmir.learn.labels_csv import DataError, read_label_csv

    if source.is_dir():
        from mmir.learn.datasets import image_folder_files

        pairs = image_folder_files(source)
    elif source.is_file():
        pairs = []
        for row in read_label_csv(source):
            if len(row.labels) != 1:
                raise DataError(f"{source}:{row.line}: expected 'path,group' with one group, got {sorted(row.labels)}")
            pairs.append((row.path, next(iter(row.labels))))
    else:
        raise MmirError(f"{source}: no such folder or CSV file")
    names = sorted({group for _, group in pairs})
    index = {name: i for i, name in enumerate(names)}
    return [path for path, _ in pairs], [index[group] for _, group in pairs], names


def _image_batches(paths: list[Path], transform: Callable[..., Any], side: int) -> Iterator[torch.Tensor]:
    """Preprocessed batches ``float32[_BATCH, 3, H, W]`` of ``paths``; a bad file raises a MediaError naming it."""
    import torch

    from mmir.media import load_image

    for start in range(0, len(paths), _BATCH):
        yield torch.stack(
            [torch.as_tensor(transform(load_image(path, min_side=side))) for path in paths[start : start + _BATCH]]
        )


def _echo_epoch(stats: EpochStats) -> None:
    typer.echo(f"epoch {stats.epoch}: loss {stats.loss:.4f}, embedding variance {stats.embedding_variance:.3f}")


@train_app.command("metric")
def train_metric(
    groups: Path = typer.Argument(..., help="A folder per identity/group, or a CSV of path,group rows."),
    out: Path = typer.Option(Path("runs/metric"), "--out", help="Directory for the model entry."),
    loss: str = typer.Option(
        "triplet",
        "--loss",
        help="triplet | contrastive | multisimilarity | normsoftmax | proxyanchor | cosface | arcface",
    ),
    miner: str = typer.Option("semihard", "--miner", help="semihard | hard (batch-hard) | all | multisimilarity"),
    model: str = typer.Option("efficientnet-lite0", "--model", help="Base encoder."),
    train_blocks: int = typer.Option(
        0, "--train-blocks", help="Fine-tune this many last backbone blocks (bundled models) instead of a head."
    ),
    alpha: float = typer.Option(
        0.5,
        "--alpha",
        min=0.0,
        max=1.0,
        help="With --train-blocks: weight of the fine-tuned tail averaged with the pretrained one (WiSE-FT).",
    ),
    pooling: str = typer.Option("gem", "--pooling", help="avg | gem | rmac (head mode; fine-tuning learns GeM)."),
    dim: int = typer.Option(256, "--dim", help="Output descriptor dimension (head mode)."),
    hidden: int = typer.Option(0, "--hidden", help="Hidden width of the head (0 = linear head)."),
    margin: float = typer.Option(0.2, "--margin"),
    epochs: int = typer.Option(20, "--epochs"),
    p: int = typer.Option(8, "--p", help="Groups per batch."),
    k: int = typer.Option(4, "--k", help="Images per group per batch."),
    lr: float | None = typer.Option(None, "--lr", help="Learning rate (default 1e-3 for a head, 1e-4 fine-tuning)."),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Learn a descriptor so that images of one group come close together: a projection head on frozen
    descriptors, or (``--train-blocks N``) the backbone's last N blocks."""
    import numpy as np

    from mmir.learn.metric import MetricConfig, MetricLoss, MinerKind

    rate = lr if lr is not None else (1e-4 if train_blocks > 0 else 1e-3)
    try:
        config = MetricConfig(
            loss=MetricLoss(loss), miner=MinerKind(miner), margin=margin, epochs=epochs, p=p, k=k, lr=rate, seed=seed
        )
    except ValueError as exc:
        raise MmirError(str(exc)) from exc
    paths, labels, names = read_groups(groups)
    facts: dict[str, Any] = {"groups": len(names), "images": len(paths)}
    if train_blocks > 0:
        facts |= {"train_blocks": train_blocks, "alpha": alpha}
        path, history = _finetune(paths, np.asarray(labels), config, model, train_blocks, alpha, out, facts)
    else:
        path, history = _train_head(paths, np.asarray(labels), config, model, pooling, dim, hidden, out, facts)
    (Path(out) / "metrics.json").write_text(json.dumps(history.as_dict(), indent=2) + "\n", encoding="utf-8")
    typer.echo(f"wrote {path} ({len(paths)} images, {len(names)} groups); index with: mmir index PHOTOS --model {out}")


def _config_facts(config: MetricConfig) -> dict[str, Any]:
    return {key: getattr(value, "value", value) for key, value in vars(config).items()}


def _train_head(
    paths: list[Path],
    labels: np.ndarray,
    config: MetricConfig,
    model: str,
    pooling: str,
    dim: int,
    hidden: int,
    out: Path,
    facts: dict[str, Any],
) -> tuple[Path, TrainHistory]:
    import numpy as np
    from tqdm import tqdm

    from mmir.learn.metric import train_head
    from mmir.models import load_encoder
    from mmir.models.model_dir import write_projection_dir

    encoder = load_encoder(model, pooling=pooling)
    batches = _image_batches(paths, encoder.preprocess, encoder.input_side)
    total = -(-len(paths) // _BATCH)
    descriptors = np.concatenate(
        [encoder.encode_batch(b.numpy()).descriptors for b in tqdm(batches, total=total, desc="encoding", unit="batch")]
    )
    head, history = train_head(descriptors, labels, config, out_dim=dim, hidden=hidden, on_epoch=_echo_epoch)
    extra = {"config": _config_facts(config), **facts}
    return write_projection_dir(out, head, model, {"pooling": pooling}, extra=extra), history


def _finetune(
    paths: list[Path],
    labels: np.ndarray,
    config: MetricConfig,
    model: str,
    train_blocks: int,
    alpha: float,
    out: Path,
    facts: dict[str, Any],
) -> tuple[Path, TrainHistory]:
    from mmir.learn.finetune import finetune_tail
    from mmir.models.efficientnet import WEIGHTS
    from mmir.models.model_dir import write_tail_dir

    if model not in WEIGHTS:
        raise MmirError(f"--train-blocks works with the bundled models {sorted(WEIGHTS)}, not {model!r}")
    preprocessing = WEIGHTS[model].preprocessing
    batches = _image_batches(paths, preprocessing.transform(), preprocessing.resize)
    total = -(-len(paths) // _BATCH)
    result = finetune_tail(
        model, batches, labels, config, train_blocks, alpha, total_batches=total, on_epoch=_echo_epoch
    )
    extra = {"config": _config_facts(config), **facts}
    return write_tail_dir(out, result.tail, model, extra=extra), result.history


def evaluate_collection(collection: Path, qrels: Path, run_out: Path | None, k: int) -> Path:
    """Query by example for every query image of ``qrels`` in ``collection``; write the TREC run, return its path.

    Query ids are image paths and document ids are indexed file paths, both absolute or relative to the
    qrels file's folder.
    """
    from mmir.api import Collection
    from mmir.evaluate.trec import qrels_query_files, read_qrels, run_with_qrels_ids, write_run

    judged = read_qrels(qrels)
    base = qrels.resolve().parent
    with Collection.open(collection) as coll:
        run = coll.retrieval_run(qrels_query_files(judged, base), depth=k)
    path = run_out or Path(f"{qrels.stem}.run.txt")
    write_run(path, run_with_qrels_ids(run, judged, base))
    typer.echo(f"wrote run {path}")
    return path


@eval_app.command("retrieval")
def eval_retrieval(
    qrels: Path = typer.Option(..., "--qrels", help="TREC qrels: query 0 doc relevance."),
    run: Path | None = typer.Option(None, "--run", help="TREC run to evaluate: query Q0 doc rank score tag."),
    collection: Path | None = typer.Option(None, "--collection", help="Search this collection to make the run."),
    run_out: Path | None = typer.Option(None, "--run-out", help="Where --collection writes its run file."),
    k: list[int] = typer.Option([5, 10, 100], "--k", help="Cut-offs for P@k and R@k (repeatable)."),
    depth: int = typer.Option(1000, "--depth", help="Results per query searched with --collection."),
    per_query: bool = typer.Option(False, "--per-query", help="Also print each query's figures."),
    complete: bool = typer.Option(False, "--complete", help="Count judged queries missing from the run as 0."),
    json_out: Path | None = typer.Option(None, "--json", help="Also write the figures as JSON."),
) -> None:
    """Evaluate a TREC run against qrels: mAP, infAP, P@k, R@k (like trec_eval)."""
    from mmir.evaluate.trec import evaluate_run, read_qrels, read_run

    if (run is None) == (collection is None):
        raise MmirError("give exactly one of --run (an existing run file) or --collection (search to make one)")
    if collection is not None:
        run = evaluate_collection(collection, qrels, run_out, depth)
    assert run is not None
    result = evaluate_run(read_qrels(qrels), read_run(run), ks=sorted(set(k)), complete=complete)
    if per_query:
        for query, scores in result.per_query.items():
            cells = " ".join(f"P@{c}={scores.precision[c]:.4f}" for c in result.ks)
            typer.echo(f"{query:<12} AP={scores.ap:.4f} infAP={scores.infap:.4f} {cells} rel={scores.n_relevant}")
    typer.echo(f"queries   {len(result.per_query)}")
    typer.echo(f"map       {result.mean_ap:.4f}")
    typer.echo(f"infAP     {result.mean_infap:.4f}")
    for cut in result.ks:
        typer.echo(f"P@{cut:<7} {result.mean_precision(cut):.4f}")
    for cut in result.ks:
        typer.echo(f"R@{cut:<7} {result.mean_recall(cut):.4f}")
    if json_out is not None:
        figures = {
            "queries": len(result.per_query),
            "map": result.mean_ap,
            "infAP": result.mean_infap,
            **{f"P@{c}": result.mean_precision(c) for c in result.ks},
            **{f"R@{c}": result.mean_recall(c) for c in result.ks},
        }
        json_out.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
