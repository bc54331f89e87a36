"""An unreachable Ray cluster is one line within seconds (Ray's client would retry for ~30 s, then a traceback)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from mmir.errors import CollectionError

pytest.importorskip("ray", reason="needs the `distributed` extra (ray[data])")


def test_connect_refuses_an_address_where_nothing_answers() -> None:
    from mmir.executors.ray_executor import connect

    started = time.monotonic()
    with pytest.raises(CollectionError, match=r"no Ray cluster answers at 127\.0\.0\.1:1"):
        connect("ray://127.0.0.1:1", 0)
    assert time.monotonic() - started < 10


@pytest.mark.slow  # a new collection loads its model first
def test_index_with_an_unreachable_cluster_is_one_line(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(photos / "red.png")
    result = subprocess.run(
        [sys.executable, "-m", "mmir", "index", str(photos), "-c", str(tmp_path / "coll"), "--no-progress",
         "--executor", "ray://127.0.0.1:1"],
        capture_output=True, text=True, env=os.environ | {"HF_HUB_OFFLINE": "1"}, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "no Ray cluster answers at 127.0.0.1:1" in result.stderr  # was a traceback after 31 s
