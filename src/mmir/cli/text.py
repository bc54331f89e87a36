"""CLI text helpers: the ``--text-model`` option, how ``mmir concepts`` explains a query, ``train words``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from mmir.cli.groups import train_app
from mmir.cli.options import JsonOpt
from mmir.concepts import QueryMapping, QueryMode
from mmir.concepts.mapping import WEAK_SIMILARITY

TEXT_MODEL = "minilm"  # the default word → concept mapper (TextModelKind.MINILM)
TextModelOpt = Annotated[
    str, typer.Option(help="Word → concept mapper: minilm, glove, or w2v:DIR (from `mmir train words`).")
]

_SCORING = {
    QueryMode.AND: (
        "score = soft AND: importance-weighted geometric mean over terms of (s_t + 0.001), where "
        "s_t = 1 - (1 - Σ_c w_c·p_c)(1 - 0.9·m_t), p_c = the photo's concept probability, "
        "m_t = the term's BM25 on the file's names/metadata/sidecars relative to the best match; "
        "a term absent from a photo lowers its score instead of zeroing it"
    ),
    QueryMode.OR: "score = weighted noisy-OR over terms: 1 - Π_t (1 - s_t)^(a_t·T), s_t as for AND",
}


def ranked_concepts(mapping: QueryMapping, k: int) -> list[tuple[str, float]]:
    """The ``k`` concepts of ``mapping`` with the largest ``Σ_terms importance · weight``, strongest first."""
    totals: dict[str, float] = {}
    for term in mapping.terms:
        for concept in term.concepts:
            totals[concept.name] = totals.get(concept.name, 0.0) + term.importance * concept.weight
    return sorted(totals.items(), key=lambda item: (-item[1], item[0]))[:k]


def describe_mapping(mapping: QueryMapping, top: int = 8) -> list[str]:
    """Lines explaining each term (source, importance, text-model similarity, concepts) and the scoring rule."""
    lines = [f"query: {mapping.text!r} ({mapping.mode.value})"]
    for term in mapping.terms:
        source = term.source.value if term.source else "no concept (file text only)"
        detail = f"importance {term.importance:.2f}"
        if term.similarity is not None:
            quality = "weak match" if term.weak else "match"
            detail += f", text-model similarity {term.similarity:.2f} ({quality}; weak below {WEAK_SIMILARITY})"
        lines.append(f"  {term.term!r}: {len(term.concepts)} concepts via {source}; {detail}")
        lines += [f"      {c.weight:.3f}  {c.name}" for c in sorted(term.concepts, key=lambda c: -c.weight)[:top]]
    lines.append(
        "importance = confidence (lemma 1, hypernym 0.6, text model by similarity) × (0.5 + 0.5·IDF of the word "
        "over the 1000 class glosses); stop-words are dropped"
    )
    lines.append(_SCORING[mapping.mode])
    return lines


@train_app.command("words")
def train_words(
    corpus: Annotated[Path, typer.Argument(help="Text file, one sentence a line.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the vectors (use as --text-model w2v:OUT).")],
    dim: Annotated[int, typer.Option(min=2, help="Vector size.")] = 100,
    window: Annotated[int, typer.Option(min=1, help="Context words each side.")] = 5,
    negative: Annotated[int, typer.Option(min=1, help="Negative samples per pair.")] = 5,
    min_count: Annotated[int, typer.Option(min=1, help="Drop words seen fewer times.")] = 2,
    epochs: Annotated[int, typer.Option(min=1, help="Passes over the corpus (small corpora need more).")] = 20,
    seed: Annotated[int, typer.Option()] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Train word2vec (skip-gram, negative sampling; gensim) on a corpus, for `--text-model w2v:OUT`."""
    from mmir.learn import Word2VecConfig, train_word2vec_file

    config = Word2VecConfig(dim=dim, window=window, negative=negative, min_count=min_count, epochs=epochs, seed=seed)
    result = train_word2vec_file(corpus, out, config)
    if as_json:
        typer.echo(json.dumps({"words": result.words, "sentences": result.sentences, "tokens": result.tokens,
                               "seconds": result.seconds, "out": str(out)}))  # fmt: skip
        return
    typer.echo(
        f"{result.words} words from {result.sentences} sentences ({result.tokens} tokens) in {result.seconds:.1f} s "
        f"-> {out} (use --text-model w2v:{out})"
    )
