"""Instance retrieval on real photos with known edits: average pooling vs GeM vs R-MAC, ± PCA-whitening.

No public instance-retrieval benchmark (Holidays, UKBench, Oxford/Paris) is reachable offline, so this builds a
near-duplicate set from real photos (COCO-mini from ../shared/data and scikit-image's sample photos). THE EDITS
ARE OURS: crop, down-scaling, rotation, JPEG quality, horizontal flip, colour change and overlaid text, drawn
with a fixed seed. Each query original gets four differently edited copies: the first is the query; the original
and the other three copies are the relevant items in a database that also holds distractor photos. PCA-whitening
is learned on a disjoint set of photos (and their edited copies). mAP over the full ranking.

Every row measures the product's own encoder, as ``mmir index --pooling P [--multiscale]`` builds it:
``mmir.models.load_encoder("efficientnet-lite0", pooling=P, multiscale=...)`` with its own preprocessing
(``enc.preprocess``) and forward pass (``enc.encode_batch``) on the default backend (``--backend`` to change it).
No pooling or resizing is re-implemented here.

Run:  python benchmarks/instance_retrieval.py [--quick] [--backend auto|torch|onnx] [--out DIR (TREC qrels + runs)]
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFont, ImageOps
from tqdm import tqdm

from mmir.evaluate.retrieval import average_precision, rank_by_score
from mmir.evaluate.trec import write_qrels, write_run
from mmir.models import Encoder, load_encoder
from mmir.models.pca import PCAWhitening

COCO = Path(__file__).resolve().parents[2] / "shared" / "data" / "coco-mini"
SKIMAGE_PHOTOS = (
    "astronaut.png",
    "chelsea.png",
    "coffee.png",
    "rocket.jpg",
    "motorcycle_left.png",
    "horse.png",
    "hubble_deep_field.jpg",
    "retina.jpg",
    "immunohistochemistry.png",
)
EDITS = ("crop", "scale", "rotate", "jpeg", "flip", "colour", "text")
POOLINGS = ("avg", "gem", "rmac")  # the encoder's pooling options (`mmir index --pooling`)


def edit(image: Image.Image, kind: str, rng: np.random.Generator) -> Image.Image:
    """One of our known edits of ``image`` (RGB), with seeded random strength."""
    width, height = image.size
    if kind == "crop":
        keep = rng.uniform(0.6, 0.8)
        w, h = int(width * keep), int(height * keep)
        left, top = int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1))
        return image.crop((left, top, left + w, top + h))
    if kind == "scale":
        factor = rng.uniform(0.25, 0.5)
        return image.resize((max(8, int(width * factor)), max(8, int(height * factor))), Image.Resampling.BILINEAR)
    if kind == "rotate":
        return image.rotate(float(rng.choice([-1, 1]) * rng.uniform(8, 20)), expand=True, fillcolor=(0, 0, 0))
    if kind == "jpeg":
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=int(rng.integers(8, 20)))
        return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    if kind == "flip":
        return ImageOps.mirror(image)
    if kind == "colour":
        image = ImageEnhance.Color(image).enhance(rng.uniform(0.0, 0.4))
        return ImageEnhance.Brightness(image).enhance(rng.uniform(0.6, 1.4))
    out = image.copy()
    draw = ImageDraw.Draw(out)
    font = ImageFont.load_default(size=max(12, height // 8))
    for line in range(3):
        y = int(height * (0.15 + 0.3 * line))
        draw.text((int(width * 0.05), y), "mmir © 2026 sample", fill=(255, 255, 0), font=font)
    return out


def load_photos(limit: int | None) -> list[tuple[str, Image.Image]]:
    """Real photos: COCO-mini (sorted) then scikit-image's colour photos, each at most 640 px."""
    import skimage

    paths = sorted(COCO.glob("*/*.jpg"))
    if not paths:
        sys.exit(f"COCO-mini photos not found under {COCO} (see ../shared/README.md)")
    paths += [Path(skimage.__file__).parent / "data" / name for name in SKIMAGE_PHOTOS]
    photos = []
    for path in paths[:limit] if limit else paths:
        if not path.exists():
            continue
        with Image.open(path) as image:
            rgb = image.convert("RGB")
        rgb.thumbnail((640, 640))
        photos.append((path.stem, rgb))
    return photos


@dataclass(frozen=True)
class Item:
    """One image of the benchmark: its group (the original it comes from) and what was done to it."""

    name: str
    group: int
    kind: str
    image: Image.Image


def build_sets(photos: list[tuple[str, Image.Image]], n_queries: int, n_distract: int, n_train: int, seed: int):
    """Queries, database and PCA-training items from disjoint photos."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(photos))
    query_ids, distract_ids = order[:n_queries], order[n_queries : n_queries + n_distract]
    train_ids = order[n_queries + n_distract :][:n_train]
    queries, database, training = [], [], []
    for number, index in enumerate(query_ids):
        name, image = photos[index]
        kinds = [EDITS[number % len(EDITS)]]  # queries cycle through every kind of edit
        kinds += list(rng.choice([k for k in EDITS if k != kinds[0]], size=3, replace=False))
        queries.append(Item(f"{name}-q-{kinds[0]}", int(index), kinds[0], edit(image, kinds[0], rng)))
        database.append(Item(f"{name}-orig", int(index), "original", image))
        database += [Item(f"{name}-{k}", int(index), k, edit(image, k, rng)) for k in kinds[1:]]
    database += [Item(f"{photos[i][0]}-distractor", -1 - int(i), "distractor", photos[i][1]) for i in distract_ids]
    for index in train_ids:
        name, image = photos[index]
        training.append(Item(name, int(index), "original", image))
        training += [Item(f"{name}-{k}", int(index), k, edit(image, k, rng)) for k in rng.choice(EDITS, 1)]
    return queries, database, training


def describe(encoder: Encoder, items: list[Item], label: str) -> np.ndarray:
    """Descriptors ``float32[N, D]`` (L2-normalised) of ``items`` through the product's encoder, batch by batch."""
    batch = getattr(encoder, "batch_size", 16)
    parts = []
    steps = range(0, len(items), batch)
    for start in tqdm(steps, desc=label, leave=False, disable=not sys.stderr.isatty()):
        inputs = np.stack([encoder.preprocess(item.image) for item in items[start : start + batch]])
        parts.append(encoder.encode_batch(inputs).descriptors)
    return np.concatenate(parts)


def encode_all(
    sets: tuple[list[Item], list[Item], list[Item]], backend: str
) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per encoder configuration: descriptors of queries, database and PCA-training items."""
    out = {}
    for pooling in POOLINGS:
        for multiscale in (False, True):
            label = f"{pooling}{' multi-scale' if multiscale else ''}"
            start = time.perf_counter()
            encoder = load_encoder(
                "efficientnet-lite0", backend=backend, pooling=pooling, multiscale="true" if multiscale else "false"
            )
            loaded = time.perf_counter() - start
            start = time.perf_counter()
            out[label] = tuple(describe(encoder, items, label) for items in sets)  # type: ignore[assignment]
            count = sum(len(items) for items in sets)
            seconds = time.perf_counter() - start
            print(
                f"  encoder {encoder.fingerprint} ({getattr(encoder, 'backend', '?')}, input side "
                f"{encoder.input_side} px): loaded in {loaded:.1f} s, {count} images in {seconds:.1f} s "
                f"({count / seconds:.1f} img/s)",
                flush=True,
            )
    return out


def mean_ap(q: np.ndarray, db: np.ndarray, queries: list[Item], database: list[Item]) -> tuple[float, dict[str, float]]:
    """mAP over the full ranking, and the AP averaged per kind of query edit."""
    groups = np.array([item.group for item in database])
    per_kind: dict[str, list[float]] = {}
    for vector, item in zip(q, queries, strict=True):
        relevant = groups[rank_by_score(db @ vector)] == item.group
        per_kind.setdefault(item.kind, []).append(average_precision(relevant))
    values = [v for vs in per_kind.values() for v in vs]
    return float(np.mean(values)), {kind: float(np.mean(vs)) for kind, vs in per_kind.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a few photos only: a smoke test")
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--distractors", type=int, default=80)
    parser.add_argument("--train", type=int, default=200, help="photos (+1 edited copy each) for PCA-whitening")
    parser.add_argument("--backend", default="auto", help="encoder backend: auto (the product's default), torch, onnx")
    parser.add_argument("--pca-dim", type=int, default=128)
    parser.add_argument("--shrinkage", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="write qrels.txt and one TREC run per method here")
    args = parser.parse_args()
    if args.quick:
        args.queries, args.distractors, args.train, args.pca_dim = 6, 6, 12, 16
    photos = load_photos(limit=30 if args.quick else None)
    queries, database, training = build_sets(photos, args.queries, args.distractors, args.train, args.seed)
    print(
        f"Instance retrieval on real photos with OUR OWN edits ({', '.join(EDITS)}): {len(queries)} queries, "
        f"database of {len(database)} ({len(database) - len(queries) * 4} distractors), 4 relevant per query; "
        f"PCA-whitening learned on {len(training)} images of {len(training) // 2} other photos; the product's "
        f"EfficientNet-Lite0 encoder (its own preprocessing and pooling), backend {args.backend}",
        flush=True,
    )
    descriptors = encode_all((queries, database, training), args.backend)
    print()
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        qrels = {q.name: {d.name: int(d.group == q.group) for d in database if d.group == q.group} for q in queries}
        write_qrels(args.out / "qrels.txt", qrels)
    for method, (q_desc, db_desc, train_desc) in descriptors.items():
        for use_pca in (False, True):
            start = time.perf_counter()
            q, db = q_desc, db_desc
            label = method
            if use_pca:
                pca = PCAWhitening.fit(train_desc, dim=args.pca_dim, whiten=True, shrinkage=args.shrinkage)
                q, db = pca.transform(q), pca.transform(db)
                label = f"{method} + PCA-whitening {args.pca_dim}"
            value, per_kind = mean_ap(q, db, queries, database)
            kinds = " ".join(f"{kind} {ap:.2f}" for kind, ap in per_kind.items())
            print(
                f"  {label:<40} mAP {value:.4f}  ({time.perf_counter() - start:5.2f} s)   by edit: {kinds}", flush=True
            )
            if args.out is not None:
                write_trec_run(args.out, label, db @ q.T, queries, database)


def write_trec_run(out: Path, label: str, scores: np.ndarray, queries: list[Item], database: list[Item]) -> None:
    """One TREC run file: ``scores`` ``float[N_db, Q]``."""
    run = {
        item.name: [(d.name, float(s)) for d, s in zip(database, scores[:, i], strict=True)]
        for i, item in enumerate(queries)
    }
    write_run(out / f"run-{label.replace(' ', '_')}.txt", run, tag=label.replace(" ", "_"))


if __name__ == "__main__":
    main()
