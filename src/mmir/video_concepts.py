"""Trained sequence models as concept detectors over a collection's indexed shots, scored from stored frames.

A model from ``mmir train sequence`` (:mod:`mmir.learn.sequence`) is registered under a concept name with
one of its classes; the concept's score for a video shot is that class's probability given the shot's sampled
frame descriptors, which indexing stored (catalog step 4, :mod:`mmir.index.frames`). Nothing is decoded: a shot
is scored from ``float16`` descriptors already in the catalog. Photos (no frames) score 0.

**Scored lazily, at query time**, through the same path as the user concepts learned with
``mmir train concepts``: they are extra columns after the model's concepts (``user:NAME``), which the search
engine's :class:`~mmir.search.engine.ConceptView` scores block by block and keeps for one catalog generation.
So videos indexed later are scored the first time a query needs the column after they arrive, a model
registered again under the same name never leaves stale scores behind, and indexing needs no hook. The cost is
one recurrent pass per shot per catalog generation (a GRU over ~8–32 frames: well under a millisecond a shot).

Layout: ``<collection>/sequence-concepts.json`` lists the concepts; each model is copied to
``<collection>/sequence-concepts/<name>/`` so the collection does not depend on where it was trained.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mmir.errors import CollectionError
from mmir.index.frames import shot_frames

if TYPE_CHECKING:
    from mmir.api import Collection
    from mmir.index.catalog import Catalog
    from mmir.learn.concept_heads import ConceptHeads

ExtraConcepts = Callable[[np.ndarray, np.ndarray], np.ndarray]
REGISTRY = "sequence-concepts.json"
MODELS = "sequence-concepts"
USER_PREFIX = "user:"  # how the vocabulary names concepts a user added (matched by the exact name)
# Shots are scored this many at a time (padding to the longest shot of a batch; bounded memory).
SCORE_BATCH = 256


@dataclass(frozen=True)
class SequenceConcept:
    """A registered sequence concept.

    Attributes:
        name: The concept's name (``mmir search NAME``).
        label: The model class whose probability is the score.
        model: Directory of the model under ``<collection>/sequence-concepts/``.
    """

    name: str
    label: str
    model: str


def registered(directory: Path) -> list[SequenceConcept]:
    """The sequence concepts of the collection in ``directory``, in registration order."""
    path = Path(directory) / REGISTRY
    if not path.exists():
        return []
    try:
        return [SequenceConcept(**row) for row in json.loads(path.read_text(encoding="utf-8"))]
    except (ValueError, TypeError) as exc:
        raise CollectionError(f"{path}: not a list of sequence concepts ({exc})") from exc


def register_sequence_concept(collection: Collection, model_dir: Path, name: str,
                              label: str | None = None) -> SequenceConcept:  # fmt: skip
    """Copy a trained sequence model into the collection and make class ``label`` searchable as ``name``.

    Args:
        collection: The collection (its descriptor dimension must be the model's input dimension).
        model_dir: A directory written by :func:`mmir.learn.sequence.save_sequence_model`.
        name: Concept name; an earlier sequence concept of that name is replaced.
        label: The class scored; default ``name`` when it is one of the model's classes.

    Raises:
        CollectionError: the label is not a class of the model, or the model was trained on other descriptors.
        DataError: the directory holds no usable model.
    """
    from mmir.learn.sequence import CONFIG_FILE, WEIGHTS_FILE, load_sequence_model

    name = name.strip()
    if not name:
        raise CollectionError("a sequence concept needs a name")
    heads = collection.user_concepts()
    if heads is not None and name in heads.names:
        raise CollectionError(f"{name!r} is already a concept learned with `mmir train concepts`; choose another name")
    _, config = load_sequence_model(Path(model_dir))
    chosen = label if label is not None else name
    if chosen not in config.classes:
        raise CollectionError(f"{model_dir}: no class {chosen!r} (classes: {', '.join(config.classes)}); "
                              "choose one with --label")  # fmt: skip
    stored = collection.manifest  # its dim is the frame descriptors' (pre-PCA): no need to load the encoder
    if config.input_dim != stored.dim:
        raise CollectionError(f"{model_dir}: trained on {config.input_dim}-d frame descriptors, but this collection "
                              f"stores {stored.dim}-d ones ({stored.model})")  # fmt: skip
    folder = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "concept"
    target = collection.directory / MODELS / folder
    target.mkdir(parents=True, exist_ok=True)
    for part in (CONFIG_FILE, WEIGHTS_FILE):
        shutil.copyfile(Path(model_dir) / part, target / part)
    concept = SequenceConcept(name, chosen, f"{MODELS}/{folder}")
    _save_registry(collection, [c for c in registered(collection.directory) if c.name != name] + [concept])
    return concept


def unregister_sequence_concept(collection: Collection, name: str) -> SequenceConcept:
    """Forget the sequence concept ``name`` and delete its copy of the model; returns what was removed.

    Raises:
        CollectionError: no sequence concept has that name.
    """
    concepts = registered(collection.directory)
    gone = next((c for c in concepts if c.name == name), None)
    if gone is None:
        known = ", ".join(c.name for c in concepts) or "none"
        raise CollectionError(f"{collection.directory}: no sequence concept {name!r} (registered: {known})")
    _save_registry(collection, [c for c in concepts if c is not gone])
    shutil.rmtree(collection.directory / gone.model, ignore_errors=True)  # the registry no longer points at it
    return gone


def _save_registry(collection: Collection, concepts: Sequence[SequenceConcept]) -> None:
    """Write the collection's list of sequence concepts and make search see it at once."""
    rows = [asdict(c) for c in concepts]
    (collection.directory / REGISTRY).write_text(json.dumps(rows, indent=1), encoding="utf-8")
    collection.invalidate_search()


class SequenceScorer:
    """``(segment ids int64[N], descriptors float32[N, D]) -> float32[N, S]`` scores of the sequence concepts.

    Models are loaded (and torch imported) on the first call, not when the search engine is built.
    """

    def __init__(self, directory: Path, catalog: Catalog, concepts: Sequence[SequenceConcept]) -> None:
        self.directory = Path(directory)
        self.catalog = catalog
        self.concepts = tuple(concepts)
        self._models: list[tuple[Any, int]] | None = None

    def __call__(self, ids: np.ndarray, descriptors: np.ndarray) -> np.ndarray:
        from mmir.learn.sequence import predict_scores

        out = np.zeros((len(ids), len(self.concepts)), np.float32)
        frames = shot_frames(self.catalog, [int(i) for i in ids])
        shots: dict[int, list[int]] = {}  # one entry per shot (keyframe rows of a shot share its frames)
        sequences: dict[int, np.ndarray] = {}
        for row, sid in enumerate(ids):
            found = frames.get(int(sid))
            if found is not None and len(found):
                shots.setdefault(id(found), []).append(row)
                sequences[id(found)] = found
        if not shots:
            return out
        models = self._load()
        keys = list(shots)
        for start in range(0, len(keys), SCORE_BATCH):
            chunk = keys[start : start + SCORE_BATCH]
            batch = [sequences[key] for key in chunk]
            for column, (model, label) in enumerate(models):
                scores = predict_scores(model, batch)[:, label]
                for key, score in zip(chunk, scores, strict=True):
                    out[shots[key], column] = score
        return out

    def _load(self) -> list[tuple[Any, int]]:
        if self._models is None:
            from mmir.learn.sequence import load_sequence_model

            loaded = []
            for concept in self.concepts:
                model, config = load_sequence_model(self.directory / concept.model)
                loaded.append((model, config.classes.index(concept.label)))
            self._models = loaded
        return self._models


def extra_concepts(collection: Collection, heads: ConceptHeads | None) -> tuple[tuple[str, ...], ExtraConcepts | None]:
    """Names (``user:NAME``) and scorer of every concept a user added: learned heads, then sequence concepts.

    This is what :attr:`mmir.api.Collection.engine` appends after the model's own concepts.
    """
    concepts = registered(collection.directory)
    names = tuple(f"{USER_PREFIX}{n}" for n in (heads.names if heads else ())) + tuple(
        f"{USER_PREFIX}{c.name}" for c in concepts
    )
    scorer = SequenceScorer(collection.directory, collection.store.catalog, concepts) if concepts else None
    if heads is None and scorer is None:
        return names, None

    def extra(ids: np.ndarray, descriptors: np.ndarray) -> np.ndarray:
        parts = [np.asarray(heads.predict_proba(descriptors), np.float32)] if heads is not None else []
        if scorer is not None:
            parts.append(scorer(ids, descriptors))
        return np.hstack(parts)

    return names, extra
