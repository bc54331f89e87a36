"""Hostile and odd-but-valid files through `mmir index`, one kind per fresh process, beside ordinary photos.

Builds a folder per file kind (N files each, seeded), then runs the product as a user would
(``python -m mmir index DIR --json``) in a fresh subprocess per kind, so wall time and peak RSS (``wait4``) are
that kind's own. Prints, per kind: what should happen (indexed / error / skipped), what did (indexed, one-line
errors, skipped, tracebacks), peak RSS and two times per file, each with its ratio to the same run on N ordinary
photos (COCO-mini JPEGs, else scikit-image photos) measured in this same invocation:

* run s/file: the whole `mmir index` process (start, imports, model, files) over N — what a user waits for;
  with a small N it is mostly the fixed start, the same for every kind;
* idx s/file: the indexing report's own seconds over N — scan, decode, encode, store, without the start: the
  stricter one, where a kind's own cost shows (it includes indexing's probe decode of the first files, made
  before the model loads, so with N=2 every file of a kind is decoded twice).

Goals (issue 22): 0 tracebacks, 0 valid files lost, no kind over 2x the run time per file or 1.5x the peak RSS
of ordinary photos. Both times are judged ("run>2x", "index>2x").

    python benchmarks/hostile_corpus.py --quick          # 12 kinds, N=2 (a few minutes)
    python benchmarks/hostile_corpus.py                  # every kind, N=3
    python benchmarks/hostile_corpus.py --kinds huge_png16,ztxt_bomb -n 2
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from hostile_kinds import KINDS, QUICK, Kind

TIMEOUT_S = 300.0  # per kind


@functools.cache
def _optional_flags() -> tuple[str, ...]:
    """``--no-ocr --no-speech`` where this version of `mmir index` has them (visible text is another issue's)."""
    help_text = subprocess.run([sys.executable, "-m", "mmir", "index", "--help"], capture_output=True, text=True)
    return tuple(flag for flag in ("--no-ocr", "--no-speech") if flag in help_text.stdout)


def _run_index(folder: Path, collection: Path) -> dict:
    """One `mmir index --json` in a fresh process: its report, stderr, wall time and peak RSS (MB)."""
    command = [sys.executable, "-m", "mmir", "index", str(folder), "--collection", str(collection), "--json",
               "--no-progress", *_optional_flags()]  # fmt: skip
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(command, stdout=out, stderr=err, text=True, env=os.environ | {"HF_HUB_OFFLINE": "1"})
        timer = threading.Timer(TIMEOUT_S, process.kill)  # a stalled kind is a finding, not a hung benchmark
        timer.start()
        _, status, usage = os.wait4(process.pid, 0)
        timer.cancel()
        process.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    try:
        report = json.loads(stdout[stdout.index("{") :])
    except ValueError:
        report = {}
    return {"report": report, "stderr": stderr, "wall": wall, "rss_mb": usage.ru_maxrss / 1024,
            "timed_out": wall >= TIMEOUT_S}  # fmt: skip


def _skipped(stderr: str) -> int:
    total = 0
    for line in stderr.splitlines():
        words = line.removeprefix("note: ").split()
        if len(words) > 2 and words[0].isdigit() and words[1] in ("file", "files") and words[2] == "skipped:":
            total += int(words[0])
    return total


def measure(kind: Kind, count: int, work: Path) -> dict:
    """Build ``count`` files of ``kind`` (in a subprocess, so building costs the measured run nothing) and index."""
    folder = work / kind.name / "files"
    folder.mkdir(parents=True)
    build = [sys.executable, str(Path(__file__).parent / "hostile_kinds.py"), kind.name, str(folder), str(count)]
    subprocess.run(build, check=True)
    run = _run_index(folder, work / kind.name / "coll")
    report, stderr = run["report"], run["stderr"]
    tracebacks = stderr.count("Traceback")
    errors = len(report.get("problems", []))
    indexed = report.get("added", 0) + report.get("reused", 0) + report.get("updated", 0)
    one_line = all(len(p["reason"].splitlines()) == 1 for p in report.get("problems", []))
    notes = [line for line in stderr.splitlines() if line.startswith("note:") and "skipped:" not in line]
    crashed = not report and not run["timed_out"]  # no report and not killed: it died (counted as a traceback)
    return {"kind": kind.name, "expect": kind.expect, "files": count, "indexed": indexed, "errors": errors,
            "one_line": one_line, "skipped": _skipped(stderr), "tracebacks": tracebacks + crashed,
            "notes": len(notes), "timed_out": run["timed_out"], "wall": run["wall"],
            "index_s": report.get("seconds", run["wall"]), "rss_mb": run["rss_mb"],
            "example": (report.get("problems") or [{}])[0].get("reason", "")}  # fmt: skip


def _verdict(row: dict, base: dict) -> str:
    got = {"indexed": row["indexed"], "error": row["errors"], "skipped": row["skipped"]}[row["expect"]]
    problems = ["timeout"] if row["timed_out"] else []
    if row["tracebacks"]:
        problems.append("traceback")
    if got != row["files"]:
        problems.append(f"{row['expect']} {got}/{row['files']}")
    if not row["one_line"]:
        problems.append("multi-line error")
    if row["wall"] / row["files"] > 2 * base["wall"] / base["files"]:
        problems.append("run>2x")
    if row["index_s"] / row["files"] > 2 * base["index_s"] / base["files"]:
        problems.append("index>2x")
    if row["rss_mb"] > 1.5 * base["rss_mb"]:
        problems.append("rss>1.5x")
    return "ok" if not problems else ", ".join(problems)


def _print_row(row: dict, base: dict) -> None:
    run, per_file = row["wall"] / row["files"], row["index_s"] / row["files"]
    print(f"{row['kind']:22} {row['expect']:7} {row['files']:>2} {row['indexed']:>7} {row['errors']:>5} "
          f"{row['skipped']:>4} {row['tracebacks']:>5} {row['notes']:>5} {run:>10.2f} "
          f"{run / (base['wall'] / base['files']):>6.2f} {per_file:>10.2f} "
          f"{per_file / (base['index_s'] / base['files']):>6.2f} {row['rss_mb']:>8.0f} "
          f"{row['rss_mb'] / base['rss_mb']:>6.2f}  {_verdict(row, base)}", flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", "--count", type=int, default=3, help="files per kind (and ordinary photos)")
    parser.add_argument("--quick", action="store_true", help=f"only {len(QUICK)} kinds, N=2")
    parser.add_argument("--kinds", default="", help="comma-separated kind names (default: all)")
    parser.add_argument("--keep", type=Path, default=None, help="build in this folder and keep it")
    args = parser.parse_args()
    names = args.kinds.split(",") if args.kinds else list(QUICK) if args.quick else list(KINDS)
    count = 2 if args.quick and not args.kinds else args.count
    unknown = [n for n in names if n not in KINDS]
    if unknown:
        parser.error(f"unknown kinds {unknown}; known: {', '.join(KINDS)}")
    header = (f"{'kind':22} {'expect':7} {'N':>2} {'indexed':>7} {'error':>5} {'skip':>4} {'trace':>5} {'notes':>5} "
              f"{'run s/file':>10} {'x base':>6} {'idx s/file':>10} {'x base':>6} {'peak MB':>8} {'x base':>6}"
              "  verdict")  # fmt: skip
    print(header)
    print("-" * len(header), flush=True)
    with tempfile.TemporaryDirectory(prefix="mmir-hostile-") as tmp:
        work = args.keep or Path(tmp)
        base = measure(KINDS["ordinary"], count, work)
        rows = [base]
        _print_row(base, base)
        for name in (n for n in names if n != "ordinary"):  # each row as it comes: a long run shows progress
            rows.append(measure(KINDS[name], count, work))
            _print_row(rows[-1], base)
    lost = sum(r["files"] - r["indexed"] for r in rows if r["expect"] == "indexed")
    print(f"\n{len(rows)} kinds: {sum(r['tracebacks'] for r in rows)} tracebacks, {lost} valid files lost, "
          f"{sum(_verdict(r, base) != 'ok' for r in rows)} kinds off a goal (baseline: {count} ordinary photos)")
    for row in rows:
        if row["example"]:
            print(f"  {row['kind']}: {row['example']}")


if __name__ == "__main__":
    main()
