"""Category keyword search: how a category word's concepts are weighed and aggregated, chosen on a validation split.

Queries are COCO-mini's 80 instance categories over its 159 annotated photos (AP per category, relevant = the
photo has an instance) and CIFAR-10's 10 class names over ``--cifar-per-class`` test images per class. The COCO
categories are split in two by their sorted order: even positions are the **validation** half (settings are
chosen on it and on CIFAR-10, nothing else), odd positions the **test** half, reported beside it; "all 80" is the
issue's figure. Every row ranks with the product's own mapping (``ConceptVocabulary.map_query``) and scoring
(:func:`mmir.search.text_fusion.fuse`), changing one thing:

- R1 aggregation of a term's concepts: ``max`` or noisy-OR instead of the sum of probabilities;
- R2 calibration by the collection's prior of each concept, ``p / prior^α`` (a concept firing everywhere counts less);
- R3 a lemma's nearest classes by text similarity added (weight ``β × similarity``);
- R4 classes borrowed from a hypernym scaled by ``γ`` (the text model's near classes kept);
- R5 pseudo-relevance feedback in concept space: the concepts most enriched in the top ``m`` items
  (lift over the collection mean) added as a second evidence, blended with weight ``λ``;
- R6 tempered probabilities ``p^τ`` renormalised per item (a softmax temperature ``1/τ`` on the concept logits:
  small objects' classes gain against the dominant one); R7 the same without renormalising;
- R8 GloVe context classes (co-occurrence neighbours of the word, ``top`` of them at ``λ × similarity``);
- ORACLE: per category, the best single class or best 3-class sum chosen *on the test photos themselves* — an
  upper bound of what any word → class mapping could reach with today's probabilities, not a result.

Ties are counted pessimistically (issue 18: a relevant photo tied with others is ranked after them). The rows
rescore the stored concept matrix with formula variants; the product row itself is measured through
``Collection.search`` by ``benchmarks/keyword_search.py`` (row 6) and ``benchmarks/one_search_latency.py``.

    .venv/bin/python benchmarks/keyword_categories.py [--cifar-per-class 30] [--work /tmp/mmir-keyword-bench]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from keyword_search import SHARED, _cifar_files, _collection, coco_collection
from mmir.concepts import ConceptVocabulary, MatchSource, QueryMapping
from mmir.concepts.mapping import ConceptWeight
from mmir.search.concept_scoring import combine_terms, term_weights
from mmir.search.text_fusion import fuse
from product_search import concept_matrix, pessimistic_ap

Score = Callable[[QueryMapping, np.ndarray], np.ndarray]
Transform = Callable[[QueryMapping, ConceptVocabulary], QueryMapping]


@dataclass(frozen=True)
class Task:
    """Queries with their mappings over one collection's probabilities ``float32[N, C]`` and relevance."""

    queries: list[str]
    mappings: dict[str, QueryMapping]
    probs: np.ndarray
    truth: dict[str, np.ndarray]
    vocabulary: ConceptVocabulary


def today(mapping: QueryMapping, probs: np.ndarray) -> np.ndarray:
    return fuse(mapping, probs).scores


def aggregated(how: str) -> Score:
    def score(mapping: QueryMapping, probs: np.ndarray) -> np.ndarray:
        terms = mapping.matched_terms
        if not terms:
            return np.zeros(len(probs))
        weights = term_weights(terms, probs.shape[1])
        if how == "max":
            per = np.stack([(probs * w).max(axis=1) for w in weights], axis=1)
        else:  # noisy-OR over the term's concepts
            per = 1 - np.exp(np.log1p(-np.clip(probs[:, None, :] * weights[None], 0, 0.999999)).sum(-1))
        return combine_terms(np.clip(per, 0, 1), np.array([t.importance for t in terms]), mapping.mode)

    return score


def calibrated(alpha: float) -> Score:
    def score(mapping: QueryMapping, probs: np.ndarray) -> np.ndarray:
        terms = mapping.matched_terms
        if not terms:
            return np.zeros(len(probs))
        per = (probs / np.power(probs.mean(axis=0) + 1e-6, alpha)) @ term_weights(terms, probs.shape[1]).T
        per = np.clip(per / (per.max(axis=0, keepdims=True) + 1e-12), 0, 1)
        return combine_terms(per, np.array([t.importance for t in terms]), mapping.mode)

    return score


def tempered(tau: float, renormalise: bool = True) -> Score:
    def score(mapping: QueryMapping, probs: np.ndarray) -> np.ndarray:
        powered = np.power(np.clip(probs, 0, 1), tau)
        return fuse(mapping, powered / powered.sum(axis=1, keepdims=True) if renormalise else powered).scores

    return score


def feedback(top: int, extra: int, lam: float) -> Score:
    def score(mapping: QueryMapping, probs: np.ndarray) -> np.ndarray:
        first = fuse(mapping, probs).scores
        if not mapping.matched_terms:
            return first
        lift = probs[np.argsort(-first, kind="stable")[:top]].mean(axis=0) - probs.mean(axis=0)
        own = {c.index for t in mapping.matched_terms for c in t.concepts}
        chosen = [c for c in np.argsort(-lift) if lift[c] > 0 and c not in own][:extra]
        if not chosen:
            return first
        weights = np.zeros(probs.shape[1])
        weights[chosen] = lift[chosen] / lift[chosen].sum()
        second = probs @ weights
        return (1 - lam) * first / (first.max() + 1e-12) + lam * second / (second.max() + 1e-12)

    return score


def _add(term, found: list[tuple[int, float]], scale: float, vocabulary: ConceptVocabulary):
    have = {c.index: c.weight for c in term.concepts}
    added = {col: round(scale * max(sim, 0.0), 4) for col, sim in found}
    added = {col: w for col, w in added.items() if w > have.get(col, 0.0)}
    kept = tuple(c for c in term.concepts if c.index not in added)
    return replace(
        term, concepts=kept + tuple(ConceptWeight(c, vocabulary.display_name(c), w) for c, w in added.items())
    )


def neighbours(beta: float) -> Transform:
    def transform(mapping: QueryMapping, vocabulary: ConceptVocabulary) -> QueryMapping:
        terms = []
        for term in mapping.terms:
            if term.source is MatchSource.LEMMA:
                near = vocabulary._map_by_embedding(term.term)
                if not near.weak:
                    term = _add(term, [(c.index, c.weight) for c in near.concepts], beta, vocabulary)
            terms.append(term)
        return replace(mapping, terms=tuple(terms))

    return transform


def borrowed(gamma: float) -> Transform:
    def transform(mapping: QueryMapping, vocabulary: ConceptVocabulary) -> QueryMapping:
        terms = []
        for term in mapping.terms:
            if term.source is MatchSource.HYPERNYM:
                near = {c.index for c in vocabulary._map_by_embedding(term.term).concepts}
                scaled = tuple(c if c.index in near else replace(c, weight=c.weight * gamma) for c in term.concepts)
                term = replace(term, concepts=tuple(c for c in scaled if c.weight > 0) or term.concepts)
            terms.append(term)
        return replace(mapping, terms=tuple(terms))

    return transform


def glove_context(top: int, lam: float) -> Transform:
    from mmir.concepts.word_models import load_word_model

    indexes: dict[int, tuple] = {}

    def transform(mapping: QueryMapping, vocabulary: ConceptVocabulary) -> QueryMapping:
        if id(vocabulary) not in indexes:
            glove = ConceptVocabulary(vocabulary.concept_names, word_model=load_word_model("glove"))
            indexes[id(vocabulary)] = (glove._embedding_index(), sorted(glove._column_of_class.items()))
        index, columns = indexes[id(vocabulary)]
        terms = []
        for term in mapping.terms:
            if term.source in (MatchSource.LEMMA, MatchSource.HYPERNYM, MatchSource.EMBEDDING):
                found = [(columns[i][1], sim) for i, sim in index.nearest(term.term, top=top)]
                term = _add(term, found, lam, vocabulary)
            terms.append(term)
        return replace(mapping, terms=tuple(terms))

    return transform


def mean_ap(task: Task, score: Score, transform: Transform | None, queries: list[str]) -> float:
    aps = []
    for query in queries:
        if query in task.truth:
            mapping = task.mappings[query]
            mapping = transform(mapping, task.vocabulary) if transform else mapping
            aps.append(pessimistic_ap(score(mapping, task.probs), task.truth[query]))
    return float(np.mean(aps))


def oracle(task: Task) -> float:
    aps = []
    for truth in task.truth.values():
        per = np.array([pessimistic_ap(task.probs[:, c], truth) for c in range(task.probs.shape[1])])
        best = np.argsort(-per)[:3]
        aps.append(max(per.max(), pessimistic_ap(task.probs[:, best].sum(axis=1), truth)))
    return float(np.mean(aps))


ROWS: list[tuple[str, Score, Transform | None]] = [
    ("R0 today (sum of probabilities, mmir search)", today, None),
    ("R1 aggregation max", aggregated("max"), None),
    ("R1 aggregation noisy-OR", aggregated("noisy-or"), None),
    *[(f"R2 prior calibration alpha={a}", calibrated(a), None) for a in (0.5, 1.0)],
    *[(f"R3 lemma + text neighbours beta={b}", today, neighbours(b)) for b in (0.25, 0.5, 1.0)],
    *[(f"R4 borrowed hypernym classes x{g}", today, borrowed(g)) for g in (0.0, 0.5)],
    *[
        (f"R5 feedback top{m} +{j} concepts lam={lam}", feedback(m, j, lam), None)
        for m in (5, 10)
        for j in (5, 20)
        for lam in (0.3, 0.5)
    ],
    *[(f"R6 tempered p^{t}, renormalised", tempered(t), None) for t in (0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.9)],
    *[(f"R7 tempered p^{t}, not renormalised", tempered(t, renormalise=False), None) for t in (0.5, 0.75)],
    *[(f"R8 GloVe context top{n} lam={lam}", today, glove_context(n, lam)) for n in (5, 10) for lam in (0.1, 0.25)],
]


def _tasks(work: Path, cifar_per_class: int) -> tuple[Task, Task]:
    labels, categories, _, coco, paths = coco_collection(SHARED / "coco-mini", work)
    rows = [i for i, p in enumerate(paths) if p in labels]
    _, probs = concept_matrix(coco)
    chosen = [paths[i] for i in rows]
    vocabulary = coco.engine.vocabulary
    truth = {q: np.array([q in labels[p] for p in chosen]) for q in categories}
    coco_task = Task(categories, {q: vocabulary.map_query(q) for q in categories}, probs[rows],
                     {q: t for q, t in truth.items() if t.any()}, vocabulary)  # fmt: skip
    classes_of = _cifar_files(SHARED / "cifar10-jpg.tar", work / f"cifar-{cifar_per_class}", cifar_per_class)
    cifar, cifar_paths = _collection(work, f"cifar-{cifar_per_class}-coll", [Path(p) for p in classes_of])
    _, cifar_probs = concept_matrix(cifar)
    classes = sorted(set(classes_of.values()))
    cifar_vocabulary = cifar.engine.vocabulary
    cifar_truth = {c: np.array([classes_of[p] == c for p in cifar_paths]) for c in classes}
    mappings = {c: cifar_vocabulary.map_query(c) for c in classes}
    cifar_task = Task(classes, mappings, cifar_probs, cifar_truth, cifar_vocabulary)
    return coco_task, cifar_task


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cifar-per-class", type=int, default=30)
    parser.add_argument("--work", type=Path, default=Path("/tmp/mmir-keyword-bench"))
    args = parser.parse_args()
    coco, cifar = _tasks(args.work, args.cifar_per_class)
    validation, test = coco.queries[0::2], coco.queries[1::2]
    print(f"COCO-mini: {len(coco.truth)} categories with photos ({len(validation)} validation / {len(test)} test "
          f"by sorted position); CIFAR-10: {len(cifar.probs)} images")  # fmt: skip
    print(f"{'row':46s} {'val':>6s} {'CIFAR':>6s} {'(val+CIFAR)/2':>13s} | {'test':>6s} {'all 80':>6s}")
    for label, score, transform in ROWS:
        val = mean_ap(coco, score, transform, validation)
        cif = mean_ap(cifar, score, transform, cifar.queries)
        tst = mean_ap(coco, score, transform, test)
        full = mean_ap(coco, score, transform, coco.queries)
        print(f"{label:46s} {val:6.3f} {cif:6.3f} {(val + cif) / 2:13.3f} | {tst:6.3f} {full:6.3f}", flush=True)
    print(f"{'ORACLE best class / 3-class sum chosen on test photos':46s} (upper bound, all 80: {oracle(coco):.3f})")


if __name__ == "__main__":
    main()
