"""Indexing proves one file decodes before loading the model, and then stops probing (issue 22: huge PNGs)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import mmir.indexing.pipeline as pipeline
from mmir.indexing.pipeline import Indexer, IndexOptions
from test_pipeline import CountingEncoder, _store


class _SlowBuild(CountingEncoder):
    """Loads like a real model: slowly, so every worker reaches the probe before it is ready."""

    def build(self):
        time.sleep(0.5)
        return super().build()


def test_only_one_probe_decode_per_run(tmp_path: Path, photo_dir: Path, lite0, monkeypatch) -> None:
    probes: list[str] = []
    lock = threading.Lock()
    real = pipeline.decode_image

    def counting_decode(data, path, **kwargs):
        if kwargs.get("min_side") == pipeline._PROBE_SIDE:
            with lock:
                probes.append(path)
            time.sleep(0.2)  # as a large file's decode would: the other workers arrive meanwhile
        return real(data, path, **kwargs)

    monkeypatch.setattr(pipeline, "decode_image", counting_decode)
    store = _store(tmp_path / "c", lite0)
    counting = _SlowBuild(lite0)
    options = IndexOptions(batch_size=4, progress=False, workers=3, thumbnails=False)
    report = Indexer(store, counting.build, options).run([str(photo_dir)])
    assert report.added == len(list(photo_dir.iterdir()))
    assert len(probes) == 1, probes  # before: one per worker, each a second decode of its file
    assert counting.builds == 1
