"""The Typer application and its command groups; command modules attach to these.

Help is click's plain layout (``rich_markup_mode=None``): at 80 columns Rich's tables cut option help into
narrow columns and truncate; the plain layout wraps whole sentences and shows no ``<bool>`` types for flags.
"""

from __future__ import annotations

import typer
from typer import _click as click  # the click Typer carries (its commands are these classes)

_HELP = {"max_content_width": 100, "help_option_names": ["-h", "--help"]}

app = typer.Typer(
    name="mmir",
    help="Index photo and video collections and search them by keyword or by example.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
    context_settings=_HELP,
)
train_app = typer.Typer(
    help="Train classifiers, concept heads and metric-learned descriptors.",
    no_args_is_help=True,
    rich_markup_mode=None,
    context_settings=_HELP,
)
eval_app = typer.Typer(
    help="Evaluate classifiers and retrieval runs.", no_args_is_help=True, rich_markup_mode=None, context_settings=_HELP
)
app.add_typer(train_app, name="train")
app.add_typer(eval_app, name="eval")

_LONGEST_CHOICES = 60  # characters of "a|b|c" shown as the metavar; longer lists would overflow 80 columns
_PLAIN_TYPES = {"str": "TEXT", "int": "N", "int range": "N", "float": "NUMBER", "float range": "NUMBER"}


def readable_help(command: click.Command) -> None:
    """Give every value-taking parameter of ``command`` and its subcommands a plain metavar (``PATH``, ``N``,
    ``[a|b]``) instead of Typer's ``<int range>``-style type labels."""
    ctx = typer.Context(command)
    for param in command.params:
        if param.metavar is not None or getattr(param, "is_flag", False):
            continue
        label = param.display_type(ctx).strip("<>")  # type: ignore[attr-defined]
        if "|" in label and len(label) > _LONGEST_CHOICES:  # too wide for one line: the choices go in the help
            param.metavar = (param.name or "value").upper()
            shown = f"{getattr(param, 'help', None) or ''} One of: {label.replace('|', ', ')}.".strip()
            param.help = shown  # type: ignore[attr-defined]
        elif "|" in label:
            param.metavar = f"[{label}]"
        elif param.param_type_name == "argument":
            param.metavar = (param.name or label).upper()
            # Typer lists an argument as "NAME <type>" ignoring the metavar: the name alone reads better.
            param.display_type_rich = lambda ctx: None  # type: ignore[attr-defined]
        else:
            param.metavar = _PLAIN_TYPES.get(label, label.replace(",", " ").upper())
    for sub in getattr(command, "commands", {}).values():
        if sub.short_help is None and sub.help:  # whole first paragraph: click would cut it at ~45 characters
            sub.short_help = " ".join(sub.help.split("\n\n")[0].split())
        readable_help(sub)
