"""The search side of the CLI: turning options into one typed query for ``Collection.search`` and printing its
result (with the "nothing matches well" note)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mmir.api import TEXT_WEAK, TEXT_WEAK_CONFIDENCE, ItemQuery, Per, describe_scales, parse_item
from mmir.errors import MmirError
from mmir.media import display_path

if TYPE_CHECKING:
    from mmir.api import SearchResult
    from mmir.types import Hit

PerOpt = Annotated[
    Per, typer.Option("--per", help="Group results per file (its best shot) or per shot (video shots one by one).")
]

SCALES_HELP = "Scores (higher is better), one scale per query kind: " + "; ".join(describe_scales()) + (
    f". A keyword query whose words map to concepts with confidence below {TEXT_WEAK_CONFIDENCE}"
    + (f", or whose best score is below {TEXT_WEAK}," if TEXT_WEAK > 0 else "")
    + " prints 'nothing matches well' (chosen on validation queries)."
)


def print_result(result: SearchResult | Sequence[Hit], as_json: bool, print_hits: Callable[[list, bool], None]) -> None:
    """Print hits with ``print_hits``; when the result is weak, say so on stderr (stdout stays the hit list)."""
    hits = list(result)
    print_hits(hits, as_json)
    if hits and getattr(result, "weak", False):
        confidence = getattr(result, "confidence", 1.0)
        typer.echo(f"nothing matches well: best score {hits[0].score:.3f}, words mapped with confidence "
                   f"{confidence:.2f} (see --help for the scale)", err=True)  # fmt: skip


def listed_items(path: Path) -> list[ItemQuery]:
    """Items listed one a line in ``path``: indexed files, or shots as ``video.mp4@8.0`` (``#`` comments skipped)."""
    try:
        lines = path.read_text(encoding="utf-8", errors="surrogateescape").splitlines()
    except OSError as exc:
        raise MmirError(f"{display_path(path)}: cannot read the list ({exc.strerror})") from exc
    return [parse_item(line.strip()) for line in lines if line.strip() and not line.lstrip().startswith("#")]
