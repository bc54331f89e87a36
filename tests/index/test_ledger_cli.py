"""Issue 23 as a user meets it on the command line: back-fill, failures once, PCA, int8, options, unreachable store."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from mmir_cli import run


def test_descriptors_on_an_indexed_folder_back_fill_and_info_shows_coverage(
    tmp_path: Path, photo_dir: Path, reuse_lite0, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    coll = str(tmp_path / "coll")
    assert run(monkeypatch, capsys, "index", str(photo_dir), "-c", coll, "--no-progress")[0] == 0
    code, out, _ = run(monkeypatch, capsys, "index", str(photo_dir), "-c", coll, "--descriptors", "cnn,colour",
                       "--no-progress")  # fmt: skip
    assert code == 0 and "6 unchanged" in out and "6 indexed files given missing descriptors" in out
    hits = json.loads(run(monkeypatch, capsys, "search", "--image", str(photo_dir / "coffee.png"), "-c", coll,
                          "--channel", "colour", "-k", "3", "--json")[1])  # fmt: skip
    assert len(hits) == 3 and Path(hits[0]["path"]).name == "coffee.png"
    info = json.loads(run(monkeypatch, capsys, "info", "-c", coll, "--json")[1])
    from mmir.index.ledger import CHANNEL_VERSION

    assert f"channel:colour: {CHANNEL_VERSION} (6/6 files)" in info["producers"]
    assert any(line.startswith(f"encoder: {reuse_lite0.fingerprint} (6/6") for line in info["producers"])
    from mmir.index.ledger import PER_FILE_SETTING

    assert f"metadata-text: {PER_FILE_SETTING} (6/6 files)" in info["producers"]  # every producer, with coverage
    assert {"ocr: none (0/6 files)", "speech: none (0/0 files)", "shots: none (0/0 files)"} <= set(info["producers"])
    assert any(line.startswith("index:vectors: generation ") for line in info["producers"])  # what it matches

    (photo_dir / "new.png").write_bytes((photo_dir / "chelsea.png").read_bytes() + b"new")  # a file arrives
    assert run(monkeypatch, capsys, "index", str(photo_dir), "-c", coll, "--no-progress")[0] == 0  # no --descriptors
    info = json.loads(run(monkeypatch, capsys, "info", "-c", coll, "--json")[1])
    # the collection's channels go on with new files
    assert f"channel:colour: {CHANNEL_VERSION} (7/7 files)" in info["producers"]


def test_failed_files_are_listed_once_and_an_unchanged_rerun_exits_0(
    tmp_path: Path, photo_dir: Path, reuse_lite0, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (photo_dir / "broken.jpg").write_bytes((photo_dir / "rocket.jpg").read_bytes()[:2000])
    coll = str(tmp_path / "coll")
    code, _, err = run(monkeypatch, capsys, "index", str(photo_dir), "-c", coll, "--no-progress")
    assert code == 1 and "broken.jpg" in err  # this run failed it
    code, _, err = run(monkeypatch, capsys, "index", str(photo_dir), "-c", coll, "--no-progress")
    assert code == 0 and "broken.jpg" not in err
    assert "1 files failed before (unchanged since); --retry-failed to try again" in err
    code, _, err = run(monkeypatch, capsys, "index", str(photo_dir), "-c", coll, "--no-progress", "--retry-failed")
    assert code == 1 and "broken.jpg" in err  # tried again, failed again


def test_pca_is_shown_warned_about_and_removed_with_pca_none(
    tmp_path: Path, photo_dir: Path, reuse_lite0, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    coll = str(tmp_path / "coll")
    code, out, err = run(monkeypatch, capsys, "index", str(photo_dir), "-c", coll, "--no-progress", "--pca", "4")
    assert code == 0 and "PCA: 4-d whitened, fitted on 6 vectors" in out
    assert "warning: PCA to 4 dimensions was fitted on only 6 vectors" in err
    info = json.loads(run(monkeypatch, capsys, "info", "-c", coll, "--json")[1])
    assert info["pca"] == "4-d whitened, fitted on 6 vectors" and "pca: 4-d whitened (6/6 files)" in info["producers"]

    code, out, _ = run(monkeypatch, capsys, "index", str(photo_dir), "-c", coll, "--no-progress", "--pca", "none")
    assert code == 0 and "PCA removed" in out
    info = json.loads(run(monkeypatch, capsys, "info", "-c", coll, "--json")[1])
    assert info["pca"] == "none" and "pca: none (0/6 files)" in info["producers"]  # listed, not run
    assert run(monkeypatch, capsys, "index", str(photo_dir), "-c", coll, "--pca", "zero")[0] != 0


def test_int8_vectors_are_refused_into_a_float_collection(
    tmp_path: Path, photo_dir: Path, reuse_lite0, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    coll = str(tmp_path / "coll")
    assert run(monkeypatch, capsys, "index", str(photo_dir), "-c", coll, "--no-progress")[0] == 0
    (photo_dir / "more.png").write_bytes((photo_dir / "horse.png").read_bytes()[::-1])  # a new (broken) file
    code, _, err = run(monkeypatch, capsys, "index", str(photo_dir), "-c", coll, "--backend", "onnx-int8")
    assert code != 0 and "holds float vectors" in err and "onnx-int8" in err
    info = json.loads(run(monkeypatch, capsys, "info", "-c", coll, "--json")[1])
    assert info["media"] == 6 and info["failed"] == 0  # refused before anything was read or recorded


def test_conflicting_pooling_is_an_error_naming_what_the_collection_uses(
    tmp_path: Path, photo_dir: Path, reuse_lite0, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    coll = str(tmp_path / "coll")
    assert run(monkeypatch, capsys, "index", str(photo_dir), "-c", coll, "--no-progress")[0] == 0
    code, _, err = run(monkeypatch, capsys, "index", str(photo_dir), "-c", coll, "--pooling", "rmac",
                       "--multiscale")  # fmt: skip
    assert code != 0 and "pooling=gem" in err and "multiscale=false" in err
    same = ("--pooling", "gem", "--no-multiscale", "--no-progress")  # what it uses: fine
    assert run(monkeypatch, capsys, "index", str(photo_dir), "-c", coll, *same)[0] == 0


def test_an_unreachable_milvus_server_is_refused_before_anything_is_recorded(
    tmp_path: Path, photo_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    coll = tmp_path / "coll"
    code, _, err = run(monkeypatch, capsys, "index", str(photo_dir), "-c", str(coll), "--store",
                       f"milvus://127.0.0.1:{port}")  # fmt: skip
    assert code != 0 and f"no Milvus server answers at 127.0.0.1:{port}" in err
    assert not coll.exists()  # no collection was created, nothing recorded


def test_no_thumbnails_then_an_index_run_back_fills_them_and_says_so(
    tmp_path: Path, photo_dir: Path, reuse_lite0, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    coll = tmp_path / "coll"
    code, _, _ = run(monkeypatch, capsys, "index", str(photo_dir), "-c", str(coll), "--no-thumbnails", "--no-progress")
    assert code == 0
    assert not list((coll / "thumbs").rglob("*.jpg"))
    code, out, _ = run(monkeypatch, capsys, "index", str(photo_dir), "-c", str(coll), "--no-progress")
    assert code == 0 and "6 given thumbnails" in out
    assert len(list((coll / "thumbs").rglob("*_256.jpg"))) == 6
