"""Text-query helpers for the CLI: how ``mmir concepts`` explains a query's mapping and its scoring."""

from __future__ import annotations

from mmir.concepts import QueryMapping, QueryMode
from mmir.concepts.mapping import WEAK_SIMILARITY

_SCORING = {
    QueryMode.AND: (
        "score = soft AND: importance-weighted geometric mean over terms of max(s_t, 0.001), where "
        "s_t = 1 - (1 - Σ_c w_c·p_c)(1 - 0.9·m_t), p_c = the photo's concept probability, "
        "m_t = the term's BM25 on the file's names/metadata/sidecars relative to the best match; "
        "a term absent from a photo lowers its score instead of zeroing it"
    ),
    QueryMode.OR: "score = weighted noisy-OR over terms: 1 - Π_t (1 - s_t)^(a_t·T), s_t as for AND",
}


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
