"""How long ``mmir index`` lingers after printing its summary, with and without freezing objects at exit.

Every file is committed and the collection closed before the summary is printed; what followed it was the
interpreter's teardown. A new collection builds the encoder network once (torch is imported), and the final
garbage collection then walks torch's objects. ``mmir.cli.main`` registers ``gc.freeze`` at exit so that walk is
skipped. Rows, alternated run by run on the same machine:

- ``as shipped``: ``python -m mmir index PHOTOS -c NEW``;
- ``baseline (no freeze)``: the same command through a wrapper that unregisters the ``gc.freeze`` exit handler,
  i.e. the behaviour before the change.

Each run indexes 12 small synthetic photos into a new collection; the figure is the time from the last output line
to the process's exit (median over ``--repeats``, all runs listed). The load average is printed because a busy
machine stretches both rows::

    .venv/bin/python benchmarks/cli_exit.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

NO_FREEZE = """
import atexit, gc, sys
from mmir.cli import main
sys.argv = ["mmir", *sys.argv[1:]]
try:
    main()
finally:
    atexit.unregister(gc.freeze)
"""


def linger(command: list[str]) -> float:
    """Seconds from the command's last output line to its exit."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env=os.environ | {"HF_HUB_OFFLINE": "1"})  # fmt: skip
    last = time.perf_counter()
    assert process.stdout is not None
    for _ in process.stdout:
        last = time.perf_counter()
    if process.wait() != 0:
        raise SystemExit(f"{' '.join(command)} failed")
    return time.perf_counter() - last


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cli-exit-") as tmp:
        photos = Path(tmp) / "photos"
        photos.mkdir()
        rng = np.random.default_rng(0)
        for i in range(12):
            Image.fromarray((rng.random((64, 64, 3)) * 255).astype(np.uint8)).save(photos / f"{i}.png")
        (Path(tmp) / "no_freeze.py").write_text(NO_FREEZE, encoding="utf-8")
        rows: dict[str, list[float]] = {"as shipped": [], "baseline (no freeze)": []}
        for run in range(args.repeats):
            for name, entry in (("as shipped", ["-m", "mmir"]), ("baseline (no freeze)", [f"{tmp}/no_freeze.py"])):
                collection = Path(tmp) / f"coll-{name[:2]}-{run}"
                command = [sys.executable, *entry, "index", str(photos), "-c", str(collection), "--no-progress"]
                rows[name].append(linger(command))
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; {args.repeats} runs each")
    print(f"{'row':<22} {'median s after summary':>22}  runs")
    for name, values in rows.items():
        print(f"{name:<22} {statistics.median(values):>22.2f}  {', '.join(f'{v:.2f}' for v in values)}")


if __name__ == "__main__":
    main()
