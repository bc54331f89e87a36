"""`make demo`: index the real sample photos that ship with scikit-image and run a few searches.

Everything stays under ./.demo (photos copied there, collection in ./.demo/collection).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import skimage
from PIL import Image, ImageOps

PHOTOS = ["chelsea.png", "coffee.png", "astronaut.png", "rocket.jpg", "motorcycle_left.png", "horse.png"]
ROOT = Path(".demo")


def run(*args: str) -> None:
    print("\n$ mmir " + " ".join(args), flush=True)
    subprocess.run([sys.executable, "-m", "mmir", *args], check=False)


def main() -> None:
    photos = ROOT / "photos"
    photos.mkdir(parents=True, exist_ok=True)
    source = Path(skimage.__file__).parent / "data"
    for name in PHOTOS:
        if (source / name).exists() and not (photos / name).exists():
            shutil.copy(source / name, photos / name)
    # A query image that is not in the collection: a cropped, mirrored, recompressed copy of the cat.
    cat = Image.open(source / "chelsea.png").convert("RGB")
    query = ImageOps.mirror(cat.crop((30, 20, cat.width - 40, cat.height - 10)))
    query.save(ROOT / "query-cat.jpg", quality=70)
    collection = str(ROOT / "collection")
    run("index", str(photos), "--collection", collection)
    for words in ("cat", "cup", "motorcycle", "horse"):
        run("search", words, "--collection", collection, "-k", "3")
    run("search", "--image", str(ROOT / "query-cat.jpg"), "--collection", collection, "-k", "3")
    run("concepts", "dog on a beach", "--collection", collection, "--per-word", "4")
    run("info", "--collection", collection)


if __name__ == "__main__":
    main()
