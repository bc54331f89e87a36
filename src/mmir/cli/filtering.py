"""The search filters on the command line: ``--kind``, ``--under``, ``--after``, ``--before``, ``--name``.

``mmir search`` and ``mmir similar`` take them and pass one :class:`~mmir.api.SearchFilter` to
``Collection.search``, which applies it before grouping (``-k 10`` still gives 10 files when it is selective).
A bad value is one line and exit status 2 (``mmir: error: kind must be photo or video, not 'tree'``): the values
are read by :meth:`SearchFilter.parse`, not by Typer, whose refusals print a usage block.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from mmir.api import SearchFilter

PANEL = "Filters"
KindOpt = Annotated[
    str | None,
    typer.Option("--kind", metavar="photo|video", help="Only photos, or only videos.", rich_help_panel=PANEL),
]
UnderOpt = Annotated[
    str | None,
    typer.Option(
        "--under", metavar="DIR", rich_help_panel=PANEL,
        help="Only files in this folder: a folder on disk, or folder names inside the collection (holiday/2024).",
    ),
]  # fmt: skip
AfterOpt = Annotated[
    str | None,
    typer.Option(
        "--after", metavar="DATE", rich_help_panel=PANEL,
        help="Only photos taken (EXIF date, else files modified) on or after DATE: YYYY, YYYY-MM, YYYY-MM-DD or "
        "YYYY-MM-DDTHH:MM (local time).",
    ),
]  # fmt: skip
BeforeOpt = Annotated[
    str | None,
    typer.Option(
        "--before", metavar="DATE", rich_help_panel=PANEL,
        help="Only photos taken (EXIF date, else files modified) on or before DATE (a day, month or year counts "
        "whole).",
    ),
]  # fmt: skip
NameOpt = Annotated[
    str | None,
    typer.Option(
        "--name", metavar="GLOB", rich_help_panel=PANEL,
        help="Only files whose name matches GLOB, e.g. '*cat*' or 'IMG_2*' (case ignored).",
    ),
]  # fmt: skip


def search_filter(
    kind: str | None = None, under: str | None = None, after: str | None = None, before: str | None = None,
    name: str | None = None,
) -> SearchFilter | None:  # fmt: skip
    """The filter the options describe (``None`` when none is given).

    A relative ``--under`` that names a folder on disk (from the current directory) means that folder; otherwise
    it is matched as folder names inside the collection.

    Raises:
        QueryError: a bad value, in one line.
    """
    if under and not os.path.isabs(under) and Path(under).is_dir():
        under = os.path.abspath(under)
    parsed = SearchFilter.parse(kind=kind, under=under, after=after, before=before, name=name)
    return parsed if parsed.active else None
