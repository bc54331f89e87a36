"""Build ``src/mmir/concepts/data/class_text_minilm.npy`` (+ ``.json``): MiniLM embeddings of the ImageNet classes.

A query word that WordNet cannot place is matched to the 1000 ImageNet classes by sentence-embedding similarity.
Embedding the class names and glosses takes about a minute of CPU, which a first query must not pay, so they ship
precomputed in the package: ``float16[2, 1000, 384]`` unit vectors (view 0: the class lemmas as in
``"tabby, tabby cat"``, view 1: the WordNet gloss), about 1.5 MB. The ``.json`` beside it records the model and a
SHA-1 of the embedded texts; the loader ignores the array if the bundled hierarchy's texts have changed since.

Runs with the ONNX Runtime MiniLM (exported once to the user cache), which matches sentence-transformers to
cosine ≥ 0.9999::

    .venv/bin/python scripts/build_class_embeddings.py [--out-dir src/mmir/concepts/data]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from mmir.concepts.embedding import BUNDLED_STEM, MODEL_NAME, texts_digest
from mmir.concepts.hierarchy import load_hierarchy
from mmir.concepts.minilm import OnnxMiniLM

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "src/mmir/concepts/data"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    hierarchy = load_hierarchy()
    names, definitions = list(hierarchy.class_lemmas), list(hierarchy.class_definitions)
    model = OnnxMiniLM()
    start = time.perf_counter()
    views = np.stack([model.encode(names, batch_size=16), model.encode(definitions, batch_size=16)])
    print(f"embedded {views.shape[0]} x {views.shape[1]} texts in {time.perf_counter() - start:.1f} s")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    np.save(args.out_dir / f"{BUNDLED_STEM}.npy", views.astype(np.float16))
    meta = {"model": MODEL_NAME, "views": ["lemmas", "definitions"], "sha1": texts_digest(names, definitions)}
    (args.out_dir / f"{BUNDLED_STEM}.json").write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
    print(f"wrote {args.out_dir / BUNDLED_STEM}.npy/.json")


if __name__ == "__main__":
    main()
