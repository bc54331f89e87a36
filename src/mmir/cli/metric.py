"""``mmir train metric`` and ``mmir eval retrieval``: thin commands over :mod:`mmir.learn.metric_workflow` and
:mod:`mmir.evaluate.trec`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mmir.cli.groups import eval_app, train_app
from mmir.cli.options import (
    MODEL,
    JsonOpt,
    MaybeCollectionOpt,
    MetricLossName,
    MinerName,
    ModelOpt,
    given,
    open_collection,
    refuse_renamed,
    require_with,
)
from mmir.errors import MmirError
from mmir.models.spec import Pooling

if TYPE_CHECKING:
    from mmir.learn import EpochStats


@train_app.command("metric")
def train_metric(
    ctx: typer.Context,
    groups: Annotated[Path, typer.Argument(help="A folder per identity/group, or a CSV of path,group rows.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory for the model entry.")] = Path("runs/metric"),
    loss: Annotated[MetricLossName, typer.Option(help="The metric-learning loss.")] = "triplet",
    miner: Annotated[MinerName, typer.Option(help="Pairs/triplets fed to the loss (hard: batch-hard).")] = "semihard",
    model: ModelOpt = MODEL,
    train_blocks: Annotated[
        int, typer.Option(min=0, help="Fine-tune this many last backbone blocks (bundled models) instead of a head.")
    ] = 0,
    alpha: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=1.0,
            help="With --train-blocks: weight of the fine-tuned tail averaged with the pretrained one (WiSE-FT).",
        ),
    ] = 0.5,
    pooling: Annotated[Pooling, typer.Option(help="Head mode's pooling (fine-tuning learns GeM).")] = Pooling.GEM,
    dim: Annotated[int, typer.Option(min=1, help="Output descriptor dimension (head mode).")] = 256,
    hidden: Annotated[int, typer.Option(min=0, help="Hidden width of the head (0 = linear head).")] = 0,
    margin: Annotated[float, typer.Option()] = 0.2,
    epochs: Annotated[int, typer.Option(min=1)] = 20,
    groups_per_batch: Annotated[int, typer.Option(min=2, help="Groups per batch (P of a P×K batch).")] = 8,
    per_group: Annotated[int, typer.Option(min=1, help="Images per group per batch (K of a P×K batch).")] = 4,
    old_p: Annotated[int | None, typer.Option("--p", hidden=True)] = None,
    old_k: Annotated[int | None, typer.Option("--k", hidden=True)] = None,
    lr: Annotated[float | None, typer.Option(help="Learning rate (default 1e-3 for a head, 1e-4 fine-tuning).")] = None,
    seed: Annotated[int, typer.Option()] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Learn a descriptor so that images of one group come close together: a projection head on frozen
    descriptors, or (--train-blocks N) the backbone's last N blocks."""
    from mmir.learn import MetricRun, metric_config, train_metric_model

    refuse_renamed(old_p, "--p", "--groups-per-batch")
    refuse_renamed(old_k, "--k", "--per-group")  # -k is a number of results everywhere
    require_with(bool(given(ctx, "alpha")) and train_blocks == 0, "--alpha", "--train-blocks N")
    head_only = given(ctx, "pooling", "dim", "hidden")
    require_with(bool(head_only) and train_blocks > 0, " ".join(head_only), "head mode (no --train-blocks)")
    rate = lr if lr is not None else (1e-4 if train_blocks > 0 else 1e-3)
    config = metric_config(
        loss, miner, margin=margin, epochs=epochs, p=groups_per_batch, k=per_group, lr=rate, seed=seed
    )

    def echo_epoch(stats: EpochStats) -> None:
        typer.echo(f"epoch {stats.epoch}: loss {stats.loss:.4f}, embedding variance {stats.embedding_variance:.3f}",
                   err=as_json)  # fmt: skip

    run = MetricRun(model, pooling.value, dim, hidden, train_blocks, alpha)
    trained = train_metric_model(groups, out, config, run, on_epoch=echo_epoch)
    if as_json:
        typer.echo(json.dumps({"model": str(trained.path), "images": trained.images, "groups": trained.groups,
                               **trained.history.as_dict()}, indent=1))  # fmt: skip
        return
    typer.echo(f"wrote {trained.path} ({trained.images} images, {trained.groups} groups); "
               f"index with: mmir index PHOTOS --model {out}")  # fmt: skip


def evaluate_collection(collection: Path, qrels: Path, run_out: Path | None, depth: int, quiet: bool) -> Path:
    """Query by example for every query image of ``qrels`` in ``collection``; write the TREC run, return its path.

    Query ids are image paths and document ids are indexed file paths, both absolute or relative to the
    qrels file's folder.
    """
    from mmir.evaluate.trec import qrels_query_files, read_qrels, run_with_qrels_ids, write_run

    judged = read_qrels(qrels)
    base = qrels.resolve().parent
    with open_collection(collection) as coll:
        run = coll.retrieval_run(qrels_query_files(judged, base), depth=depth)
    path = run_out or Path(f"{qrels.stem}.run.txt")
    write_run(path, run_with_qrels_ids(run, judged, base))
    typer.echo(f"wrote run {path}", err=quiet)
    return path


@eval_app.command("retrieval")
def eval_retrieval(
    ctx: typer.Context,
    qrels: Annotated[Path, typer.Option("--qrels", help="TREC qrels: query 0 doc relevance.")],
    run: Annotated[
        Path | None, typer.Option("--run", help="TREC run to evaluate: query Q0 doc rank score tag.")
    ] = None,
    collection: MaybeCollectionOpt = None,
    run_out: Annotated[Path | None, typer.Option("--run-out", help="Where --collection writes its run file.")] = None,
    k: Annotated[list[int] | None, typer.Option("-k", "--k", help="Cut-offs for P@k and R@k (repeatable).")] = None,
    depth: Annotated[int, typer.Option(min=1, help="Results per query searched with --collection.")] = 1000,
    per_query: Annotated[bool, typer.Option("--per-query", help="Also print each query's figures.")] = False,
    complete: Annotated[
        bool, typer.Option("--complete", help="Count judged queries missing from the run as 0.")
    ] = False,
    as_json: JsonOpt = False,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Also write the figures as JSON to this file.")
    ] = None,
) -> None:
    """Evaluate a TREC run against qrels: mAP, infAP, P@k, R@k (like trec_eval); or search a collection
    (-c) by example for the qrels' query images and evaluate that run."""
    from mmir.evaluate.trec import DEFAULT_KS, evaluate_run, read_qrels, read_run

    source = ctx.get_parameter_source("collection")
    if run is not None and source is not None and source.name == "ENVIRONMENT":
        collection = None  # MMIR_COLLECTION names the usual collection; a --run file is what to evaluate here
    if (run is None) == (collection is None):
        raise MmirError("give exactly one of --run (an existing run file) or -c/--collection (search to make one)")
    if collection is not None:
        run = evaluate_collection(collection, qrels, run_out, depth, as_json)
    elif run_out is not None:
        raise MmirError("--run-out needs -c/--collection (it names the run file the search writes)")
    assert run is not None
    result = evaluate_run(read_qrels(qrels), read_run(run), ks=sorted(set(k or DEFAULT_KS)), complete=complete)
    figures: dict[str, object] = {
        "queries": len(result.per_query),
        "map": result.mean_ap,
        "infAP": result.mean_infap,
        **{f"P@{c}": result.mean_precision(c) for c in result.ks},
        **{f"R@{c}": result.mean_recall(c) for c in result.ks},
    }
    if out is not None:
        out.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    if as_json:
        if per_query:
            figures["per_query"] = {
                query: {"AP": s.ap, "infAP": s.infap, "relevant": s.n_relevant,
                        **{f"P@{c}": s.precision[c] for c in result.ks}}
                for query, s in result.per_query.items()
            }  # fmt: skip
        typer.echo(json.dumps(figures, indent=1))
        return
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
