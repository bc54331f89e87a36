"""The Ray executor (local cluster, 2 CPUs) stores the same catalog and descriptors as the in-process path."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mmir.executors import ExecutorKind, parse_executor

pytest.importorskip("ray", reason="needs the `distributed` extra (ray[data])")

pytestmark = pytest.mark.slow  # starting a Ray cluster takes tens of seconds on a busy 2-core machine


@pytest.fixture(scope="module")
def ray_cluster():  # type: ignore[no-untyped-def]
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def _catalog(directory: Path) -> dict[str, tuple[str, np.ndarray]]:
    from mmir.api import Collection

    with Collection.open(directory) as coll:
        ids, descriptors = coll.store.catalog.all_descriptors()
        rows = coll.store.catalog.hits_rows(ids.tolist())
        return {rows[int(i)][0].path: (rows[int(i)][0].sha1, d) for i, d in zip(ids, descriptors, strict=True)}


def _dies_once(marker: Path) -> type:
    """An actor that kills its own process the first time a batch finds ``marker`` (and removes it).

    Defined in a function, so that Ray ships the class itself to its workers (a module-level class of a test file
    would be imported by name there, and the workers cannot import the tests).
    """
    from mmir.executors.ray_executor import EncodeActor

    class DiesOnce(EncodeActor):
        def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            if marker.exists():
                marker.unlink()
                os._exit(1)  # the worker process dies mid-batch, as a killed machine would
            return super().__call__(batch)

    return DiesOnce


def _index(directory: Path, roots: list[Path], ray: bool, actor: type | None = None):  # type: ignore[no-untyped-def]
    from mmir.api import Collection
    from mmir.executors.ray_executor import EncodeActor, RayIndexer
    from mmir.indexing.pipeline import Indexer, IndexOptions

    with Collection.open(directory, create=True) as coll:
        coll.store.lock_for_writing()
        options = IndexOptions(batch_size=2, progress=False)
        if not ray:
            return Indexer(coll.store, lambda: coll.encoder, options).run([str(r) for r in roots])
        indexer = RayIndexer(coll.store, lambda: coll.encoder, options, actor=actor or EncodeActor)
        return indexer.run([str(r) for r in roots])


def test_ray_index_matches_in_process_and_survives_a_killed_worker(
    tmp_path: Path, photo_dir: Path, reuse_lite0, ray_cluster
) -> None:
    (photo_dir / "copy-of-chelsea.png").write_bytes((photo_dir / "chelsea.png").read_bytes())
    (photo_dir / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    # A 640×480 JPEG decodes at a reduced DCT scale, and only the shared decoding rule gives both paths one vector.
    Image.open(photo_dir / "chelsea.png").convert("RGB").resize((640, 480)).save(photo_dir / "cat-640.jpg")
    local = _index(tmp_path / "local", [photo_dir], ray=False)
    marker = tmp_path / "kill-once"
    marker.write_text("the first actor batch that finds this file deletes it and dies")
    remote = _index(tmp_path / "ray", [photo_dir], ray=True, actor=_dies_once(marker))
    assert not marker.exists()  # a worker really died mid-run
    counts = (local.added, local.reused, len(local.problems), local.encoded)
    assert counts == (remote.added, remote.reused, len(remote.problems), remote.encoded) == (8, 1, 1, 7)
    expected, got = _catalog(tmp_path / "local"), _catalog(tmp_path / "ray")
    assert set(got) == set(expected)
    for path, (sha1, descriptor) in expected.items():
        assert got[path][0] == sha1
        np.testing.assert_allclose(got[path][1], descriptor, atol=1e-5)
    again = _index(tmp_path / "ray", [photo_dir], ray=True)  # resumable: nothing left to do
    assert again.unchanged == 8 and again.encoded == 0


def test_unreachable_files_are_refused_in_one_line(tmp_path: Path, ray_cluster) -> None:
    from mmir.errors import CollectionError
    from mmir.executors.ray_executor import check_reachable

    with pytest.raises(CollectionError, match="not readable from the Ray workers"):
        check_reachable(ray_cluster, [str(tmp_path / "on-another-machine.jpg")])


def test_executor_addresses() -> None:
    assert parse_executor(None) == (ExecutorKind.LOCAL, None)
    assert parse_executor("ray") == (ExecutorKind.RAY, None)
    assert parse_executor("ray://head:10001") == (ExecutorKind.RAY, "ray://head:10001")
    with pytest.raises(ValueError, match="expected local, ray or ray://"):
        parse_executor("spark://x")


def test_cli_index_with_the_ray_executor(tmp_path: Path, photo_dir: Path) -> None:
    import json
    import subprocess
    import sys

    def mmir(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "mmir", *args], capture_output=True, text=True)

    indexed = mmir("index", str(photo_dir), "-c", str(tmp_path / "c"), "--executor", "ray", "--no-progress")
    assert indexed.returncode == 0 and "6 added" in indexed.stdout and "6 encoded" in indexed.stdout, indexed.stderr
    info = json.loads(mmir("info", "-c", str(tmp_path / "c"), "--json").stdout)
    assert info["vectors"] == 6
    bad = mmir("index", str(photo_dir), "-c", str(tmp_path / "c"), "--executor", "spark://x", "--no-progress")
    assert bad.returncode != 0 and "expected local, ray or ray://HOST:PORT" in bad.stderr
    assert "Traceback" not in bad.stderr
