"""Relevance feedback benchmark: a simulated user marks the top results, rounds of re-ranking, mAP per round.

Category queries by example on Fashion-MNIST (Debian ``dataset-fashion-mnist``, read with mmir's IDX loader) and
CIFAR-10 (``../shared/data/cifar10-jpg.tar``, the chosen files read straight from the tar). Descriptors come from
the product encoder (``load_encoder("efficientnet-lite0")``, the collection default). Each query is one image; the
collection is a class-balanced subset; relevant = same class. Round 0 ranks by cosine similarity to the query
(the product's query by example); in each round the simulated user marks the 20 best *not yet marked* results
relevant or not from the ground truth, and the collection is re-ranked by :func:`mmir.search.feedback.feedback_scores`
with every mark so far (the query image counts as relevant). mAP is over the whole collection minus the query.

Settings (Rocchio β/γ, classifier C and pseudo-negatives) are chosen on validation queries by their round-2 mAP;
every row tried is printed, and the chosen one is reported on separate test queries.

Run: ``python benchmarks/feedback.py`` (a few minutes on 2 CPU cores; ``--per-class`` scales it).
"""

from __future__ import annotations

import argparse
import io
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from mmir.evaluate.retrieval import average_precision_from_scores
from mmir.search.feedback import FeedbackConfig, FeedbackMethod, Marks, feedback_scores

CIFAR_TAR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cifar10-jpg.tar"


@dataclass(frozen=True)
class Dataset:
    """Descriptors ``float32[N, D]`` (unit length) and labels ``int[N]``."""

    name: str
    descriptors: np.ndarray
    labels: np.ndarray


def _balanced(labels: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    picks = [rng.choice(np.flatnonzero(labels == c), per_class, replace=False) for c in np.unique(labels)]
    return np.sort(np.concatenate(picks))


def _encode(images: list[Image.Image], batch: int = 64) -> np.ndarray:
    from mmir.models import load_encoder

    encoder = load_encoder("efficientnet-lite0")
    rows = [encoder.encode(images[i : i + batch]).descriptors for i in range(0, len(images), batch)]
    return np.vstack(rows).astype(np.float32)


def fashion_mnist(per_class: int, seed: int) -> Dataset:
    """A class-balanced subset of the Fashion-MNIST test split, encoded."""
    from mmir.learn.idx import load_fashion_mnist

    data = load_fashion_mnist("test")
    chosen = _balanced(data.labels, per_class, seed)
    images = [Image.fromarray(data.images[i]).convert("RGB") for i in chosen]
    return Dataset("Fashion-MNIST", _encode(images), data.labels[chosen])


def cifar10(per_class: int, seed: int, tar_path: Path = CIFAR_TAR) -> Dataset:
    """A class-balanced subset of the CIFAR-10 test split (JPEGs read from the tar), encoded."""
    with tarfile.open(tar_path) as tar:
        members = [m for m in tar.getmembers() if m.isfile() and m.name.startswith("test/") and m.name.endswith(".jpg")]
        classes = sorted({m.name.split("/")[1] for m in members})
        labels = np.array([classes.index(m.name.split("/")[1]) for m in members])
        chosen = _balanced(labels, per_class, seed)
        images = []
        for i in chosen:
            handle = tar.extractfile(members[i])
            assert handle is not None
            images.append(Image.open(io.BytesIO(handle.read())).convert("RGB"))
    return Dataset("CIFAR-10", _encode(images), labels[chosen])


def simulate(data: Dataset, query: int, method: FeedbackMethod | None, config: FeedbackConfig,
             rounds: int, top: int) -> list[float]:  # fmt: skip
    """AP after 0..rounds feedback rounds for one query (``method=None``: no feedback, round 0 only)."""
    x, labels = data.descriptors, data.labels
    others = np.arange(len(x)) != query
    relevant = labels == labels[query]
    scores = x @ x[query]
    aps = [average_precision_from_scores(scores[others], relevant[others])]
    if method is None:
        return aps
    marked: set[int] = {query}
    for _ in range(rounds):
        order = [int(i) for i in np.argsort(-scores, kind="stable") if int(i) not in marked][:top]
        marked.update(order)
        positives = [i for i in marked if relevant[i]]
        negatives = [i for i in marked if not relevant[i]]
        scores = feedback_scores(method, Marks(x[positives], x[negatives], x[query]), x, config)
        aps.append(average_precision_from_scores(scores[others], relevant[others]))
    return aps


def grid() -> list[tuple[FeedbackMethod, FeedbackConfig]]:
    """Every setting tried."""
    rows = [(FeedbackMethod.ROCCHIO, FeedbackConfig(beta=b, gamma=g)) for b in (0.75, 2.0) for g in (0.15, 0.5)]
    rows += [
        (FeedbackMethod.CLASSIFIER, FeedbackConfig(c=c, pseudo_negatives=p)) for c in (0.1, 1.0, 10.0) for p in (0, 200)
    ]
    return rows


def _label(method: FeedbackMethod, config: FeedbackConfig) -> str:
    if method is FeedbackMethod.ROCCHIO:
        return f"rocchio beta={config.beta} gamma={config.gamma}"
    return f"classifier C={config.c} pseudo-neg={config.pseudo_negatives}"


def evaluate(data: Dataset, queries: np.ndarray, method: FeedbackMethod | None, config: FeedbackConfig,
             rounds: int, top: int) -> np.ndarray:  # fmt: skip
    """mAP per round ``float[rounds + 1]`` over ``queries``."""
    return np.mean([simulate(data, int(q), method, config, rounds, top) for q in queries], axis=0)


def run(data: Dataset, queries_per_class: int, rounds: int, top: int, seed: int) -> None:
    """Choose settings on validation queries, report test queries; print every row."""
    rng = np.random.default_rng(seed + 1)
    per_class = [
        rng.permutation(np.flatnonzero(data.labels == c))[: 2 * queries_per_class] for c in np.unique(data.labels)
    ]
    validation = np.concatenate([p[:queries_per_class] for p in per_class])
    test = np.concatenate([p[queries_per_class:] for p in per_class])
    print(f"\n{data.name}: {len(data.labels)} items, {len(validation)} validation + {len(test)} test queries, "
          f"user marks top {top} per round")  # fmt: skip
    header = "  ".join(f"round {r}" for r in range(rounds + 1))
    print(f"  {'validation':<40} {header}")
    base = evaluate(data, validation, None, FeedbackConfig(), rounds, top)
    print(f"  {'no feedback':<40} {base[0]:.3f}")
    best: dict[FeedbackMethod, tuple[float, FeedbackConfig]] = {}
    for method, config in grid():
        maps = evaluate(data, validation, method, config, rounds, top)
        print(f"  {_label(method, config):<40} " + "  ".join(f"{m:.3f}  " for m in maps))
        score = maps[min(2, rounds)]
        if method not in best or score > best[method][0]:
            best[method] = (score, config)
    print(f"  {'test (settings chosen on validation)':<40} {header}")
    test_base = evaluate(data, test, None, FeedbackConfig(), rounds, top)[0]
    print(f"  {'no feedback':<40} {test_base:.3f}")
    for method, (_, config) in best.items():
        maps = evaluate(data, test, method, config, rounds, top)
        gain = maps[min(2, rounds)] - test_base
        verdict = "meets" if gain >= 0.10 else "misses"
        print(f"  {_label(method, config):<40} " + "  ".join(f"{m:.3f}  " for m in maps)
              + f"  round-2 gain {gain:+.3f} ({verdict} the +0.10 goal)")  # fmt: skip
    for method in (FeedbackMethod.CLASSIFIER, FeedbackMethod.ROCCHIO):
        maps = product_rounds(data, test, method, rounds, top)
        print(f"  {'product ' + method.value + ' (Collection.search)':<40} " + "  ".join(f"{m:.3f}  " for m in maps)
              + f"  round-2 gain {maps[min(2, rounds)] - maps[0]:+.3f}")  # fmt: skip


def product_rounds(data: Dataset, queries: np.ndarray, method: FeedbackMethod, rounds: int, top: int) -> np.ndarray:
    """mAP per round through ``Collection.search`` (the product defaults): the items stored as a collection of
    one-segment files, round 0 a ``VectorQuery``, each round a ``FeedbackQuery`` of the marks so far (files by
    media id, the query descriptor kept); AP over the product's returned order (the query item left out)."""
    import tempfile

    from mmir.api import Collection
    from mmir.index.catalog import SegmentEncoding
    from mmir.index.manifest import Manifest
    from mmir.index.store import FileToStore, SegmentStore
    from mmir.types import MediaKind

    x, labels = data.descriptors, data.labels
    with tempfile.TemporaryDirectory() as work:
        directory = Path(work) / "coll"
        directory.mkdir()
        manifest = Manifest(model="benchmark", fingerprint="benchmark", dim=x.shape[1], concept_names=["none"])
        manifest.save(directory / SegmentStore.MANIFEST)
        store = SegmentStore(directory, manifest)
        files = [FileToStore(f"/feedback/{i:06d}.jpg", MediaKind.IMAGE, 1, 0.0, str(i),
                             (SegmentEncoding(x[i], np.ones(1, np.float32)),)) for i in range(len(x))]  # fmt: skip
        media_ids = store.put_many(files)
        store.flush()
        store.close()
        item_of = {media_id: i for i, media_id in enumerate(media_ids)}
        with Collection.open(directory) as coll:
            per_query = [_product_query(coll, x, labels, int(q), media_ids, item_of, method, rounds, top)
                         for q in queries]  # fmt: skip
    return np.mean(per_query, axis=0)


def _product_query(coll, x, labels, query, media_ids, item_of, method, rounds, top) -> list[float]:
    from mmir.search.queries import FeedbackQuery, ItemQuery, VectorQuery

    relevant = labels == labels[query]

    def ap(hits) -> float:
        order = [item_of[h.media.id] for h in hits if item_of[h.media.id] != query]
        return average_precision_from_scores(-np.arange(len(order), dtype=float), relevant[order])

    hits = list(coll.search(VectorQuery(x[query]), k=len(x)))
    aps = [ap(hits)]
    marked: set[int] = {query}
    for _ in range(rounds):
        marked.update([i for i in (item_of[h.media.id] for h in hits) if i not in marked][:top])
        marks = FeedbackQuery(tuple(ItemQuery(media_id=media_ids[i]) for i in marked if relevant[i]),
                              tuple(ItemQuery(media_id=media_ids[i]) for i in marked if not relevant[i]), method,
                              x[query])  # fmt: skip
        hits = list(coll.search(marks, k=len(x)))
        aps.append(ap(hits))
    return aps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=100, help="Collection items per class.")
    parser.add_argument("--queries-per-class", type=int, default=3, help="Validation (and as many test) queries.")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--top", type=int, default=20, help="Results the simulated user marks per round.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--datasets", default="fashion-mnist,cifar10")
    args = parser.parse_args()
    loaders = {"fashion-mnist": fashion_mnist, "cifar10": cifar10}
    for name in args.datasets.split(","):
        started = time.perf_counter()
        data = loaders[name](args.per_class, args.seed)
        seconds = time.perf_counter() - started
        print(f"[{name}: encoded {len(data.labels)} images with efficientnet-lite0 in {seconds:.0f} s]")
        run(data, args.queries_per_class, args.rounds, args.top, args.seed)


if __name__ == "__main__":
    main()
