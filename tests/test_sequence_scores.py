"""Sequence concepts are scored when registered and when indexed; a keyword search reads the stored scores, no torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from mmir.index.catalog import SegmentEncoding
from mmir.index.frames import SegmentExtras
from mmir.index.manifest import Manifest
from mmir.index.store import SegmentStore
from mmir.types import MediaKind

DIM = 8
CONCEPT = "catfirst"  # no WordNet lemma: the query names the user concept alone


def _shot(rng: np.random.Generator, start: float, frames: int) -> SegmentEncoding:
    descriptors = rng.standard_normal((frames, DIM)).astype(np.float32)
    extras = SegmentExtras(frame_times=np.arange(frames) * 0.5 + start, frames=descriptors)
    return SegmentEncoding(descriptors.mean(axis=0), np.zeros(2, np.float32), start, start + frames / 2, start,
                           extras=extras)  # fmt: skip


def _collection(directory: Path, videos: int, seed: int = 0) -> SegmentStore:
    """A collection of ``videos`` two-shot videos and one photo, with stored frame descriptors (no encoder)."""
    directory.mkdir(exist_ok=True)
    manifest = Manifest(model="fake", fingerprint="fake@1", dim=DIM, concept_names=("dark", "light"))
    manifest.save(directory / SegmentStore.MANIFEST)
    store = SegmentStore(directory, manifest)
    rng = np.random.default_rng(seed)
    for i in range(videos):
        shots = [_shot(rng, 0, 6), _shot(rng, 3, 9)]
        store.put(f"/data/v{seed}-{i}.mp4", MediaKind.VIDEO, 10, 0.0, f"v{seed}-{i}", shots)
    photo = SegmentEncoding(rng.standard_normal(DIM).astype(np.float32), np.zeros(2, np.float32))
    store.put(f"/data/p{seed}.jpg", MediaKind.IMAGE, 10, 0.0, f"p{seed}", [photo])
    store.flush()
    return store


def _model(directory: Path) -> Path:
    import torch

    from mmir.learn.sequence import save_sequence_model
    from mmir.models.sequence import SequenceArch, SequenceConfig, build_sequence_model

    torch.manual_seed(0)
    config = SequenceConfig(SequenceArch.GRU, DIM, (CONCEPT, "other"), hidden=16)
    save_sequence_model(build_sequence_model(config).eval(), config, directory)
    return directory


def test_registering_stores_every_shots_score_and_indexing_adds_new_shots(tmp_path: Path) -> None:
    from mmir.api import Collection
    from mmir.index import ledger, sequence_scores
    from mmir.indexing.video_concepts import SequenceScorer, register_sequence_concept, registered, update_scores

    _collection(tmp_path / "c", videos=3).close()
    with Collection.open(tmp_path / "c") as coll:
        register_sequence_concept(coll, _model(tmp_path / "model"), CONCEPT)
        catalog = coll.store.catalog
        ids = catalog.segment_ids()
        stored = sequence_scores.lookup(catalog, [CONCEPT], ids.tolist())
        assert np.isnan(stored[:, 0]).sum() == 1  # every video shot scored, the photo not
        scorer = SequenceScorer(coll.directory, catalog, registered(coll.directory))
        np.testing.assert_allclose(stored[:6, 0], scorer.compute(ids[:6])[:, 0], atol=1e-6)  # stored = computed
        assert scorer(ids, np.zeros((len(ids), DIM), np.float32))[6, 0] == 0.0  # photos score 0
        cover = {c.producer: c for c in ledger.coverage(catalog)}
        assert (cover[f"sequence:{CONCEPT}"].files, cover[f"sequence:{CONCEPT}"].total) == (3, 4)

        rng = np.random.default_rng(5)
        coll.store.put("/data/new.mp4", MediaKind.VIDEO, 10, 0.0, "new", [_shot(rng, 0, 7)])
        assert update_scores(coll) == 1 and update_scores(coll) == 0  # only the new shot; then nothing to do


def test_keyword_search_with_a_registered_sequence_concept_does_not_import_torch(tmp_path: Path) -> None:
    from mmir.api import Collection
    from mmir.indexing.video_concepts import register_sequence_concept

    _collection(tmp_path / "c", videos=3).close()
    with Collection.open(tmp_path / "c") as coll:
        register_sequence_concept(coll, _model(tmp_path / "model"), CONCEPT)
    script = (
        "import sys\nfrom mmir.cli import main\n"
        f"sys.argv = ['mmir', 'search', {CONCEPT!r}, '-c', {str(tmp_path / 'c')!r}, '--json', '-k', '3']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH', file=sys.stderr)\n"
    )
    env = os.environ | {"HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert "Traceback" not in result.stderr, result.stderr
    hits = json.loads(result.stdout)
    assert hits and all(hit["kind"] == "video" for hit in hits)
    assert result.stderr.strip().splitlines()[-1] == "NO-TORCH"
