"""Keyword search quality: category words, class names and captions, before/after each part of issue 10.

Data (real, from ``../shared/data``):
- COCO-mini: 80 category names as queries over its 159 annotated photos (relevant = the photo has an instance of
  the category; categories with no photo are skipped) → mAP; and each of its 795 captions as a query over all 239
  photos (relevant = the captioned photo) → R@1/5/10;
- CIFAR-10: the 10 class names as queries over ``--cifar-per-class`` test images per class → mAP.

Every row indexes nothing anew: the collections are built once through ``Collection.index`` (EfficientNet-Lite0)
and each row ranks *all* items with the product's own scoring functions. Rows, cumulative:

0. before: the rules before issue 10, re-applied to today's mapping without hypernym refinement or word pairs:
   text-model matches below similarity 0.5 dropped (the old ``nearest`` threshold), a query with no matched term
   refused (AP 0 / no hit), terms equally weighted, AND = plain product, no metadata text;
1. + part 1: the text-model fallback always answers (concepts weighted by similarity), words whose classes are
   only borrowed from a hypernym gain their nearest classes by text similarity, and two words no lemma joins
   may match as one phrase ("stop sign");
2. + part 2: term importance (IDF over class glosses × mapping confidence) and the soft AND (geometric mean, floor);
3. + part 3: metadata text (FTS5 BM25 over file/folder names, EXIF/XMP/IPTC, sidecars) fused per term — COCO and
   CIFAR files carry no such text beyond numeric names, so this row measures that it does no harm here;
4. + a whole-sentence term: queries of three or more content words also map as one sentence embedding onto
   their nearest classes (what ``mmir search`` does today).

6. the product: ``Collection.search`` itself (the one pipeline of issue 18: the same scores as row 4 times a per-query
   mapping confidence, so the same ranking; it also says whether the rows' re-implementation matches the product).

Ties are counted pessimistically in every row (issue 18): a relevant item tied with others is ranked after them
(AP and caption ranks); before issue 18 caption ranks counted ties optimistically.
Nothing is tuned on these queries: constants live in ``mmir.concepts`` / ``mmir.search`` with their reasons.
Query mode is AND (the CLI default)::

    .venv/bin/python benchmarks/keyword_search.py [--cifar-per-class 50] [--captions 795] [--work /tmp/kwbench]
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import tarfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from mmir.api import Collection
from mmir.concepts import ConceptVocabulary, MatchSource, QueryMapping
from mmir.index.metadata_text import term_matches
from mmir.indexing.pipeline import IndexOptions
from mmir.search.concept_scoring import combine_terms, term_scores
from mmir.search.queries import TextQuery
from mmir.search.text_fusion import fuse, metadata_matrix
from product_search import concept_matrix, pessimistic_ap, pessimistic_rank, product_scores

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
OLD_EMBEDDING_THRESHOLD = 0.5
PER_QUERY: dict[str, dict[str, float]] = {}  # row → query → AP, of the last mAP computed (for --per-query)
Scorer = Callable[[Collection, QueryMapping, np.ndarray, np.ndarray], np.ndarray]


def _old_rules(mapping: QueryMapping) -> QueryMapping:
    """Today's mapping with the old fallback rule: text-model concepts below similarity 0.5 dropped."""
    terms = []
    for term in mapping.terms:
        if term.source is MatchSource.EMBEDDING:
            kept = tuple(c for c in term.concepts if c.weight >= OLD_EMBEDDING_THRESHOLD)
            term = replace(term, concepts=kept, source=term.source if kept else None)
        terms.append(replace(term, importance=1.0))
    return replace(mapping, terms=tuple(terms))


def score_before(coll: Collection, mapping: QueryMapping, ids: np.ndarray, probs: np.ndarray) -> np.ndarray:
    old = _old_rules(mapping)
    if not old.matched_terms:
        return np.zeros(len(ids), np.float32)  # refused: "no concept matches"
    return np.prod(term_scores(old, probs), axis=1)


def score_part1(coll: Collection, mapping: QueryMapping, ids: np.ndarray, probs: np.ndarray) -> np.ndarray:
    flat = replace(mapping, terms=tuple(replace(t, importance=1.0) for t in mapping.terms))
    if not flat.matched_terms:
        return np.zeros(len(ids), np.float32)
    return np.prod(term_scores(flat, probs), axis=1)


def score_part2(coll: Collection, mapping: QueryMapping, ids: np.ndarray, probs: np.ndarray) -> np.ndarray:
    if not mapping.matched_terms:
        return np.zeros(len(ids), np.float32)
    importance = np.array([t.importance for t in mapping.matched_terms])
    return combine_terms(term_scores(mapping, probs), importance, mapping.mode)


def score_part3(coll: Collection, mapping: QueryMapping, ids: np.ndarray, probs: np.ndarray) -> np.ndarray:
    matches = term_matches(coll.store.catalog, [t.term for t in mapping.terms], per_segment=True)
    return fuse(mapping, probs, metadata_matrix(ids, matches)).scores


EXPANSION_TOP = 5  # fixed priors, not fitted: items averaged into the visual query, and the blend
EXPANSION_BLEND = 0.5
_DESCRIPTORS: dict[int, tuple[dict[int, int], np.ndarray]] = {}  # id(collection) → (segment id → row, vectors)


def score_expanded(coll: Collection, mapping: QueryMapping, ids: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Row 5 (experiment, not in the product): average query expansion in descriptor space (Chum et al. 2007).

    The top items by the text score are averaged (weighted by score) into a visual query; every item's cosine
    similarity to it is blended with the normalised text score.
    """
    text = score_part3(coll, mapping, ids, probs)
    key = id(coll)
    if key not in _DESCRIPTORS:
        full_ids, _ = concept_matrix(coll)
        desc_ids, raw = coll.store.catalog.all_descriptors()
        order = {int(i): n for n, i in enumerate(desc_ids)}
        vectors = coll.store.project(raw)[[order[int(i)] for i in full_ids]]
        _DESCRIPTORS[key] = ({int(i): n for n, i in enumerate(full_ids)}, vectors)
    where, vectors = _DESCRIPTORS[key]
    desc = vectors[[where[int(i)] for i in ids]]
    desc = desc / np.maximum(np.linalg.norm(desc, axis=1, keepdims=True), 1e-12)
    top = np.argsort(-text, kind="stable")[:EXPANSION_TOP]
    query = (text[top, None] * desc[top]).sum(axis=0)
    query /= max(float(np.linalg.norm(query)), 1e-12)
    return EXPANSION_BLEND * text / max(float(text.max()), 1e-12) + (1 - EXPANSION_BLEND) * np.maximum(desc @ query, 0)


def score_product(coll: Collection, mapping: QueryMapping, ids: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Row 6: what ``mmir search`` returns, through ``Collection.search`` (``k`` = every item)."""
    return product_scores(coll, TextQuery(mapping.text, mapping.mode), ids)


ROWS: list[tuple[str, Scorer]] = [
    ("0 before (old fallback rule, plain product, no text)", score_before),
    ("1 + fallback always answers (part 1)", score_part1),
    ("2 + term importance, soft AND (part 2)", score_part2),
    ("3 + metadata text fused (part 3)", score_part3),
    ("4 + whole-sentence term (>= 3 words) = mmir today", score_part3),
    ("5 (experiment) + visual query expansion", score_expanded),
    ("6 the product: Collection.search", score_product),
]


def _collection(work: Path, name: str, files: list[Path]) -> tuple[Collection, list[str]]:
    coll = Collection.open(work / name, create=True)
    started = time.perf_counter()
    report = coll.index([str(f) for f in files], IndexOptions(progress=False))
    print(f"[{name}] {report.added} added, {report.unchanged} unchanged in {time.perf_counter() - started:.0f} s")
    ids, _ = concept_matrix(coll)
    rows = coll.store.catalog.hits_rows(ids.tolist())
    return coll, [str(Path(rows[int(i)][0].path).resolve()) for i in ids]


def _coco_labels(coco: Path) -> tuple[dict[str, set[str]], list[str]]:
    """``path → category names`` for the annotated photos, and the 80 category names."""
    labels: dict[str, set[str]] = defaultdict(set)
    names: dict[int, str] = {}
    for split in ("train2017", "val2017"):
        data = json.loads((coco / "annotations" / f"instances_{split}.json").read_text())
        names.update({c["id"]: c["name"] for c in data["categories"]})
        files = {img["id"]: str((coco / split / img["file_name"]).resolve()) for img in data["images"]}
        for image_id in files.values():
            labels.setdefault(image_id, set())
        for ann in data["annotations"]:
            labels[files[ann["image_id"]]].add(names[ann["category_id"]])
    return labels, sorted(names.values())


def _cifar_files(tar_path: Path, out: Path, per_class: int) -> dict[str, str]:
    """Extract ``per_class`` test images per class (the first by file name); ``path → class``.

    Files are renamed ``NNNNN.jpg`` in one flat folder: the archive's class folders would otherwise hand the
    label to the file-name text search.
    """
    chosen: dict[str, str] = {}
    counts: dict[str, int] = defaultdict(int)
    with tarfile.open(tar_path) as tar:
        members = sorted((m for m in tar.getmembers() if m.isfile() and "test/" in m.name and m.name.endswith(".jpg")),
                         key=lambda m: m.name)  # fmt: skip
        for member in members:
            label = Path(member.name).parent.name
            if counts[label] >= per_class:
                continue
            target = out / f"{len(chosen):05d}.jpg"
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(tar.extractfile(member).read())  # type: ignore[union-attr]
            counts[label] += 1
            chosen[str(target.resolve())] = label
    return chosen


def _neutral_copies(files: list[Path], out: Path) -> dict[Path, Path]:
    """Copy photos into one folder under their base names (COCO's ``train2017`` folder would match "train")."""
    out.mkdir(parents=True, exist_ok=True)
    copies = {}
    for source in files:
        target = out / source.name
        if not target.exists():
            shutil.copyfile(source, target)
        copies[source.resolve()] = target.resolve()
    return copies


def _map_scores(coll: Collection, queries: list[str], paths: list[str],
                relevant: Callable[[str, str], bool]) -> dict[str, float]:  # fmt: skip
    return _map_scores_subset(coll, queries, paths, list(range(len(paths))), relevant)


def _caption_recall(coll: Collection, captions: list[tuple[str, str]], paths: list[str]) -> dict[str, list[float]]:
    ids, probs = concept_matrix(coll)
    where = {p: i for i, p in enumerate(paths)}
    per_row = _mappings(coll, [text for _, text in captions])
    result = {}
    for label, scorer in ROWS:
        ranks = []
        for (path, _), mapping in zip(captions, per_row[label], strict=True):
            scores = scorer(coll, mapping, ids, probs)
            target = scores[where[path]]
            ranks.append(pessimistic_rank(scores, where[path]) if target > 0 else len(paths) + 1)  # ties: pessimistic
        ranks_a = np.array(ranks)
        result[label] = [float(np.mean(ranks_a <= k)) for k in (1, 5, 10)]
    return result


def _refused(coll: Collection, queries: list[str]) -> tuple[int, int]:
    """Queries with no usable term: under the old rules, and today."""
    before, today = (_mappings(coll, queries)[label] for label in (ROWS[0][0], ROWS[-1][0]))
    return sum(not _old_rules(m).matched_terms for m in before), sum(not m.matched_terms for m in today)


def coco_collection(coco_dir: Path, work: Path) -> tuple[dict, list, list[tuple[str, str]], Collection, list[str]]:
    """COCO-mini copied into neutral folders and indexed: ``(labels, categories, captions, collection, paths)``.

    Labels and captions are keyed by the copies' paths (the original folder names would match queries).
    """
    labels, categories = _coco_labels(coco_dir)
    with (coco_dir / "captions.tsv").open(encoding="utf-8") as handle:
        rows = csv.DictReader(handle, delimiter="\t")
        captions = [(str((coco_dir / r["path"]).resolve()), r["caption"]) for r in rows]
    uncaptioned = [coco_dir / line.strip() for line in (coco_dir / "uncaptioned_images.txt").read_text().split()]
    copies = _neutral_copies(sorted({Path(p) for p, _ in captions} | set(uncaptioned)), work / "coco-photos")
    labels = {str(copies[Path(p)]): names for p, names in labels.items()}
    captions = [(str(copies[Path(p)]), text) for p, text in captions]
    coco, coco_paths = _collection(work, "coco", sorted(copies.values()))
    return labels, categories, captions, coco, coco_paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--coco", type=Path, default=SHARED / "coco-mini")
    parser.add_argument("--cifar", type=Path, default=SHARED / "cifar10-jpg.tar")
    parser.add_argument("--cifar-per-class", type=int, default=50)
    parser.add_argument("--captions", type=int, default=795, help="Captions used (the first N in file order).")
    parser.add_argument("--per-query", action="store_true", help="Print each COCO category's AP (first/last row).")
    parser.add_argument("--work", type=Path, default=Path("/tmp/mmir-keyword-bench"))
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)

    labels, categories, captions, coco, coco_paths = coco_collection(args.coco, args.work)
    annotated = [p for p in coco_paths if p in labels]
    sub_rows = [i for i, p in enumerate(coco_paths) if p in labels]

    cifar_truth = _cifar_files(args.cifar, args.work / f"cifar-{args.cifar_per_class}", args.cifar_per_class)
    cifar, cifar_paths = _collection(args.work, f"cifar-{args.cifar_per_class}-coll", [Path(p) for p in cifar_truth])

    probes = ["binocular", "chandelier", "menorah", "quokka", "dog"]
    print(f"\nrefused queries (old rules / today): COCO categories {_refused(coco, categories)}, "
          f"probes {probes} {_refused(coco, probes)}")  # fmt: skip
    coco_map = _map_scores_subset(coco, categories, coco_paths, sub_rows, lambda q, p: q in labels[p])
    if args.per_query:
        first, last = ROWS[0][0], ROWS[-1][0]
        for query in PER_QUERY[last]:
            print(f"  AP {query:16s} {PER_QUERY[first][query]:.3f} -> {PER_QUERY[last][query]:.3f}")
    cifar_map = _map_scores(cifar, sorted(set(cifar_truth.values())), cifar_paths, lambda q, p: cifar_truth[p] == q)
    recall = _caption_recall(coco, captions[: args.captions], coco_paths)
    print(f"\nCOCO-mini: {len(categories)} categories over {len(annotated)} annotated photos; "
          f"{min(args.captions, len(captions))} captions over {len(coco_paths)} photos. "
          f"CIFAR-10: {len(cifar_paths)} test images.")  # fmt: skip
    print(f"{'row':52s} {'COCO cat mAP':>12s} {'CIFAR mAP':>10s} {'cap R@1':>8s} {'R@5':>6s} {'R@10':>6s}")
    for label, _ in ROWS:
        r1, r5, r10 = recall[label]
        print(f"{label:52s} {coco_map[label]:12.3f} {cifar_map[label]:10.3f} {r1:8.3f} {r5:6.3f} {r10:6.3f}")
    print("goals (issue 10): category mAP >= 0.65, caption R@10 >= 0.70, zero refused queries")
    coco.close()
    cifar.close()


def _mappings(coll: Collection, queries: list[str]) -> dict[str, list[QueryMapping]]:
    """Per row, the queries' mappings: row 0 without hypernym refinement (as before issue 10), rows 1–3 without
    the whole-sentence term, row 4 as ``mmir search`` maps them today."""
    names = coll.engine.vocabulary.concept_names
    old = ConceptVocabulary(names, refine_hypernyms=False, sentence_term=False, phrase_embeddings=False)
    words = ConceptVocabulary(names, sentence_term=False)
    before = [old.map_query(q) for q in queries]
    word_only = [words.map_query(q) for q in queries]
    today = [coll.map_query(q) for q in queries]
    chosen = (before, word_only, word_only, word_only, today, today, today)
    return {label: chosen[n] for n, (label, _) in enumerate(ROWS)}


def _map_scores_subset(coll: Collection, queries: list[str], paths: list[str], rows: list[int],
                       relevant: Callable[[str, str], bool]) -> dict[str, float]:  # fmt: skip
    """Like :func:`_map_scores`, ranking only the items at ``rows`` (COCO's annotated photos)."""
    ids, probs = concept_matrix(coll)
    ids, probs = ids[rows], probs[rows]
    chosen = [paths[i] for i in rows]
    result = {}
    per_row = _mappings(coll, queries)
    for label, scorer in ROWS:
        aps = {}
        for query, mapping in zip(queries, per_row[label], strict=True):
            truth = np.array([relevant(query, p) for p in chosen])
            if truth.any():
                aps[query] = pessimistic_ap(scorer(coll, mapping, ids, probs), truth)
        result[label] = float(np.mean(list(aps.values())))
        PER_QUERY[label] = aps
    return result


if __name__ == "__main__":
    main()
