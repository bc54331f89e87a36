"""``mmir search | similar | info | concepts | duplicates``: thin commands over :class:`mmir.api.Collection`."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mmir.api import (
    ChannelQuery,
    ExampleQuery,
    FeedbackMethod,
    FeedbackQuery,
    FieldQuery,
    Fusion,
    Hit,
    Per,
    QueryMode,
    SearchFilter,
    SpatialConfig,
    TextField,
    TextQuery,
    parse_item,
    parse_weights,
)
from mmir.cli import indexing  # noqa: F401  (registers `mmir index` first, as the help lists it)
from mmir.cli.filtering import AfterOpt, BeforeOpt, KindOpt, NameOpt, UnderOpt, search_filter
from mmir.cli.groups import app
from mmir.cli.options import (
    COLLECTION,
    ChannelName,
    CollectionOpt,
    JsonOpt,
    K,
    OldDescriptorOpt,
    TopK,
    given,
    open_collection,
    refuse_renamed,
    require_with,
)
from mmir.cli.searching import SCALES_HELP, PerOpt, listed_items, print_result
from mmir.cli.text import TEXT_MODEL, TextModelOpt  # importing it also registers `mmir train words`
from mmir.errors import MmirError
from mmir.media import display_path, read_file

if TYPE_CHECKING:
    from mmir.api import SearchResult

WITHIN_S = 30.0  # --within's default: largest gap between the two shots of a temporal query


def hit_to_dict(rank: int, hit: Hit) -> dict[str, object]:
    """A JSON-ready view of one hit."""
    return {
        "rank": rank,
        "path": display_path(hit.media.path),
        "score": round(hit.score, 6),
        "why": list(hit.why),
        "media_id": hit.media.id,
        "segment_id": hit.segment.id,
        "kind": hit.media.kind.value,
        "start_s": hit.segment.start_s,
        "end_s": hit.segment.end_s,
        **_time_range(hit),
    }


def _time_range(hit: Hit) -> dict[str, float | None]:
    """``start``/``end``/``keyframe`` seconds of a video shot; ``None`` for photos."""
    video = hit.media.kind.value == "video"
    return {
        "start": round(hit.segment.start_s, 3) if video else None,
        "end": round(hit.segment.end_s, 3) if video else None,
        "keyframe": round(hit.segment.keyframe_s, 3) if video else None,
    }


def print_hits(hits: list[Hit], as_json: bool) -> None:
    """Print ranked hits as lines (rank, score, path, why) or as JSON."""
    if as_json:
        typer.echo(json.dumps([hit_to_dict(rank, hit) for rank, hit in enumerate(hits, 1)], indent=1))
        return
    if not hits:
        typer.echo("no results")
    for rank, hit in enumerate(hits, 1):
        why = "; ".join(hit.why)
        span = f" @ {hit.segment.start_s:.2f}-{hit.segment.end_s:.2f} s" if hit.media.kind.value == "video" else ""
        typer.echo(f"{rank:3d}  {hit.score:.4f}  {display_path(hit.media.path)}{span}  [{why}]")


# A query may start with "-" ("-dog"): unknown options are then read as the query, not refused (`--` works too).
QUERY_SETTINGS = {"ignore_unknown_options": True}


@app.command(context_settings=QUERY_SETTINGS, epilog=SCALES_HELP)
def search(
    query: Annotated[
        str | None, typer.Argument(help="Keywords, e.g. 'dog on a beach' (one starting with '-': mmir search -- -dog).")
    ] = None,
    image: Annotated[Path | None, typer.Option("--image", "-i", help="Query by example with this image.")] = None,
    mode: Annotated[QueryMode, typer.Option(help="and: all words must match; or: any word.")] = QueryMode.AND,
    collection: CollectionOpt = COLLECTION,
    k: TopK = K,
    as_json: JsonOpt = False,
    feedback: Annotated[
        tuple[Path, Path] | None,
        typer.Option(help="Relevance feedback: GOOD BAD, two files listing indexed paths or shots (video.mp4@8.0), "
                     "one a line, marked relevant / not relevant; re-ranks the collection from them."),
    ] = None,
    per: PerOpt = Per.FILE,
    feedback_method: Annotated[
        FeedbackMethod | None, typer.Option(help="With --feedback: how marks re-rank (default: a linear classifier).")
    ] = None,
    then: Annotated[
        str | None, typer.Option(help="Temporal query: a later shot of the same video matching these keywords.")
    ] = None,
    then_image: Annotated[Path | None, typer.Option(help="Temporal query: a later shot like this image.")] = None,
    within: Annotated[
        float | None, typer.Option(min=0.0, help=f"With --then: largest gap between the shots, seconds ({WITHIN_S:g}).")
    ] = None,
    channel: Annotated[
        ChannelName,
        typer.Option(help="With --image: the descriptor channel searched (stored with index --descriptors), or fused."),
    ] = "cnn",
    old_descriptor: OldDescriptorOpt = None,
    fusion: Annotated[
        Fusion | None, typer.Option(help="With --channel fused: late (z-scored scores, default) or early.")
    ] = None,
    fusion_weights: Annotated[
        str | None,
        typer.Option(
            help="With --channel fused: e.g. cnn=1,colour=0.5 (defaults chosen on validation: late cnn 1, "
            "lbp 0.25, hog 0.125; early cnn 1, colour 0.125, lbp 1, hog 0.25; weight 0 = not searched)."
        ),
    ] = None,
    spatial: Annotated[
        bool, typer.Option(
            help="With --image: verify the top 20 hits by local-feature matching, 20 more at a time up to 50 "
            "while none matches (finds crops; ~1-2 s)."
        )
    ] = False,
    text_model: TextModelOpt = TEXT_MODEL,
    said: Annotated[
        str | None, typer.Option(help="Only speech in videos: videos (shots with --per shot) where this is said.")
    ] = None,
    shows: Annotated[
        str | None,
        typer.Option(help="Only visible text: files (shots with --per shot) showing this phrase (OCR; near misses "
                     "match)."),
    ] = None,
    kind: KindOpt = None,
    under: UnderOpt = None,
    after: AfterOpt = None,
    before: BeforeOpt = None,
    name: NameOpt = None,
) -> None:
    """Search by keywords (through concepts) or by an example image; or re-rank from marked files (--feedback).

    Always k distinct files (--per file, the default) or k shots (--per shot), fewer only when fewer match.
    """
    refuse_renamed(old_descriptor, "--descriptor", "--channel")
    _check_one_query(query, image, feedback is not None, said is not None or shows is not None, feedback_method)
    _check_search_flags(query, image, then is not None or then_image is not None, within, channel, fusion,
                        fusion_weights, spatial)  # fmt: skip
    flt = search_filter(kind, under, after, before, name)  # --kind/--under/--after/--before/--name (one line if bad)
    if said is not None or shows is not None:
        _search_fields(collection, said, shows, k, per, as_json, flt)
        return
    if feedback is not None:
        method = feedback_method or FeedbackMethod.CLASSIFIER
        marks = FeedbackQuery(tuple(listed_items(feedback[0])), tuple(listed_items(feedback[1])), method)
        with open_collection(collection) as coll:
            print_result(coll.search(marks, k, per, filter=flt), as_json, print_hits)
        return
    if (query is None) == (image is None):
        raise MmirError("give either keywords or --image FILE")
    if then is not None or then_image is not None:
        from mmir.cli.video import run_temporal

        gap = WITHIN_S if within is None else within
        run_temporal(collection, (query, image, mode), (then, then_image, mode), gap, k, as_json, flt)
        return
    if image is not None and channel != "cnn":
        example = ExampleQuery(read_file(image), str(image))
        weights = parse_weights(fusion_weights or "")
        searched = ChannelQuery(example, channel, weights, fusion or Fusion.LATE)
        with open_collection(collection) as coll:
            print_result(coll.search(searched, k, per, filter=flt), as_json, print_hits)
        return
    with open_collection(collection) as coll:
        if query is not None:
            coll.use_text_model(text_model)
            hits = _text_hits(coll, query, k, mode, per, flt)
        elif image is not None:
            example = ExampleQuery(read_file(image), str(image))
            hits = coll.search(example, k, per, spatial=SpatialConfig() if spatial else None, filter=flt)
    print_result(hits, as_json, print_hits)


def _check_one_query(
    query: str | None, image: Path | None, feedback: bool, fields: bool, method: FeedbackMethod | None
) -> None:
    """One kind of query per search: the others used to be silently dropped (--said won over keywords)."""
    given = [name for name, present in (("keywords or --image", query is not None or image is not None),
                                         ("--feedback", feedback), ("--said/--shows", fields)) if present]  # fmt: skip
    if len(given) > 1:
        raise MmirError(f"give one query: {' or '.join(given)}, not both")
    require_with(method is not None and not feedback, "--feedback-method", "--feedback GOOD BAD")


def _check_search_flags(
    query: str | None, image: Path | None, temporal: bool, within: float | None, channel: str,
    fusion: Fusion | None, fusion_weights: str | None, spatial: bool,
) -> None:  # fmt: skip
    """Refuse options that would be silently ignored: each needs another option or an example-image query."""
    require_with(within is not None and not temporal, "--within", "--then or --then-image")
    require_with(temporal and query is None and image is None, "--then", "a first query (keywords or --image)")
    by_image = image is not None and query is None
    require_with(channel != "cnn" and not by_image, f"--channel {channel}", "an example image (--image FILE)")
    require_with(spatial and not by_image, "--spatial", "an example image (--image FILE)")
    require_with(spatial and channel != "cnn", "--spatial", "the cnn channel (drop --channel)")
    require_with(temporal and (spatial or channel != "cnn"), "--then", "a plain query (no --spatial or --channel)")
    require_with(fusion is not None and channel != "fused", "--fusion", "--channel fused")
    require_with(fusion_weights is not None and channel != "fused", "--fusion-weights", "--channel fused")
    if fusion_weights is not None:
        parse_weights(fusion_weights)  # a misspelled channel fails before the collection is opened


def _search_fields(
    collection: Path, said: str | None, shows: str | None, k: int, per: Per, as_json: bool, flt: SearchFilter | None
) -> None:
    """``--said`` / ``--shows``: search only the speech / only the visible text (one of them), per file or shot."""
    if said is not None and shows is not None:
        raise MmirError("give --said or --shows, not both")
    field, phrase = (TextField.SAID, said) if said is not None else (TextField.SHOWS, shows or "")
    query = FieldQuery(phrase, (field,))
    with open_collection(collection) as coll:
        print_result(coll.search(query, k, per, filter=flt), as_json, print_hits)


def _text_hits(
    coll, query: str, k: int, mode: QueryMode, per: Per = Per.FILE, flt: SearchFilter | None = None
) -> SearchResult | list[Hit]:
    """Keyword hits, with the mapping's notes on stderr; a query nothing can match gives no hits, not an error.

    Only stop-words, symbols or emoji, or words in no concept and no file's text: the search says so (exit 0).
    """
    from mmir.errors import QueryError

    mapping = coll.map_query(query, mode)  # cached: search_text finds it mapped
    for note in mapping.notes:
        typer.echo(f"note: {note}", err=True)
    try:
        return coll.search(TextQuery(query, mode), k, per, filter=flt)
    except QueryError as exc:
        if mapping.matched_terms:
            raise
        reason = str(exc) if mapping.terms else f"{query!r} has no letters or digits to search for"
        typer.echo(f"nothing matches: {reason}", err=True)
        return []


@app.command()
def similar(
    item: Annotated[str, typer.Argument(help="An indexed file, or one shot of a video: video.mp4@8.0 (at 8 s).")],
    collection: CollectionOpt = COLLECTION,
    k: TopK = K,
    as_json: JsonOpt = False,
    per: PerOpt = Per.FILE,
    kind: KindOpt = None,
    under: UnderOpt = None,
    after: AfterOpt = None,
    before: BeforeOpt = None,
    name: NameOpt = None,
) -> None:
    """Files (or shots) similar to an indexed file or to one shot of a video; the item itself is left out."""
    flt = search_filter(kind, under, after, before, name)
    with open_collection(collection) as coll:
        print_result(coll.search(parse_item(item), k, per, filter=flt), as_json, print_hits)


@app.command()
def info(collection: CollectionOpt = COLLECTION, as_json: JsonOpt = False) -> None:
    """What is indexed: counts, model, concepts, sizes."""
    with open_collection(collection) as coll:
        details = asdict(coll.info())
    if as_json:
        typer.echo(json.dumps(details, indent=1))
        return
    width = max(len(key) for key in details)
    for key, value in details.items():
        if key == "producers":
            typer.echo(f"{key:>{width}}:" + ("" if value else " none recorded"))
            for line in value:
                typer.echo(f"{'':>{width}}  {line}")
            continue
        typer.echo(f"{key:>{width}}: {value}")


@app.command(context_settings=QUERY_SETTINGS)
def concepts(
    query: Annotated[str, typer.Argument(help="Keywords to map.")],
    mode: Annotated[QueryMode, typer.Option(help="and / or")] = QueryMode.AND,
    collection: CollectionOpt = COLLECTION,
    k: TopK = K,
    per_word: Annotated[int, typer.Option(min=1, help="Concepts shown under each word.")] = 8,
    as_json: JsonOpt = False,
    text_model: TextModelOpt = TEXT_MODEL,
) -> None:
    """Show how a query maps to weighted concepts: the k strongest overall, then each word's."""
    from mmir.cli.text import describe_mapping, ranked_concepts

    with open_collection(collection) as coll:
        coll.use_text_model(text_model)
        mapping = coll.map_query(query, mode)
    ranked = ranked_concepts(mapping, k)
    if as_json:
        top = [{"concept": name, "weight": round(weight, 6)} for name, weight in ranked]
        typer.echo(json.dumps(asdict(mapping) | {"top": top}, indent=1, default=str))
        return
    typer.echo(f"top {len(ranked)} concepts (importance × weight, summed over words):")
    for name, weight in ranked:
        typer.echo(f"  {weight:.3f}  {name}")
    for line in describe_mapping(mapping, per_word):
        typer.echo(line)
    for note in mapping.notes:
        typer.echo(f"note: {note}")
    typer.echo(f"text model (words no WordNet lemma places, phrases, sentences): {text_model}")
    typer.echo(SCALES_HELP)


@app.command()
def duplicates(
    ctx: typer.Context,
    collection: CollectionOpt = COLLECTION,
    threshold: Annotated[
        float, typer.Option(min=-1.0, max=1.0, help="Cosine similarity from which files are near-duplicates.")
    ] = 0.9,
    as_json: JsonOpt = False,
    spatial: Annotated[
        bool, typer.Option(help="Also link pairs whose local features match geometrically (crops; decodes files).")
    ] = False,
    loose: Annotated[
        float, typer.Option(min=-1.0, max=1.0, help="With --spatial: cosine similarity from which pairs are verified.")
    ] = 0.5,
) -> None:
    """Groups of near-duplicate files in the collection."""
    require_with(bool(given(ctx, "loose")) and not spatial, "--loose", "--spatial")
    with open_collection(collection) as coll:
        groups = coll.near_duplicates(threshold, SpatialConfig() if spatial else None, loose)
    if as_json:
        typer.echo(json.dumps([[display_path(ref.path) for ref in group] for group in groups], indent=1))
        return
    if not groups:
        typer.echo(f"no near-duplicates at threshold {threshold}")
    for number, group in enumerate(groups, 1):
        typer.echo(f"group {number} ({len(group)} files):")
        for ref in group:
            typer.echo(f"    {display_path(ref.path)}")


# The commands of these modules use the helpers above; importing them here registers them with `app`.
from mmir.cli import serve, weak  # noqa: E402, F401
