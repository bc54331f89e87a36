"""Transfer learning to new concepts: calibrated linear heads on frozen EfficientNet-Lite0 descriptors.

Real photos: the 159 annotated COCO-2017 images of ``../shared/data/coco-mini`` (object labels from
``annotations/instances_*.json``). Every COCO category with at least 8 images becomes a concept; at most 20
labelled examples per concept (and at most half its images) are used for training, all other images are held
out. Per concept we print the held-out AP of the learned head beside two baselines measured on the same images:

- zero-shot: the concept word mapped to ImageNet classes through WordNet (``mmir.concepts``) and scored from the
  encoder's ImageNet probabilities, i.e. what keyword search gives without any training;
- random: the expected AP of a random ranking (mean over 200 shuffles).

    .venv/bin/python benchmarks/transfer_concepts.py [--coco ../shared/data/coco-mini] [--max-train 20]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from mmir.evaluate.retrieval import average_precision_from_scores
from mmir.learn.concept_heads import HeadKind, train_concept_heads

DEFAULT_COCO = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "coco-mini"


def coco_labels(root: Path, min_area: float = 0.0) -> dict[Path, frozenset[str]]:
    """Image path → COCO category names whose largest instance covers ≥ ``min_area`` of the image."""
    labels: dict[Path, set[str]] = defaultdict(set)
    for split in ("train2017", "val2017"):
        data = json.loads((root / "annotations" / f"instances_{split}.json").read_text())
        names = {c["id"]: c["name"] for c in data["categories"]}
        files = {i["id"]: root / split / i["file_name"] for i in data["images"]}
        pixels = {i["id"]: i["width"] * i["height"] for i in data["images"]}
        for path in files.values():
            if path.is_file():
                labels[path]  # an annotated image without objects is a valid negative for every concept
        for ann in data["annotations"]:
            if files[ann["image_id"]].is_file() and ann["area"] >= min_area * pixels[ann["image_id"]]:
                labels[files[ann["image_id"]]].add(names[ann["category_id"]])
    return {p: frozenset(s) for p, s in sorted(labels.items())}


def choose_training(labels: list[frozenset[str]], concepts: list[str], max_train: int, seed: int) -> np.ndarray:
    """A boolean training mask: at most ``min(max_train, n/2)`` positives per concept, half the pure negatives."""
    rng = np.random.default_rng(seed)
    counts = {c: sum(c in s for s in labels) for c in concepts}
    budget = {c: min(max_train, counts[c] // 2) for c in concepts}
    taken = dict.fromkeys(concepts, 0)
    train = np.zeros(len(labels), dtype=bool)
    for i in rng.permutation(len(labels)):
        mine = [c for c in concepts if c in labels[i]]
        if not mine:
            train[i] = rng.random() < 0.5
        elif all(taken[c] < budget[c] for c in mine):
            train[i] = True
            for c in mine:
                taken[c] += 1
    return train


def encode(paths: list[Path], batch: int = 16) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Descriptors ``float32[N, 1280]`` and ImageNet probabilities ``float32[N, 1000]`` from EfficientNet-Lite0.

    Cached in the system temp folder (keyed by the encoder fingerprint and the file list), never in the repo.
    """
    from PIL import Image

    from mmir.models import load_encoder

    encoder = load_encoder("efficientnet-lite0")
    key = hashlib.sha1("\n".join([encoder.fingerprint, *map(str, paths)]).encode()).hexdigest()[:16]
    cache = Path(tempfile.gettempdir()) / "mmir-bench-cache" / f"coco-mini-{key}.npz"
    if cache.is_file():
        with np.load(cache) as stored:
            return stored["descriptors"], stored["concepts"], tuple(encoder.concept_names)
    descriptors, concepts = [], []
    for start in range(0, len(paths), batch):
        images = [Image.open(p).convert("RGB") for p in paths[start : start + batch]]
        out = encoder.encode(images)
        descriptors.append(out.descriptors)
        concepts.append(out.concepts)
    result = np.concatenate(descriptors), np.concatenate(concepts)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, descriptors=result[0], concepts=result[1])
    return *result, tuple(encoder.concept_names)


def zero_shot(word: str, probs: np.ndarray, names: tuple[str, ...]) -> np.ndarray | None:
    """Keyword-search scores of ``word`` from ImageNet probabilities, or ``None`` if it maps to no class."""
    from mmir.concepts.vocabulary import ConceptVocabulary
    from mmir.search.concept_scoring import score_concepts

    mapping = ConceptVocabulary(names, use_embeddings=False).map_query(word)
    return score_concepts(mapping, probs) if mapping.matched_terms else None


def random_ap(relevant: np.ndarray, rng: np.random.Generator, draws: int = 200) -> float:
    """Expected AP of a random ranking."""
    return float(np.mean([average_precision_from_scores(rng.random(len(relevant)), relevant) for _ in range(draws)]))


def main() -> None:
    """Encode, train heads on ≤ max-train examples per concept, print held-out AP with baselines."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--coco", type=Path, default=DEFAULT_COCO)
    parser.add_argument("--max-train", type=int, default=20)
    parser.add_argument("--min-images", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--min-area", type=float, default=0.0, help="label an image only with objects covering this share of it"
    )
    parser.add_argument("--kind", choices=[k.value for k in HeadKind], default=HeadKind.LOGISTIC.value)
    args = parser.parse_args()
    labelled = coco_labels(args.coco, args.min_area)
    paths, labels = list(labelled), list(labelled.values())
    counts: dict[str, int] = defaultdict(int)
    for s in labels:
        for c in s:
            counts[c] += 1
    concepts = sorted(c for c, n in counts.items() if n >= args.min_images)
    started = time.perf_counter()
    descriptors, probs, imagenet_names = encode(paths)
    encode_s = time.perf_counter() - started
    train = choose_training(labels, concepts, args.max_train, args.seed)
    train_labels = [frozenset(s & set(concepts)) for s, t in zip(labels, train, strict=True) if t]
    started = time.perf_counter()
    heads = train_concept_heads(descriptors[train], train_labels, seed=args.seed, kind=HeadKind(args.kind))
    train_s = time.perf_counter() - started
    started = time.perf_counter()
    held_probs = heads.predict_proba(descriptors[~train])
    score_s = time.perf_counter() - started
    _report(args, paths, labels, concepts, train, heads.names, held_probs, probs, imagenet_names)
    print(
        f"\nencode {len(paths)} images: {encode_s:.1f} s; train {len(concepts)} heads: {train_s:.1f} s; "
        f"score {int((~train).sum())} stored descriptors: {1000 * score_s:.2f} ms (no decoding, no CNN)"
    )


def _report(
    args: argparse.Namespace,
    paths: list[Path],
    labels: list[frozenset[str]],
    concepts: list[str],
    train: np.ndarray,
    head_names: tuple[str, ...],
    held_probs: np.ndarray,
    probs: np.ndarray,
    imagenet_names: tuple[str, ...],
) -> None:
    rng = np.random.default_rng(args.seed)
    held = ~train
    print(f"labels: COCO objects covering ≥ {100 * args.min_area:.0f} % of the image")
    print(f"COCO-mini: {len(paths)} annotated photos; {int(train.sum())} used for training, {int(held.sum())} held out")
    print(
        f"heads: {args.kind} on EfficientNet-Lite0 GeM descriptors, Platt-calibrated; ≤ {args.max_train} "
        "training examples per concept"
    )
    print(f"{'concept':<16}{'train+':>7}{'held+':>7}{'held-out AP':>13}{'zero-shot AP':>14}{'random AP':>11}")
    rows = []
    for k, concept in enumerate(head_names):
        relevant = np.array([concept in s for s in labels])
        n_train, n_held = int((relevant & train).sum()), int((relevant & held).sum())
        ap = average_precision_from_scores(held_probs[:, k], relevant[held])
        zs = zero_shot(concept, probs[held], imagenet_names)
        zs_ap = average_precision_from_scores(zs, relevant[held]) if zs is not None else float("nan")
        rand = random_ap(relevant[held], rng)
        rows.append((ap, zs_ap, rand))
        zs_text = f"{100 * zs_ap:12.1f}%" if not np.isnan(zs_ap) else f"{'(unmapped)':>13}"
        print(f"{concept:<16}{n_train:>7}{n_held:>7}{100 * ap:>12.1f}%{zs_text}{100 * rand:>10.1f}%")
    table = np.array(rows)
    mapped = ~np.isnan(table[:, 1])
    print(f"{'mean':<30}{100 * table[:, 0].mean():>12.1f}%{'':>14}{100 * table[:, 2].mean():>10.1f}%")
    print(
        f"{'mean where zero-shot maps':<30}{100 * table[mapped, 0].mean():>12.1f}%"
        f"{100 * table[mapped, 1].mean():>13.1f}%{100 * table[mapped, 2].mean():>10.1f}%"
    )
    assert len(concepts) == len(head_names)


if __name__ == "__main__":
    main()
