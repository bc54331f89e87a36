"""`mmir index --store milvus:...` as a user runs it: recorded, reused, reported by `mmir info`, same hits."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.index.conftest import STORES


def mmir(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-m", "mmir", *args], capture_output=True, text=True, env=env, cwd=cwd)
    assert "Traceback" not in result.stderr, result.stderr
    return result


@pytest.mark.slow
@pytest.mark.parametrize("unused", [STORES[1]])  # skipped (with the reason) where the `scale` extra is missing
def test_milvus_lite_store_is_recorded_reused_and_answers_like_faiss(
    tmp_path: Path, photo_dir: Path, unused: str
) -> None:
    indexed = mmir(tmp_path, "index", str(photo_dir), "-c", "coll", "--store", "milvus:./vectors.db", "--no-progress")
    assert indexed.returncode == 0, indexed.stderr
    assert (tmp_path / "vectors.db").exists()
    info = json.loads(mmir(tmp_path, "info", "-c", "coll", "--json").stdout)
    assert info["store"] == f"milvus:{tmp_path / 'vectors.db'}" and info["vectors"] == 6
    assert info["index_type"] == "Milvus FLAT" and info["expected_recall"] == 1.0 and info["last_tuning"]
    milvus = json.loads(mmir(tmp_path, "similar", str(photo_dir / "chelsea.png"), "-c", "coll", "--json").stdout)

    again = mmir(tmp_path, "index", str(photo_dir), "-c", "coll", "--no-progress")  # no --store: reused
    assert "6 unchanged" in again.stdout
    assert json.loads(mmir(tmp_path, "info", "-c", "coll", "--json").stdout)["store"].startswith("milvus:")

    moved = mmir(tmp_path, "index", str(photo_dir), "-c", "coll", "--store", "faiss", "--no-progress")
    assert moved.returncode == 0 and "0 encoded" in moved.stdout  # moved from the catalog, no CNN pass
    faiss = json.loads(mmir(tmp_path, "similar", str(photo_dir / "chelsea.png"), "-c", "coll", "--json").stdout)
    assert [h["path"] for h in faiss] == [h["path"] for h in milvus]
    assert [h["score"] for h in faiss] == pytest.approx([h["score"] for h in milvus], abs=1e-4)


def test_bad_store_address_is_one_clear_line(tmp_path: Path, photo_dir: Path) -> None:
    result = mmir(tmp_path, "index", str(photo_dir), "-c", "coll", "--store", "redis://x", "--no-progress")
    assert result.returncode != 0
    assert "--store redis://x: expected faiss, milvus:PATH.db or milvus://HOST:PORT" in result.stderr
