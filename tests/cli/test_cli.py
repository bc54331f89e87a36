"""The command line as a user runs it (subprocesses: real start-up, exit codes, no tracebacks)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def mmir(*args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-m", "mmir", *args], capture_output=True, text=True, env=env)
    assert "Traceback" not in result.stderr, result.stderr
    if check:
        assert result.returncode == 0, result.stderr
    return result


def test_index_search_json_info_and_bad_files(tmp_path: Path, photo_dir: Path) -> None:
    coll = str(tmp_path / "coll")
    (photo_dir / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    result = mmir("index", str(photo_dir), "--collection", coll, "--no-progress")
    assert result.returncode == 1  # one file failed
    assert "broken.jpg" in result.stderr
    assert "6 added" in result.stdout and "1 failed" in result.stdout

    hits = json.loads(mmir("search", "cat", "--collection", coll, "-k", "2", "--json", check=True).stdout)
    assert Path(hits[0]["path"]).name == "chelsea.png"
    assert set(hits[0]) >= {"path", "score", "why"} and hits[0]["score"] >= hits[1]["score"]

    lines = mmir("search", "cup", "--collection", coll, "-k", "1", check=True).stdout.splitlines()
    assert "coffee.png" in lines[0] and lines[0].split()[0] == "1"

    info = json.loads(mmir("info", "--collection", coll, "--json", check=True).stdout)
    assert info["media"] == 6 and info["model"] == "efficientnet-lite0"


def test_errors_are_one_line_not_tracebacks(tmp_path: Path, photo_dir: Path) -> None:
    missing = mmir("search", "cat", "--collection", str(tmp_path / "none"))
    assert missing.returncode == 2 and "mmir: error: no mmir collection" in missing.stderr
    both = mmir("search", "cat", "--image", "x.jpg", "--collection", str(tmp_path / "none"))
    assert both.returncode == 2 and "either keywords or --image" in both.stderr
    coll = str(tmp_path / "coll")
    mmir("index", str(photo_dir / "horse.png"), "--collection", coll, "--no-progress", check=True)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"")
    result = mmir("search", "--image", str(bad), "--collection", coll)
    assert result.returncode == 2 and "bad.png" in result.stderr


@pytest.mark.slow
def test_killed_run_resumes_without_losing_work(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    for i in range(300):
        Image.fromarray(rng.integers(0, 255, (48, 48, 3), dtype=np.uint8)).save(photos / f"{i:03d}.png")
    coll = tmp_path / "coll"
    env = os.environ | {"HF_HUB_OFFLINE": "1"}
    args = [sys.executable, "-m", "mmir", "index", str(photos), "-c", str(coll), "--batch-size", "1", "--no-progress"]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    committed = _wait_for_rows(coll / "catalog.sqlite", at_least=20, proc=proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert committed < 300, "indexing finished before it could be killed"
    result = mmir("index", str(photos), "-c", str(coll), "--no-progress", "--json", check=True)
    report = json.loads(result.stdout)
    assert report["unchanged"] >= committed
    assert report["added"] + report["unchanged"] == 300 and report["encoded"] == report["added"]
    info = json.loads(mmir("info", "-c", str(coll), "--json", check=True).stdout)
    assert info["media"] == info["segments"] == info["vectors"] == 300


def _wait_for_rows(db: Path, at_least: int, proc: subprocess.Popen[bytes]) -> int:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if db.exists():
            try:
                with sqlite3.connect(db, timeout=1) as conn:
                    count = conn.execute("SELECT COUNT(*) FROM media").fetchone()[0]
            except sqlite3.OperationalError:
                count = 0
            if count >= at_least:
                return int(count)
        time.sleep(0.05)
    raise AssertionError("indexing did not commit rows in time")


def test_help_lists_the_commands() -> None:
    result = mmir("--help", check=True)
    for command in ("index", "search", "similar", "info", "concepts", "duplicates", "serve", "train", "eval"):
        assert command in result.stdout


def test_serve_binds_loopback_and_answers(tmp_path: Path, photo_dir: Path) -> None:
    import socket
    import urllib.request

    coll = str(tmp_path / "coll")
    mmir("index", str(photo_dir / "chelsea.png"), "-c", coll, "--no-progress", check=True)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = os.environ | {"HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "mmir", "serve", "-c", coll, "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        deadline, body = time.monotonic() + 60, None
        while time.monotonic() < deadline and body is None and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/info", timeout=2) as response:
                    body = json.loads(response.read())
            except OSError:
                time.sleep(0.3)
        assert body is not None and body["media"] == 1
        if shutil.which("ss"):  # iproute2: which address the server really listens on
            listening = subprocess.run(["ss", "-ltn"], capture_output=True, text=True).stdout
            assert f"127.0.0.1:{port}" in listening and f"0.0.0.0:{port}" not in listening
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_eval_retrieval_on_a_collection_writes_and_scores_a_trec_run(tmp_path: Path, photo_dir: Path) -> None:
    from PIL import ImageOps

    coll = str(tmp_path / "coll")
    mmir("index", str(photo_dir), "-c", coll, "--no-progress", check=True)
    queries = tmp_path / "queries"
    queries.mkdir()
    lines = []
    for name in ("chelsea.png", "coffee.png", "rocket.jpg"):
        edited = ImageOps.mirror(Image.open(photo_dir / name).convert("RGB"))
        edited.save(queries / f"{Path(name).stem}-q.jpg", quality=70)
        lines.append(f"queries/{Path(name).stem}-q.jpg 0 photos/{name} 1")
    qrels = tmp_path / "qrels.txt"
    qrels.write_text("\n".join(lines) + "\n")
    run = tmp_path / "run.txt"
    result = mmir("eval", "retrieval", "--collection", coll, "--qrels", str(qrels), "--run-out", str(run), check=True)
    assert "map       1.0000" in result.stdout
    first = run.read_text().splitlines()[0].split()
    assert first[0] == "queries/chelsea-q.jpg" and first[2] == "photos/chelsea.png" and first[3] == "1"
    # The run file is ordinary TREC: evaluating it again gives the same figures.
    again = mmir("eval", "retrieval", "--qrels", str(qrels), "--run", str(run), check=True)
    assert "map       1.0000" in again.stdout
    bad = tmp_path / "bad-qrels.txt"
    bad.write_text("no-such-image.jpg 0 photos/chelsea.png 1\n")
    failed = mmir("eval", "retrieval", "--collection", coll, "--qrels", str(bad))
    assert failed.returncode == 2 and "not an image file" in failed.stderr
