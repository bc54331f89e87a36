"""Indexing throughput: the afternoon loop, today's sequential torch path and the new overlapped default, in one run.

All rows index the same real photos (the COCO photos in ../shared/data/coco-mini; beyond 239 files, copies
of them with a few bytes appended after the JPEG end marker, so every file has its own SHA-1 but the same
pixels). Each row runs in its own subprocess, which reports its images/s and its peak RSS.

Rows, for each model:
  afternoon loop        PIL full decode + bicubic resize/crop + eager torch EfficientNet-Lite
  mmir torch sequential IndexOptions(overlap=False) on the torch backend: the old pipeline loop
  mmir torch overlapped the new pipeline on the torch backend
  mmir default          the new pipeline on backend auto (ONNX Runtime when installed)
  model only <backend>  preprocessed arrays of the same photos through encode_batch (the ceiling)
Every row uses the same batch size (``--batch``, 16 by default: the ONNX default the product indexes with), so no
row gains or loses by its batch.
"mmir" rows time ``Collection.index`` with the model already loaded (scan + read + SHA-1 + decode +
preprocess + encode + SQLite commits + vector index + metadata text) and print the model load beside it. Every
row runs its model once on a dummy batch before its clock starts (counted as loading), as the model-only rows
always did: ONNX Runtime and torch allocate their buffers on the first call (about 0.1 s for Lite0 on ONNX).
``--rss-files 1000,10000`` adds default-pipeline rows on bigger trees to check that peak RSS stays flat.

``--ledger`` adds the rows of issue 23 (Lite0, backend auto, ``--descriptors cnn,colour``, thumbnails off):
  colour from scratch        index with the CNN and the colour channel (the ledger records the channel per batch)
  colour, CNN stubbed        the same with the encoder's forward pass replaced by zeros: indexing minus the CNN
  back-fill colour           index without colour (not timed; CNN stubbed too, since a back-fill of colour
                             never runs it), then the timed run that back-fills it (goal: no slower than
                             "colour, CNN stubbed")
With ``--models ""`` only these rows run: ``--n 10000 --small --models "" --ledger --no-cnn-row`` is issue 23's
back-fill on 10k indexed photos (``--small``: seeded 160-320 px crops of the COCO photos, all different pixels).
  ledger rows: before/after  "colour from scratch" with another checkout's code (``--baseline-src DIR``, e.g. a
                             ``git worktree`` of the commit before the ledger) and with this one, interleaved
                             twice (goal: no loss)

``--thumbnails`` adds the rows of issue 20 (Lite0, backend auto): thumbnails off (today's pipeline) and on
(cards and previews made from the decode already done), interleaved twice; ``--models ""`` skips the model rows.

Usage: python benchmarks/index_throughput.py [--n 478] [--models efficientnet-lite0,efficientnet-lite2]
       [--rss-files 1000,10000] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

COCO = Path(__file__).resolve().parents[2] / "shared" / "data" / "coco-mini"
GOALS = {"vs torch sequential": 2.5, "vs ONNX model only": 0.70, "vs afternoon loop": 6.0, "RSS growth 1k→10k": 0.20}


def make_tree(target: Path, n: int) -> str:
    """``n`` photo files under ``target`` (the COCO photos, then byte-distinct copies of them)."""
    sources = sorted(COCO.rglob("*.jpg"))
    if not sources:
        sys.exit(f"{COCO} not found: this benchmark needs the COCO photos of ../shared/data")
    for i in range(n):
        folder = target / f"{i // 1000:03d}"  # a few thousand files per folder, like a photo library
        folder.mkdir(parents=True, exist_ok=True)
        data = sources[i % len(sources)].read_bytes()
        tail = b"" if i < len(sources) else f"mmir-benchmark-copy-{i}".encode()
        (folder / f"{i:05d}.jpg").write_bytes(data + tail)
    return f"{n} files from {len(sources)} COCO photos ({min(n, len(sources))} originals)"


def make_small_tree(target: Path, n: int, seed: int = 0) -> str:
    """``n`` small real photos under ``target``: seeded crops (160-320 px a side) of the COCO photos, re-encoded as
    JPEG (quality 90), every one different pixels. For the 10k back-fill: decoding them costs what a phone's
    thumbnail-size library would, so the run fits a busy 2-core machine."""
    import random

    from PIL import Image

    sources = sorted(COCO.rglob("*.jpg"))
    if not sources:
        sys.exit(f"{COCO} not found: this benchmark needs the COCO photos of ../shared/data")
    rng = random.Random(seed)
    per = -(-n // len(sources))
    made = 0
    for source in sources:
        with Image.open(source) as opened:
            photo = opened.convert("RGB")
        for _ in range(min(per, n - made)):
            w, h = rng.randint(160, min(320, photo.width)), rng.randint(160, min(320, photo.height))
            x, y = rng.randint(0, photo.width - w), rng.randint(0, photo.height - h)
            folder = target / f"{made // 1000:03d}"
            folder.mkdir(parents=True, exist_ok=True)
            photo.crop((x, y, x + w, y + h)).save(folder / f"{made:05d}.jpg", quality=90)
            made += 1
    size = sum(p.stat().st_size for p in target.rglob("*.jpg")) / made / 1024
    return f"{made} small photos: seeded 160-320 px crops of {len(sources)} COCO photos (JPEG q90, {size:.0f} KB each)"


def _files(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.jpg"))


def _first_photo(folder: Path) -> Any:
    from mmir.media import load_image

    return load_image(_files(folder)[0])


# -- rows, each run in a fresh subprocess ----------------------------------------------------------------


def row_afternoon(folder: Path, model: str, batch: int, **_: Any) -> dict[str, Any]:
    """The loop a user would write in an afternoon: full decode, bicubic resize, eager torch."""
    import torch
    from PIL import Image
    from torchvision import transforms

    from mmir.models.efficientnet import WEIGHTS, load_efficientnet_lite

    started = time.perf_counter()
    net: Any = load_efficientnet_lite(model)
    prep = WEIGHTS[model].preprocessing
    with torch.inference_mode():  # warm-up, as in every row: first-call allocations count as loading
        net._fc(net.extract_features(torch.zeros(batch, 3, prep.crop, prep.crop)).mean(dim=(-2, -1)))
    load_s = time.perf_counter() - started
    transform = transforms.Compose([
        transforms.Resize(prep.resize, interpolation=transforms.InterpolationMode.BICUBIC),
        transforms.CenterCrop(prep.crop),
        transforms.ToTensor(),
        transforms.Normalize(prep.mean, prep.std),
    ])  # fmt: skip
    files, kept = _files(folder), []
    started = time.perf_counter()
    for start in range(0, len(files), batch):
        images = torch.stack([transform(Image.open(p).convert("RGB")) for p in files[start : start + batch]])
        with torch.inference_mode():
            pooled = net.extract_features(images).mean(dim=(-2, -1))
            kept.append((torch.nn.functional.normalize(pooled, dim=-1), net._fc(pooled).softmax(-1)))
    return {"images": len(files), "seconds": time.perf_counter() - started, "load_s": load_s}


def row_mmir(
    folder: Path, model: str, backend: str, overlap: bool, workers: int, batch: int, **_: Any
) -> dict[str, Any]:
    """``Collection.index`` with the model loaded first (its load time is reported apart)."""
    import numpy as np

    from mmir.api import Collection
    from mmir.indexing.pipeline import IndexOptions
    from mmir.models import load_encoder

    started = time.perf_counter()
    encoder = load_encoder(model, backend=backend)
    encoder.batch_size = batch  # the warm-up and the timed run both use the one batch size of every row
    side = encoder.preprocess(_first_photo(folder)).shape[-1]
    encoder.encode_batch(np.zeros((encoder.batch_size, 3, side, side), np.float32))  # warm-up, as in every row
    load_s = time.perf_counter() - started
    options = IndexOptions(progress=False, overlap=overlap, workers=workers, batch_size=batch)
    with tempfile.TemporaryDirectory() as tmp:
        with Collection.open(Path(tmp) / "coll", create=True, encoder=encoder, backend=backend) as coll:
            started = time.perf_counter()
            report = coll.index([folder], options)
            seconds = time.perf_counter() - started
        assert not report.problems, report.problems[:3]
        with Collection.open(Path(tmp) / "coll", backend=backend) as coll:
            rerun_started = time.perf_counter()
            rerun = coll.index([folder], IndexOptions(progress=False))
            rerun_s = time.perf_counter() - rerun_started
    return {
        "images": report.encoded, "seconds": seconds, "load_s": load_s, "backend": encoder.backend,
        "batch": batch, "rerun_s": rerun_s, "rerun_encoded": rerun.encoded,
    }  # fmt: skip


def row_model_only(folder: Path, model: str, backend: str, batch: int, **_: Any) -> dict[str, Any]:
    """Preprocessed arrays of the photos through ``encode_batch`` (no decode, no storage)."""
    import numpy as np

    from mmir.media import load_image
    from mmir.models import load_encoder

    started = time.perf_counter()
    encoder = load_encoder(model, backend=backend)
    encoder.batch_size = batch
    load_s = time.perf_counter() - started
    files = _files(folder)
    arrays = np.stack([encoder.preprocess(load_image(p, min_side=encoder.input_side)) for p in files[:64]])
    encoder.encode_batch(arrays[: encoder.batch_size])  # warm-up
    started, done = time.perf_counter(), 0
    while done < max(64, len(files) // 2):
        start = done % len(arrays)
        chunk = arrays[start : start + encoder.batch_size]
        encoder.encode_batch(chunk)
        done += len(chunk)
    return {"images": done, "seconds": time.perf_counter() - started, "load_s": load_s, "backend": encoder.backend}


def row_colour(folder: Path, mode: str, workers: int, **_: Any) -> dict[str, Any]:
    """Lite0 on backend auto with ``--descriptors cnn,colour``: ``full``, ``stub`` (no CNN) or ``backfill``."""
    import numpy as np

    from mmir.api import Collection, IndexOptions  # mmir.api re-exports it, in the pre-ledger checkout too
    from mmir.models import load_encoder
    from mmir.models.encoder import Encoded

    started = time.perf_counter()
    encoder: Any = load_encoder("efficientnet-lite0", backend="auto")
    side = encoder.preprocess(_first_photo(folder)).shape[-1]
    encoder.encode_batch(np.zeros((encoder.batch_size, 3, side, side), np.float32))  # warm-up, as in every row
    real_encode = encoder.encode_batch
    if mode in ("stub", "backfill"):  # the CNN's forward pass replaced by constants: everything else remains
        dim, concepts = encoder.dim, len(encoder.concept_names)
        encoder.encode_batch = lambda batch: Encoded(
            np.full((len(batch), dim), dim**-0.5, np.float32), np.zeros((len(batch), concepts), np.float32)
        )
    load_s = time.perf_counter() - started
    ledger_s = _time_ledger()
    with tempfile.TemporaryDirectory() as tmp, Collection.open(Path(tmp) / "c", create=True, encoder=encoder) as coll:
        # Thumbnails off in every row: the pre-ledger checkout has none, and a back-fill would skip the ones its
        # preparation made while "from scratch" makes them (neither comparison would be like for like).
        off = {"thumbnails": False} if "thumbnails" in IndexOptions.__dataclass_fields__ else {}
        if mode == "backfill":  # the collection, indexed (untimed; CNN stubbed: a colour back-fill never runs it)
            coll.index([folder], IndexOptions(progress=False, workers=workers, **off))
            encoder.encode_batch = real_encode
        channels = tuple(coll.channel_extractors(["cnn", "colour"]))
        options = IndexOptions(progress=False, workers=workers, channels=channels, **off)
        started = time.perf_counter()
        report = coll.index([folder], options, channel_sink=coll.channel_sink())
        seconds = time.perf_counter() - started
    assert not report.problems, report.problems[:3]
    done = getattr(report, "backfilled", 0) if mode == "backfill" else report.encoded
    return {"images": done, "seconds": seconds, "load_s": load_s, "backend": encoder.backend, "ledger_s": ledger_s[0]}


def row_thumbnails(folder: Path, thumbnails: bool, workers: int, **_: Any) -> dict[str, Any]:
    """Lite0 on backend auto, the default pipeline, with thumbnails (cards and previews) on or off."""
    import numpy as np

    from mmir.api import Collection
    from mmir.indexing.pipeline import IndexOptions
    from mmir.models import load_encoder

    started = time.perf_counter()
    encoder = load_encoder("efficientnet-lite0", backend="auto")
    side = encoder.preprocess(_first_photo(folder)).shape[-1]
    encoder.encode_batch(np.zeros((encoder.batch_size, 3, side, side), np.float32))  # warm-up, as in every row
    load_s = time.perf_counter() - started
    options = IndexOptions(progress=False, workers=workers, thumbnails=thumbnails)
    with tempfile.TemporaryDirectory() as tmp:
        with Collection.open(Path(tmp) / "coll", create=True, encoder=encoder) as coll:
            started = time.perf_counter()
            report = coll.index([folder], options)
            seconds = time.perf_counter() - started
        kept = sum(p.stat().st_size for p in (Path(tmp) / "coll" / "thumbs").rglob("*.jpg"))
    assert not report.problems, report.problems[:3]
    return {"images": report.encoded, "seconds": seconds, "load_s": load_s, "backend": encoder.backend,
            "thumb_mb": kept / 2**20}  # fmt: skip


def _time_ledger() -> list[float]:
    """Wrap the ledger's functions (when this checkout has one) to add their time to the returned one-item list."""
    spent = [0.0]
    try:
        from mmir.index import ledger
    except ImportError:
        return spent
    for name in ("record_files", "copy_files", "forget_files", "missing", "record_producer", "producer"):
        original = getattr(ledger, name)

        def timed(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return _original(*args, **kwargs)
            finally:
                spent[0] += time.perf_counter() - started

        setattr(ledger, name, timed)
    return spent


ROWS: dict[str, Callable[..., dict[str, Any]]] = {
    "afternoon": row_afternoon, "mmir": row_mmir, "model-only": row_model_only, "colour": row_colour,
    "thumbnails": row_thumbnails,
}  # fmt: skip


def child(spec: dict[str, Any]) -> None:
    result = ROWS[spec.pop("row")](Path(spec.pop("folder")), **spec)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps(result))


def run_row(label: str, src: Path | None = None, **spec: Any) -> dict[str, Any]:
    """Run one row in a fresh interpreter (so its peak RSS is its own); ``src``: another checkout's code."""
    spec["folder"] = str(spec["folder"])
    env = dict(os.environ, PYTHONPATH=str(src.absolute())) if src is not None else None
    done = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(spec)], capture_output=True, text=True, check=False, env=env
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode or not lines:
        sys.exit(f"row {label!r} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(lines[-1][len("RESULT ") :])
    result["label"] = label
    result["ips"] = result["images"] / result["seconds"]
    print(
        f"  {label:<34}{result['ips']:>9.1f} img/s  {result['images']:>6} img  load {result['load_s']:5.1f} s"
        f"  peak RSS {result['peak_rss_mb']:7.0f} MB  {result.get('backend', 'torch')}",
        flush=True,
    )
    return result


# -- the run ----------------------------------------------------------------------------------------------


def measure_model(folder: Path, model: str, workers: int, batch: int) -> dict[str, dict[str, Any]]:
    only: dict[str, Any] = {"row": "model-only", "folder": folder, "model": model, "batch": batch}
    rows = {
        "model only torch": run_row("model only torch", backend="torch", **only),
        "afternoon loop": run_row(
            "afternoon loop (eager torch)", row="afternoon", folder=folder, model=model, batch=batch
        ),
    }
    common: dict[str, Any] = {"row": "mmir", "folder": folder, "model": model, "workers": workers, "batch": batch}
    rows["torch sequential"] = run_row("mmir torch sequential", backend="torch", overlap=False, **common)
    rows["torch overlapped"] = run_row("mmir torch overlapped", backend="torch", overlap=True, **common)
    # The ceiling is measured right before and right after the default row (this machine's speed drifts by
    # ±15 % within minutes), and the ratio uses the higher of the two.
    rows["model only default"] = run_row("model only default", backend="auto", **only)
    rows["default"] = run_row("mmir default (auto, overlapped)", backend="auto", overlap=True, **common)
    rows["model only default (after)"] = run_row("model only default (again)", backend="auto", **only)
    return rows


def print_ratios(model: str, rows: dict[str, dict[str, Any]]) -> None:
    new = rows["default"]["ips"]
    ceiling = max(rows["model only default"]["ips"], rows["model only default (after)"]["ips"])
    ratios = {
        "vs torch sequential": new / rows["torch sequential"]["ips"],
        "vs ONNX model only": new / ceiling,
        "vs afternoon loop": new / rows["afternoon loop"]["ips"],
    }
    print(f"  ratios for {model} (mmir default = {new:.1f} img/s):")
    for name, value in ratios.items():
        verdict = "met" if value >= GOALS[name] else "NOT met"
        print(f"    {name:<24}{value:6.2f}x   goal >= {GOALS[name]:.2f}x: {verdict}")
    seq, over = rows["torch sequential"]["ips"], rows["torch overlapped"]["ips"]
    print(f"    overlap alone (torch overlapped / torch sequential): {over / seq:.2f}x")
    rerun = rows["default"]
    print(f"    re-run of the unchanged folder: {rerun['rerun_s']:.2f} s, {rerun['rerun_encoded']} encoded")


def rss_rows(root: Path, sizes: list[int], workers: int, batch: int) -> None:
    results = []
    for n in sizes:
        folder = root / f"tree-{n}"
        make_tree(folder, n)
        label = f"mmir default, {n} files"
        results.append(run_row(label, row="mmir", folder=folder, model="efficientnet-lite0", backend="auto",
                               overlap=True, workers=workers, batch=batch))  # fmt: skip
        shutil.rmtree(folder)
    low, high = results[0]["peak_rss_mb"], results[-1]["peak_rss_mb"]
    growth = high / low - 1
    vectors_mb = (sizes[-1] - sizes[0]) * 1280 * 4 / 2**20
    verdict = "met" if growth <= GOALS["RSS growth 1k→10k"] else "NOT met"
    print(f"  peak RSS {sizes[0]} → {sizes[-1]} files: {low:.0f} → {high:.0f} MB ({growth:+.0%}; goal within 20 %: "
          f"{verdict}); of which the extra vectors held by the flat index: {vectors_mb:.0f} MB")  # fmt: skip


def ledger_rows(
    folder: Path, workers: int, baseline: Path | None, with_cnn: bool = True, backfill_first: bool = False
) -> None:
    """Issue 23's rows: back-fill against indexing minus the CNN, and the ledger's cost against code without it."""
    common: dict[str, Any] = {"row": "colour", "folder": folder, "workers": workers}
    full = run_row("colour from scratch", mode="full", **common) if with_cnn else None
    first = run_row("back-fill colour (indexed)", mode="backfill", **common) if backfill_first else None
    stub = run_row("colour, CNN stubbed (no CNN)", mode="stub", **common)
    backfill = first or run_row("back-fill colour (indexed)", mode="backfill", **common)
    ratio = backfill["seconds"] / stub["seconds"]
    cnn = f"with the CNN {full['seconds']:.2f} s" if full else "row with the CNN not run (--no-cnn-row)"
    print(
        f"    back-fill {backfill['seconds']:.2f} s vs indexing minus the CNN {stub['seconds']:.2f} s: {ratio:.2f}x "
        f"(goal <= 1.00x: {'met' if ratio <= 1.0 else 'NOT met'}); {cnn}"
    )
    if baseline is None:
        return
    before, after = [], []
    for _ in range(2):  # interleaved: this machine's speed drifts within minutes
        before.append(run_row("before (no ledger): colour from scratch", src=baseline, mode="full", **common))
        after.append(run_row("after (ledger): colour from scratch", mode="full", **common))
    best_before, best_after = max(r["ips"] for r in before), max(r["ips"] for r in after)
    spent = max(r["ledger_s"] for r in after)
    print(f"    time inside the ledger's functions: {spent * 1000:.1f} ms of {min(r['seconds'] for r in after):.2f} s")
    change = best_after / best_before
    print(f"    ledger: best {best_after:.1f} img/s with it, {best_before:.1f} without ({change:.2f}x; goal: no loss)")


def thumbnail_rows(folder: Path, workers: int) -> None:
    """Issue 20's rows: thumbnails off (today) and on, interleaved twice (this machine's speed drifts)."""
    off, on = [], []
    for _ in range(2):
        off.append(run_row("thumbnails off (before)", row="thumbnails", folder=folder, thumbnails=False,
                           workers=workers))  # fmt: skip
        on.append(run_row("thumbnails on (cards + previews)", row="thumbnails", folder=folder, thumbnails=True,
                          workers=workers))  # fmt: skip
    best_off, best_on = max(r["ips"] for r in off), max(r["ips"] for r in on)
    change = best_on / best_off
    print(
        f"    thumbnails: best {best_on:.1f} img/s on, {best_off:.1f} off ({change:.2f}x; goal >= 0.90x: "
        f"{'met' if change >= 0.9 else 'NOT met'}); {on[-1]['thumb_mb']:.1f} MB of pictures kept"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, default=478, help="files for the per-model rows (478 = 2 x 239 COCO)")
    parser.add_argument("--models", default="efficientnet-lite0,efficientnet-lite2")
    parser.add_argument("--rss-files", default="", help="e.g. 1000,10000: default-pipeline rows on bigger trees")
    parser.add_argument("--workers", type=int, default=2, help="decode threads of the overlapped rows")
    parser.add_argument("--ledger", action="store_true", help="issue 23's back-fill and ledger-cost rows (Lite0)")
    parser.add_argument("--baseline-src", type=Path, default=None, help="with --ledger: code without the ledger")
    parser.add_argument("--batch", type=int, default=16, help="images per model call, the same in every row")
    parser.add_argument("--thumbnails", action="store_true", help="issue 20's rows: thumbnails off vs on (Lite0)")
    parser.add_argument("--small", action="store_true", help="small real photos (160-320 px COCO crops) instead")
    parser.add_argument("--no-cnn-row", action="store_true", help="with --ledger: skip 'colour from scratch'")
    parser.add_argument("--backfill-first", action="store_true", help="with --ledger: back-fill row before the stub")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(json.loads(args.child))
        return
    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} CPUs, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1/5/15 min)")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "photos"
        made = make_small_tree(folder, args.n) if args.small else make_tree(folder, args.n)
        print(f"data: {made}; decode workers {args.workers}; batch {args.batch} in every row")
        for model in filter(None, args.models.split(",")):
            print(f"{model}:")
            print_ratios(model, measure_model(folder, model, args.workers, args.batch))
        if args.ledger:
            print("ledger (efficientnet-lite0, --descriptors cnn,colour):")
            ledger_rows(folder, args.workers, args.baseline_src, not args.no_cnn_row, args.backfill_first)
        if args.thumbnails:
            print("thumbnails (efficientnet-lite0, backend auto, default pipeline; goal: on within 10 % of off):")
            thumbnail_rows(folder, args.workers)
        if args.rss_files:
            print("memory:")
            rss_rows(Path(tmp), [int(n) for n in args.rss_files.split(",")], args.workers, args.batch)
    load = os.getloadavg()
    print(f"load average at the end: {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}")


if __name__ == "__main__":
    main()
