"""Registering a sequence model as a concept: bad requests are one-line errors; the registry round-trips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from mmir.errors import CollectionError
from mmir.learn.sequence import save_sequence_model
from mmir.models.sequence import SequenceArch, SequenceConfig, build_sequence_model
from mmir.video_concepts import register_sequence_concept, registered, shot_frames


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
