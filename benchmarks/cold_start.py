"""Cold-start latency: wall time of fresh ``mmir`` processes answering one query on a small collection.

Each row runs a new process ``--repeats`` times and prints the median (and all runs), beside two baselines
measured in the same run: ``python -c "import mmir"`` (the floor every command pays) and the text fallback as it
was before (torch + sentence-transformers loading MiniLM and embedding one word), which is what a first query
needing the text model used to cost on top of embedding the 1000 class names.

Rows:
- ``search WORD``: a word WordNet places (no text model);
- ``search "an unusual phrase"``: words no lemma covers, so the text model runs (NumPy MiniLM, shipped class
  embeddings);
- ``search --image``: query by example (depends on the encoder backend: ONNX Runtime when installed).

The collection is 6 scikit-image photos indexed once at the start (not timed). Goal (issue 8/10): each ≤ 2 s on
an idle machine; the machine's load average is printed because a busy machine inflates every row::

    .venv/bin/python benchmarks/cold_start.py [--repeats 5] [--collection DIR]
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


def _time(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return elapsed


def _build(collection: Path, mmir: str, env: dict[str, str]) -> Path:
    import skimage

    photos = collection.parent / "photos"
    photos.mkdir(parents=True, exist_ok=True)
    for name in PHOTOS:
        shutil.copy(Path(skimage.__file__).parent / "data" / name, photos / name)
    subprocess.run([mmir, "index", str(photos), "-c", str(collection), "--no-progress"], env=env, check=True,
                   capture_output=True)  # fmt: skip
    return photos / "chelsea.png"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--collection", type=Path, default=None, help="An existing collection (else 6 photos).")
    parser.add_argument("--image", type=Path, default=None, help="Query image (default: one of the photos).")
    parser.add_argument("--skip-old", action="store_true", help="Skip the torch + sentence-transformers baseline.")
    args = parser.parse_args()
    python = sys.executable
    mmir = str(Path(python).with_name("mmir"))
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    with tempfile.TemporaryDirectory() as tmp:
        collection = args.collection or Path(tmp) / "coll"
        image = args.image or (_build(collection, mmir, env) if args.collection is None else None)
        rows: list[tuple[str, list[str]]] = [
            ('python -c "import mmir"  (baseline)', [python, "-c", "import mmir"]),
            ("mmir search cat", [mmir, "search", "cat", "-c", str(collection)]),
            ('mmir search "an unusual phrase"', [mmir, "search", "an unusual phrase", "-c", str(collection)]),
        ]
        if image is not None:
            rows.append(("mmir search --image", [mmir, "search", "--image", str(image), "-c", str(collection)]))
        if not args.skip_old:
            rows.append(("old text fallback: torch MiniLM load + 1 word", [python, "-c", OLD_FALLBACK]))
        print(f"load average before: {os.getloadavg()[0]:.2f} (cores: {os.cpu_count()})")
        print(f"{'command':48s} {'median s':>9s}  runs")
        for label, command in rows:
            _time(command, env)  # warm the page cache: the row measures process start, not the first disk read
            runs = [_time(command, env) for _ in range(args.repeats)]
            shown = " ".join(f"{r:.2f}" for r in runs)
            print(f"{label:48s} {statistics.median(runs):9.2f}  {shown}", flush=True)
        print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
