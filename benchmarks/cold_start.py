"""Cold-start latency: wall time of fresh ``mmir`` processes answering one query on a small collection.

Each row runs a new process ``--repeats`` times and prints the median (and all runs), beside two baselines
measured in the same run: ``python -c "import mmir"`` (the floor every command pays) and the text fallback as it
was before (torch + sentence-transformers loading MiniLM and embedding one word), which is what a first query
needing the text model used to cost on top of embedding the 1000 class names.

Rows:
- ``search WORD``: a word WordNet places (no text model);
- ``search "an unusual phrase"``: words no lemma covers, so the text model runs (MiniLM on ONNX Runtime since
  issue 24, NumPy before; shipped class embeddings);
- ``text model: load + 1 phrase`` and ``load + 50 phrases``: the bundled text model alone, through the product's
  loader (``bundled_text_model``); the difference over 49 is the per-query cost, printed after the table. The ONNX
  export happens once per user cache, in the untimed warm-up run;
- ``search --image``: query by example (depends on the encoder backend: ONNX Runtime when installed);
- ``search cat`` and ``search catfirst`` on a copy of the collection with a sequence concept registered (a GRU over
  a video's stored frame descriptors, ``mmir train sequence``'s kind of model; untrained: only the cost matters).
  Goal (issue 23): ≤ 1.5× plain keyword search; it used to import torch on every search (4 s, 680 MB).
  ``--baseline-src DIR`` runs the same rows again with another checkout's ``src`` first on ``PYTHONPATH`` (e.g. a
  ``git worktree`` of the commit before), printed as "before" rows in the same run.

The collection is 6 scikit-image photos indexed once at the start (not timed). Goal (issue 8/10): each ≤ 2 s on
an idle machine; the machine's load average is printed because a busy machine inflates every row::

    .venv/bin/python benchmarks/cold_start.py [--repeats 5] [--collection DIR] [--only "text model"]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PHOTOS = ("chelsea.png", "coffee.png", "camera.png", "motorcycle_left.png", "rocket.jpg", "horse.png")
OLD_FALLBACK = (
    "import os; os.environ['HF_HUB_OFFLINE'] = '1'\n"
    "from mmir.concepts.embedding import load_minilm\n"
    "load_minilm().encode(['unusual'], normalize_embeddings=True)"
)


TEXT_MODEL = (
    "from mmir.concepts.text_process import bundled_text_model\n"
    "model = bundled_text_model()\n"
    "for i in range({n}):\n"
    "    model.encode([f'an unusual phrase {{i}}'], normalize_embeddings=True)"
)
PER_QUERY_PHRASES = 50


def _time(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds (user + system) of one run: CPU time is what a loaded machine inflates least."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return elapsed, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _build(collection: Path, mmir: str, env: dict[str, str]) -> Path:
    import skimage

    photos = collection.parent / "photos"
    photos.mkdir(parents=True, exist_ok=True)
    for name in PHOTOS:
        shutil.copy(Path(skimage.__file__).parent / "data" / name, photos / name)
    subprocess.run([mmir, "index", str(photos), "-c", str(collection), "--no-progress"], env=env, check=True,
                   capture_output=True)  # fmt: skip
    return photos / "chelsea.png"


def _with_sequence_concept(collection: Path, mmir: str, env: dict[str, str]) -> Path:
    """A copy of ``collection`` plus a short indexed video and a registered sequence concept ``catfirst``."""
    import numpy as np
    import skimage
    import torch
    from PIL import Image

    from mmir.api import Collection
    from mmir.indexing.video_concepts import register_sequence_concept
    from mmir.learn.sequence import save_sequence_model
    from mmir.media.video_write import write_video
    from mmir.models.sequence import SequenceArch, SequenceConfig, build_sequence_model

    videos = collection.parent / "videos"
    videos.mkdir(exist_ok=True)
    data = Path(skimage.__file__).parent / "data"
    strip = np.concatenate([np.asarray(Image.open(data / n).convert("RGB").resize((160, 120)))
                            for n in ("chelsea.png", "coffee.png")], axis=1)  # fmt: skip
    write_video(videos / "pan.mp4", [strip[:, x : x + 160] for x in range(0, 160, 4)], 10)
    target = collection.parent / "with-sequence"
    shutil.copytree(collection, target)
    subprocess.run([mmir, "index", str(videos), "-c", str(target), "--no-progress"], env=env, check=True,
                   capture_output=True)  # fmt: skip
    with Collection.open(target) as coll:
        torch.manual_seed(0)
        config = SequenceConfig(SequenceArch.GRU, coll.manifest.dim, ("catfirst", "other"))
        save_sequence_model(build_sequence_model(config).eval(), config, collection.parent / "model")
        register_sequence_concept(coll, collection.parent / "model", "catfirst")
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--collection", type=Path, default=None, help="An existing collection (else 6 photos).")
    parser.add_argument("--image", type=Path, default=None, help="Query image (default: one of the photos).")
    parser.add_argument("--skip-old", action="store_true", help="Skip the torch + sentence-transformers baseline.")
    parser.add_argument("--only", default=None,
                        help="Only rows whose label contains this text (and the import baseline).")  # fmt: skip
    parser.add_argument("--baseline-src", type=Path, default=None,
                        help="Another checkout's src/: its rows are measured too (before/after).")  # fmt: skip
    parser.add_argument("--build-only", type=Path, default=None, help=argparse.SUPPRESS)  # used by the rows' setup
    args = parser.parse_args()
    python = sys.executable
    mmir = str(Path(python).with_name("mmir"))
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    if args.build_only is not None:  # build the collections with this process's mmir (the version measured)
        image = _build(args.build_only / "coll", mmir, env)
        _with_sequence_concept(args.build_only / "coll", mmir, env)
        print(image)
        return
    versions = [("", env)]
    if args.baseline_src is not None:
        versions.append(("before: ", dict(env, PYTHONPATH=str(args.baseline_src.absolute()))))
    with tempfile.TemporaryDirectory() as tmp:
        rows = {prefix: _rows(args, Path(tmp) / f"v{i}", python, mmir, run_env)
                for i, (prefix, run_env) in enumerate(versions)}  # fmt: skip
        print(f"load average before: {os.getloadavg()[0]:.2f} (cores: {os.cpu_count()})")
        print(f"{'command':58s} {'median s':>9s} {'cpu s':>6s}  {'peak MB':>8s}  runs (wall s)")
        medians: dict[str, tuple[float, float]] = {}  # label → (wall, cpu) medians
        for index, (label, _) in enumerate(rows[""]):
            for prefix, run_env in versions:
                if prefix and index >= len(rows[prefix]):
                    continue
                command = rows[prefix][index][1]
                _time(command, run_env)  # warm the page cache: measure process start, not the first disk read
                timed = [_time(command, run_env) for _ in range(args.repeats)]
                runs, cpu = [t[0] for t in timed], statistics.median(t[1] for t in timed)
                shown = " ".join(f"{r:.2f}" for r in runs)
                peak = _peak_mb(command, run_env)
                medians[prefix + label] = (statistics.median(runs), cpu)
                print(f"{prefix + label:58s} {statistics.median(runs):9.2f} {cpu:6.2f}  {peak:8.0f}  {shown}",
                      flush=True)  # fmt: skip
        for prefix, _ in versions:
            _print_per_query(prefix, medians)
        print(f"load average after: {os.getloadavg()[0]:.2f}")


def _print_per_query(prefix: str, medians: dict[str, tuple[float, float]]) -> None:
    """The text model's cost per new phrase: (load + 50 phrases − load + 1 phrase) / 49, wall and CPU medians."""
    one = medians.get(f"{prefix}text model: load + 1 phrase")
    many = medians.get(f"{prefix}text model: load + {PER_QUERY_PHRASES} phrases")
    if one is not None and many is not None:
        wall, cpu = ((m - o) / (PER_QUERY_PHRASES - 1) * 1000 for m, o in zip(many, one, strict=True))
        print(f"{prefix}text model per query (one new phrase): {wall:.1f} ms wall, {cpu:.1f} ms CPU")


def _rows(args: argparse.Namespace, where: Path, python: str, mmir: str, env: dict[str, str]) -> list:
    """``[(label, command)]`` over collections built (not timed) by the mmir that ``env`` runs."""
    where.mkdir(parents=True)
    collection, image = args.collection, args.image
    if collection is None:
        built = subprocess.run([python, __file__, "--build-only", str(where)], env=env, capture_output=True,
                               text=True, check=True)  # fmt: skip
        collection, image = where / "coll", image or Path(built.stdout.strip().splitlines()[-1])
    rows: list[tuple[str, list[str]]] = [
        ('python -c "import mmir"  (baseline)', [python, "-c", "import mmir"]),
        ("mmir search cat", [mmir, "search", "cat", "-c", str(collection)]),
        ('mmir search "an unusual phrase"', [mmir, "search", "an unusual phrase", "-c", str(collection)]),
    ]
    for n in (1, PER_QUERY_PHRASES):
        rows.append((f"text model: load + {n} phrase{'s' if n > 1 else ''}", [python, "-c", TEXT_MODEL.format(n=n)]))
    if image is not None:
        rows.append(("mmir search --image", [mmir, "search", "--image", str(image), "-c", str(collection)]))
    if args.collection is None:
        sequence = where / "with-sequence"
        for word, note in (("cat", "sequence concept registered"), ("catfirst", "the sequence concept")):
            rows.append((f"mmir search {word}  ({note})", [mmir, "search", word, "-c", str(sequence)]))
    if not args.skip_old:
        rows.append(("old text fallback: torch MiniLM load + 1 word", [python, "-c", OLD_FALLBACK]))
    if args.only:
        rows = [row for index, row in enumerate(rows) if index == 0 or args.only in row[0]]
    return rows


def _peak_mb(command: list[str], env: dict[str, str]) -> float:
    """Peak resident memory (MB) of one more run of ``command`` (``ru_maxrss`` of the child)."""
    script = ("import resource, subprocess, sys\n"
              "subprocess.run(sys.argv[1:], capture_output=True)\n"
              "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", script, *command], env=env, capture_output=True, text=True)
    return int(done.stdout.strip() or 0) / 1024


if __name__ == "__main__":
    main()
