"""Word → concept mappers compared on keyword retrieval: MiniLM, GloVe and word2vec (issue 10, part 4).

Each row maps the queries with one ``--text-model`` (``ConceptVocabulary(word_model=...)``, exactly what
``mmir search --text-model`` does) and ranks through the product's one search path (``Collection.search``,
concepts fused with metadata text; ties counted pessimistically).
WordNet lemmas come first for every model; the word model only places words
no lemma reaches, weights hypernym-borrowed words' neighbours, pairs words, and adds the whole-sentence term.

Split, so that word2vec never sees the text of a test photo: COCO-mini's captioned photos are halved by a hash
of the file name; captions of the *corpus half* may train word2vec, and every figure is measured on the *test
half* only (category mAP over its annotated photos; its captions as queries over all 239 photos → R@1/5/10).
CIFAR-10 class names are queries over ``--cifar-per-class`` test images per class.

Corpora (all small, offline): (a) the 1000 ImageNet class lemmas + WordNet glosses shipped in the package
(~1000 lines, ~13 k tokens), (b) the corpus half's COCO captions (~400 lines, ~4 k tokens), (c) both. word2vec
uses the defaults of ``mmir train words`` except ``min_count=1`` (many class words occur once in the glosses);
nothing is tuned on the test half. Corpora this small give poor word vectors: the rows say how far they get.

    .venv/bin/python benchmarks/word_models.py [--cifar-per-class 30] [--work /tmp/mmir-wordmodels-bench]
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from keyword_search import (
    SHARED,
    _cifar_files,
    _collection,
    coco_collection,
)
from mmir.api import Collection
from mmir.concepts import ConceptVocabulary
from mmir.concepts.hierarchy import load_hierarchy
from mmir.concepts.word_models import WordModel, load_glove, read_word_vectors
from mmir.learn.word2vec import Word2VecConfig, read_corpus, train_word2vec
from mmir.search.queries import TextQuery
from product_search import concept_matrix, pessimistic_ap, pessimistic_rank, product_scores

PROBES = ["binocular", "chandelier", "menorah", "quokka", "kitten", "a man riding a wave on a surfboard"]
Vocab = Callable[[Collection], ConceptVocabulary]
USED: dict[int, int] = {}  # items ranked → queries with a relevant item (for the summary line)


def corpus_half(path: str) -> bool:
    """True for photos whose captions may train word2vec (a fixed hash of the file name, not tuned)."""
    return hashlib.sha1(Path(path).name.encode()).digest()[0] % 2 == 0


def gloss_lines() -> list[str]:
    """One line per ImageNet class: its lemmas, then its WordNet gloss."""
    h = load_hierarchy()
    return [f"{lemmas}: {gloss}" for lemmas, gloss in zip(h.class_lemmas, h.class_definitions, strict=True)]


def train_corpus(name: str, lines: list[str], work: Path) -> tuple[WordModel, str]:
    corpus = work / f"corpus-{name}.txt"
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = train_word2vec(read_corpus(corpus), work / f"w2v-{name}", Word2VecConfig(min_count=1), str(corpus))
    info = f"{result.sentences} lines, {result.tokens} tokens, {result.words} words, {result.seconds:.1f} s"
    return read_word_vectors(work / f"w2v-{name}", f"w2v:{name}"), info


def mean_ap(coll: Collection, vocab: ConceptVocabulary, queries: list[str], rows: list[int],
            relevant: Callable[[str, int], bool]) -> float:  # fmt: skip
    ids, _ = concept_matrix(coll)
    ids = ids[rows]
    coll.engine._vocabulary = vocab  # the row's text model, then the product's own search path
    aps: list[float] = []
    for query in queries:
        truth = np.array([relevant(query, r) for r in rows])
        if truth.any():
            aps.append(pessimistic_ap(product_scores(coll, TextQuery(query), ids), truth))
    USED[len(rows)] = len(aps)
    return float(np.mean(aps))


def caption_recall(coll: Collection, vocab: ConceptVocabulary, captions: list[tuple[int, str]]) -> list[float]:
    ids, _ = concept_matrix(coll)
    coll.engine._vocabulary = vocab
    ranks = []
    for row, text in captions:
        scores = product_scores(coll, TextQuery(text), ids)
        ranks.append(pessimistic_rank(scores, row) if scores[row] > 0 else len(ids) + 1)  # ties: pessimistic
    ranks_a = np.array(ranks)
    return [float(np.mean(ranks_a <= k)) for k in (1, 5, 10)]


def _vocabularies(work: Path, corpus_captions: list[str]) -> list[tuple[str, Vocab]]:
    started = time.perf_counter()
    glove = load_glove()
    print(f"GloVe 6B-50d loaded in {time.perf_counter() - started:.1f} s ({len(glove.words)} words)")
    models: list[tuple[str, WordModel]] = [("GloVe 6B-50d (400k words, Wikipedia+Gigaword)", glove)]
    for name, lines in (("glosses", gloss_lines()), ("captions", corpus_captions),
                        ("glosses+captions", gloss_lines() + corpus_captions)):  # fmt: skip
        model, info = train_corpus(name, lines, work)
        print(f"word2vec on {name}: {info}")
        models.append((f"word2vec on {name}", model))

    def fixed(**options: object) -> Vocab:
        return lambda coll: ConceptVocabulary(coll.engine.vocabulary.concept_names, **options)

    rows: list[tuple[str, Vocab]] = [
        ("WordNet only (no text model)", fixed(use_embeddings=False)),
        ("MiniLM (default = mmir today)",
         lambda coll: ConceptVocabulary(coll.manifest.concept_names, cache_dir=coll.directory / "cache")),
    ]
    rows += [(label, fixed(word_model=model)) for label, model in models]
    # Diagnostic rows (read after the main ones, not a chosen setting): the same word models without the
    # whole-sentence term and word pairs, whose similarity cut-offs were set for MiniLM's cosine scale.
    return rows + [(f"{label} | words only", fixed(word_model=model, sentence_term=False, phrase_embeddings=False))
                   for label, model in models[:2]]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--coco", type=Path, default=SHARED / "coco-mini")
    parser.add_argument("--cifar", type=Path, default=SHARED / "cifar10-jpg.tar")
    parser.add_argument("--cifar-per-class", type=int, default=30)
    parser.add_argument("--work", type=Path, default=Path("/tmp/mmir-wordmodels-bench"))
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)

    labels, categories, captions, coco, coco_paths = coco_collection(args.coco, args.work)
    where = {p: i for i, p in enumerate(coco_paths)}
    corpus_captions = [text for path, text in captions if corpus_half(path)]
    test_captions = [(where[path], text) for path, text in captions if not corpus_half(path)]
    test_rows = [i for i, p in enumerate(coco_paths) if p in labels and not corpus_half(p)]
    cifar_truth = _cifar_files(args.cifar, args.work / f"cifar-{args.cifar_per_class}", args.cifar_per_class)
    cifar, cifar_paths = _collection(args.work, f"cifar-{args.cifar_per_class}-coll", [Path(p) for p in cifar_truth])
    cifar_classes = sorted(set(cifar_truth.values()))

    results: list[tuple[str, float, float, float, float, float, int, float]] = []
    for label, make in _vocabularies(args.work, corpus_captions):
        started = time.perf_counter()
        vocab, cifar_vocab = make(coco), make(cifar)
        refused = [q for q in PROBES if not vocab.map_query(q).matched_terms]
        cat = mean_ap(coco, vocab, categories, test_rows, lambda q, r: q in labels[coco_paths[r]])
        cif = mean_ap(cifar, cifar_vocab, cifar_classes, list(range(len(cifar_paths))),
                      lambda q, r: cifar_truth[cifar_paths[r]] == q)  # fmt: skip
        recall = caption_recall(coco, vocab, test_captions)
        r1, r5, r10 = recall
        results.append((label, cat, cif, r1, r5, r10, len(refused), time.perf_counter() - started))
        probe = vocab.map_query("kitten").terms[0]
        print(f"[{label}] kitten -> {[c.name for c in probe.concepts[:3]]}; refused {refused}")
    print(f"\nTest half: {USED[len(test_rows)]} of {len(categories)} COCO categories present in its "
          f"{len(test_rows)} annotated photos; "
          f"{len(test_captions)} captions over {len(coco_paths)} photos; CIFAR-10: {len(cifar_paths)} test images; "
          f"word2vec corpus half: {len(corpus_captions)} captions.")  # fmt: skip
    print(f"{'word -> concept mapper':48s} {'COCO cat mAP':>12s} {'CIFAR mAP':>9s} {'cap R@1':>7s} {'R@5':>6s} "
          f"{'R@10':>6s} {'refused':>7s} {'s':>5s}")  # fmt: skip
    for row in results:
        name, cat, cif, r1, r5, r10, n_refused, seconds = row
        print(f"{name:48s} {cat:12.3f} {cif:9.3f} {r1:7.3f} {r5:6.3f} {r10:6.3f} {n_refused:>4d}/{len(PROBES)} "
              f"{seconds:5.0f}")  # fmt: skip
    coco.close()
    cifar.close()


if __name__ == "__main__":
    main()
