"""The Typer application and its command groups; command modules attach to these."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="mmir",
    help="Index photo and video collections and search them by keyword or by example.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
train_app = typer.Typer(help="Train classifiers, concept heads and metric-learned descriptors.", no_args_is_help=True)
eval_app = typer.Typer(help="Evaluate classifiers and retrieval runs.", no_args_is_help=True)
app.add_typer(train_app, name="train")
app.add_typer(eval_app, name="eval")
