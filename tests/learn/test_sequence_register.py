"""Registering a sequence model as a concept: bad requests are one-line errors; the registry round-trips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from mmir.errors import CollectionError
from mmir.indexing.video_concepts import register_sequence_concept, registered, shot_frames
from mmir.learn.sequence import save_sequence_model
from mmir.models.sequence import SequenceArch, SequenceConfig, build_sequence_model


def _model(directory: Path, dim: int) -> Path:
    config = SequenceConfig(SequenceArch.GRU, input_dim=dim, classes=("event", "other"), hidden=4)
    save_sequence_model(build_sequence_model(config), config, directory)
    return directory


def test_register_checks_label_and_dimension_and_replaces_by_name(tmp_path: Path, reuse_lite0: object) -> None:
    from mmir.api import Collection

    with Collection.open(tmp_path / "coll", create=True) as coll:
        wrong_dim = _model(tmp_path / "small", 8)
        with pytest.raises(CollectionError, match="8-d frame descriptors"):
            register_sequence_concept(coll, wrong_dim, "event")
        model = _model(tmp_path / "model", coll.encoder.dim)
        with pytest.raises(CollectionError, match="no class 'party'"):
            register_sequence_concept(coll, model, "party")
        register_sequence_concept(coll, model, "party", label="event")
        register_sequence_concept(coll, model, "party", label="other")  # same name: replaced, not added
        assert [(c.name, c.label) for c in registered(coll.directory)] == [("party", "other")]
        assert (coll.directory / registered(coll.directory)[0].model / "sequence.pt").exists()
        vocabulary = coll.engine.vocabulary
        assert vocabulary.display_name(len(vocabulary) - 1) == "user:party"  # after the model's own concepts
        assert shot_frames(coll.store.catalog, np.array([1, 2])) == {}  # nothing indexed: no frames


def test_sequence_concepts_are_listed_and_removed_through_the_cli(tmp_path: Path, reuse_lite0: object) -> None:
    import json
    import subprocess
    import sys

    from mmir.api import Collection
    from mmir.indexing.video_concepts import unregister_sequence_concept

    with Collection.open(tmp_path / "coll", create=True) as coll:
        model = _model(tmp_path / "model", coll.encoder.dim)
        register_sequence_concept(coll, model, "party", label="event")
        register_sequence_concept(coll, model, "calm", label="other")
        with pytest.raises(CollectionError, match="no sequence concept 'picnic'.*party, calm"):
            unregister_sequence_concept(coll, "picnic")

    def mmir(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "mmir", "sequence-concepts", "-c", str(tmp_path / "coll"), *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)

    listed = json.loads(mmir("--json").stdout)
    assert [(c["name"], c["label"]) for c in listed] == [("party", "event"), ("calm", "other")]
    removed = mmir("--remove", "party")
    assert removed.returncode == 0, removed.stderr
    assert not (tmp_path / "coll" / listed[0]["model"]).exists()  # its model copy is gone too
    assert [c.name for c in registered(tmp_path / "coll")] == ["calm"]
    with Collection.open(tmp_path / "coll") as coll:
        names = coll.engine.vocabulary.concept_names
        assert "user:calm" in names and "user:party" not in names  # no longer searchable
    unknown = mmir("--remove", "party")
    assert unknown.returncode != 0 and "no sequence concept 'party'" in unknown.stderr + unknown.stdout
    assert "Traceback" not in unknown.stderr


def test_register_reads_the_dimension_from_the_manifest_without_loading_the_encoder(
    tmp_path: Path, reuse_lite0: object
) -> None:
    from mmir.api import Collection

    with Collection.open(tmp_path / "coll", create=True) as coll:
        dim = coll.encoder.dim
    with Collection.open(tmp_path / "coll") as coll:
        with pytest.raises(CollectionError, match=f"8-d frame descriptors, but this collection stores {dim}-d"):
            register_sequence_concept(coll, _model(tmp_path / "small", 8), "event")
        register_sequence_concept(coll, _model(tmp_path / "model", dim), "event")
        assert coll._encoder is None  # registering needs no CNN (the manifest knows the stored dimension)
        assert [c.name for c in registered(coll.directory)] == ["event"]
