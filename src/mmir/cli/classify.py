"""``mmir train classify`` and ``mmir eval classify``: thin commands over :mod:`mmir.learn.trainer`."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from mmir.cli.groups import eval_app, train_app
from mmir.cli.options import ArchName, BackboneName, ClassificationLossName, JsonOpt, ScheduleName, require_with


@train_app.command("classify")
def train_classify(
    data: Path = typer.Argument(..., help="Class folders, a multi-label CSV (path,label1;label2) or IDX files."),
    out: Path = typer.Option(Path("runs/classify"), "--out", "-o", help="Run folder (checkpoints, metrics, plots)."),
    arch: ArchName = typer.Option("resnet-small", "--arch", help="A small net trained from scratch."),
    from_: BackboneName | None = typer.Option(None, "--from", help="Fine-tune a bundled backbone instead."),
    freeze: int = typer.Option(0, "--freeze", help="Backbone blocks to freeze when fine-tuning (-1: all)."),
    epochs: int = typer.Option(30, "--epochs"),
    batch_size: int = typer.Option(128, "--batch-size"),
    lr: float = typer.Option(0.1, "--lr", help="Base learning rate."),
    momentum: float = typer.Option(0.9, "--momentum", help="SGD momentum (0 = plain SGD)."),
    weight_decay: float = typer.Option(5e-4, "--weight-decay"),
    schedule: ScheduleName = typer.Option("cosine", "--schedule", help="Learning-rate schedule after warm-up."),
    warmup: float = typer.Option(1.0, "--warmup", help="Warm-up epochs."),
    width: int = typer.Option(32, "--width", help="Channels of the first stage (small nets)."),
    dropout: float = typer.Option(0.1, "--dropout"),
    batch_norm: bool = typer.Option(True, "--batch-norm/--no-batch-norm"),
    augment: bool = typer.Option(True, "--augment/--no-augment", help="Random crop, flip and erasing."),
    erasing: float | None = typer.Option(
        None, "--erasing", min=0.0, max=1.0, help="Random-erasing probability per image (default 0.25)."
    ),
    label_smoothing: float = typer.Option(
        0.0, "--label-smoothing", min=0.0, max=0.999, help="Label smoothing of the cross-entropy loss (0: none)."
    ),
    loss: ClassificationLossName | None = typer.Option(None, "--loss", help="Default: by data (bce if multi-label)."),
    image_size: int = typer.Option(
        0, "--image-size", help="Resize folder/CSV images to this size (default 32, or 224 with --from)."
    ),
    grey: bool = typer.Option(False, "--grey", help="Decode folder/CSV images as one grey channel."),
    val: float = typer.Option(0.1, "--val", help="Share of the data held out for validation."),
    seed: int = typer.Option(0, "--seed"),
    threads: int = typer.Option(1, "--threads", help="Torch CPU threads."),
    resume: bool = typer.Option(True, "--resume/--no-resume", help="Continue from OUT/last.pt if present."),
    as_json: JsonOpt = False,
) -> None:
    """Train a classifier (from scratch, or fine-tune EfficientNet-Lite with --from)."""
    from mmir.learn import (
        ClassificationLoss,
        RecipeError,
        Schedule,
        TrainConfig,
        load_labelled_images,
        train_classifier,
    )
    from mmir.models.convnets import Arch

    require_with(freeze != 0 and from_ is None, "--freeze", "--from BACKBONE")
    name = from_ or arch
    try:
        arch_enum, schedule_enum = Arch(name), Schedule(schedule)
        loss_enum = ClassificationLoss(loss) if loss is not None else None
    except ValueError as exc:
        raise RecipeError(str(exc)) from exc
    if erasing is not None and not augment:
        raise RecipeError("--erasing needs augmentation; drop --no-augment or --erasing")
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
        erasing=(0.25 if erasing is None else erasing) if augment else 0.0,
        loss=loss_enum,
        label_smoothing=label_smoothing,
        validation_fraction=val,
        image_size=image_size,
        seed=seed,
        threads=threads,
    )
    classes = len(dataset.class_names)
    typer.echo(f"{len(dataset)} examples, {classes} classes from {data}; run folder {out}", err=as_json)
    result = train_classifier(dataset, cfg, out, resume=resume)
    best = result.history[result.best_epoch - 1] if result.best_epoch > 0 else result.history[-1]
    if as_json:
        typer.echo(json.dumps({"out": str(out), "best_epoch": result.best_epoch, "best": best}, indent=1, default=str))
        return
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
    as_json: JsonOpt = False,
) -> None:
    """Top-1/top-5 error, per-class accuracy and confusion matrix (or mAP for multi-label) on test data."""
    from mmir.learn import evaluate_checkpoint

    report = evaluate_checkpoint(checkpoint, data, confusion_png=confusion_png)
    typer.echo(json.dumps(report.to_json(), indent=2) if as_json else report.format())
