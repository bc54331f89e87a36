"""``mmir train classify`` and ``mmir eval classify``: thin commands over :mod:`mmir.learn.trainer`."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from mmir.cli.groups import eval_app, train_app


@train_app.command("classify")
def train_classify(
    data: Path = typer.Argument(..., help="Class folders, a multi-label CSV (path,label1;label2) or IDX files."),
    out: Path = typer.Option(Path("runs/classify"), "--out", help="Run folder (checkpoints, metrics, plots)."),
    arch: str = typer.Option("resnet-small", "--arch", help="lenet5 | alexnet-small | vgg-small | resnet-small"),
    from_: str = typer.Option("", "--from", help="Fine-tune a bundled backbone: efficientnet-lite0 | -lite2."),
    freeze: int = typer.Option(0, "--freeze", help="Backbone blocks to freeze when fine-tuning (-1: all)."),
    epochs: int = typer.Option(30, "--epochs"),
    batch_size: int = typer.Option(128, "--batch-size"),
    lr: float = typer.Option(0.1, "--lr", help="Base learning rate."),
    momentum: float = typer.Option(0.9, "--momentum", help="SGD momentum (0 = plain SGD)."),
    weight_decay: float = typer.Option(5e-4, "--weight-decay"),
    schedule: str = typer.Option("cosine", "--schedule", help="constant | step | cosine"),
    warmup: float = typer.Option(1.0, "--warmup", help="Warm-up epochs."),
    width: int = typer.Option(32, "--width", help="Channels of the first stage (small nets)."),
    dropout: float = typer.Option(0.1, "--dropout"),
    batch_norm: bool = typer.Option(True, "--batch-norm/--no-batch-norm"),
    augment: bool = typer.Option(True, "--augment/--no-augment", help="Random crop, flip and erasing."),
    loss: str = typer.Option("", "--loss", help="cross-entropy | bce | mse (default: by data)."),
    image_size: int = typer.Option(
        0, "--image-size", help="Resize folder/CSV images to this size (default 32, or 224 with --from)."
    ),
    grey: bool = typer.Option(False, "--grey", help="Decode folder/CSV images as one grey channel."),
    val: float = typer.Option(0.1, "--val", help="Share of the data held out for validation."),
    seed: int = typer.Option(0, "--seed"),
    threads: int = typer.Option(1, "--threads", help="Torch CPU threads."),
    resume: bool = typer.Option(True, "--resume/--no-resume", help="Continue from OUT/last.pt if present."),
) -> None:
    """Train a classifier (from scratch, or fine-tune EfficientNet-Lite with --from)."""
    from mmir.learn.datasets import load_labelled_images
    from mmir.learn.recipe import ClassificationLoss, RecipeError, Schedule, TrainConfig
    from mmir.learn.trainer import train_classifier
    from mmir.models.convnets import Arch

    name = from_ or arch
    try:
        arch_enum, schedule_enum = Arch(name), Schedule(schedule)
        loss_enum = ClassificationLoss(loss) if loss else None
    except ValueError as exc:
        raise RecipeError(str(exc)) from exc
    channels = 1 if grey else 3
    image_size = image_size or (224 if from_ else 32)
    dataset = load_labelled_images(data, split="train", size=image_size, channels=channels)
    if loss_enum is None:
        loss_enum = ClassificationLoss.BCE if dataset.multi_label else ClassificationLoss.CROSS_ENTROPY
    cfg = TrainConfig(
        arch=arch_enum,
        width=width,
        batch_norm=batch_norm,
        dropout=dropout,
        freeze=freeze,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        momentum=momentum,
        nesterov=momentum > 0,
        weight_decay=weight_decay,
        schedule=schedule_enum,
        warmup_epochs=warmup,
        crop_padding=max(1, image_size // 16) if augment else 0,
        flip=augment,
        erasing=0.25 if augment else 0.0,
        loss=loss_enum,
        validation_fraction=val,
        image_size=image_size,
        seed=seed,
        threads=threads,
    )
    typer.echo(f"{len(dataset)} examples, {len(dataset.class_names)} classes from {data}; run folder {out}")
    result = train_classifier(dataset, cfg, out, resume=resume)
    best = result.history[result.best_epoch - 1] if result.best_epoch > 0 else result.history[-1]
    if val > 0:
        typer.echo(f"best epoch {result.best_epoch}: validation error {best['val_error']:.4f}")
    else:
        typer.echo(f"no validation split; best.pt is the epoch with the lowest training loss ({result.best_epoch})")
    typer.echo(f"wrote {out / 'best.pt'}, {out / 'last.pt'}, metrics.json, curves.png, config.json")


@eval_app.command("classify")
def eval_classify(
    checkpoint: Path = typer.Argument(..., help="A checkpoint from mmir train classify (best.pt or last.pt)."),
    data: Path = typer.Argument(..., help="Test data in the training format (folders, CSV or IDX)."),
    confusion_png: Path | None = typer.Option(None, "--confusion-png", help="Also draw the confusion matrix."),
    as_json: bool = typer.Option(False, "--json", help="Print the figures as JSON."),
) -> None:
    """Top-1/top-5 error, per-class accuracy and confusion matrix (or mAP for multi-label) on test data."""
    from mmir.learn.evaluation import evaluate_checkpoint

    report = evaluate_checkpoint(checkpoint, data, confusion_png=confusion_png)
    typer.echo(json.dumps(report.to_json(), indent=2) if as_json else report.format())
