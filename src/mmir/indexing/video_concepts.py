"""Trained sequence models as concept detectors over a collection's indexed shots, scored from stored frames.

A model from ``mmir train sequence`` (:mod:`mmir.learn.sequence`) is registered under a concept name with
one of its classes; the concept's score for a video shot is that class's probability given the shot's sampled
frame descriptors, which indexing stored (catalog step 4, :mod:`mmir.index.frames`). Nothing is decoded: a shot
is scored from ``float16`` descriptors already in the catalog. Photos (no frames) score 0.

**Scored when registered and when indexed, read at query time**: registering a concept scores every indexed
shot, and each indexing run scores the shots it added (:func:`update_scores`); the scores are stored per segment
(:mod:`mmir.index.sequence_scores`, recorded in the ledger as producer ``sequence:NAME``). Search reads them as
extra columns after the model's concepts (``user:NAME``), like the user concepts learned with ``mmir train
concepts``, so a keyword search never imports torch (4 s and 600 MB before). A model registered again under the
same name drops the old scores first; a shot without a stored score is still scored at query time (with torch).

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
STORE_BATCH = 4096  # segments scored and stored per transaction by update_scores


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
    from mmir.index import sequence_scores

    sequence_scores.forget(collection.store.catalog, name)  # an earlier model of that name scored otherwise
    update_scores(collection, [concept])  # now, so that searches read stored scores (no torch)
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
    from mmir.index import sequence_scores

    sequence_scores.forget(collection.store.catalog, name)
    return gone


def _save_registry(collection: Collection, concepts: Sequence[SequenceConcept]) -> None:
    """Write the collection's list of sequence concepts and make search see it at once."""
    rows = [asdict(c) for c in concepts]
    (collection.directory / REGISTRY).write_text(json.dumps(rows, indent=1), encoding="utf-8")
    collection.invalidate_search()


class SequenceScorer:
    """``(segment ids int64[N], descriptors float32[N, D]) -> float32[N, S]`` scores of the sequence concepts.

    Scores are read from the catalog (:mod:`mmir.index.sequence_scores`), stored when the concept was registered
    and after each indexing run, so a keyword search neither runs nor imports torch. A video shot without a
    stored score (indexed by an older mmir) is scored here, loading the models (and torch) on first need.
    """

    def __init__(self, directory: Path, catalog: Catalog, concepts: Sequence[SequenceConcept]) -> None:
        self.directory = Path(directory)
        self.catalog = catalog
        self.concepts = tuple(concepts)
        self._models: list[tuple[Any, int]] | None = None

    def __call__(self, ids: np.ndarray, descriptors: np.ndarray) -> np.ndarray:
        from mmir.index import sequence_scores

        ids = np.asarray(ids, np.int64)
        out = sequence_scores.lookup(self.catalog, [c.name for c in self.concepts], ids.tolist())
        lacking = np.isnan(out).any(axis=1)
        if lacking.any():
            videos = sequence_scores.video_segments(self.catalog, ids[lacking].tolist())
            rows = [row for row in np.flatnonzero(lacking) if int(ids[row]) in videos]
            if rows:
                computed = self.compute(ids[rows])
                out[rows] = np.where(np.isnan(out[rows]), computed, out[rows])
        return np.nan_to_num(out, nan=0.0)

    def compute(self, ids: np.ndarray) -> np.ndarray:
        """Score ``int64[N]`` segments from their stored frames with the models (torch): ``float32[N, S]``."""
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


def update_scores(collection: Collection, concepts: Sequence[SequenceConcept] | None = None) -> int:
    """Score and store every indexed video shot that lacks a stored score of a registered concept.

    Called when a concept is registered and after each indexing run; torch is loaded only when some shot
    needs scoring. Returns the number of (segment, concept) scores stored.
    """
    from mmir.index import sequence_scores

    catalog, stored = collection.store.catalog, 0
    for concept in registered(collection.directory) if concepts is None else concepts:
        todo = sequence_scores.unscored(catalog, concept.name)
        if not todo:
            continue  # nothing to score: torch is not imported
        scorer = SequenceScorer(collection.directory, catalog, [concept])
        setting = _model_hash(collection.directory / concept.model)
        for start in range(0, len(todo), STORE_BATCH):
            ids = np.asarray(todo[start : start + STORE_BATCH], np.int64)
            scores = scorer.compute(ids)[:, 0]
            sequence_scores.store(catalog, concept.name, zip(ids.tolist(), scores.tolist(), strict=True), setting)
            stored += len(ids)
    return stored


def _model_hash(model_dir: Path) -> str:
    """A short hash of a sequence model's weights (the ledger setting of its scores)."""
    import hashlib

    from mmir.learn.sequence import WEIGHTS_FILE  # imports torch: only called when shots are to be scored

    try:
        return hashlib.sha1((model_dir / WEIGHTS_FILE).read_bytes()).hexdigest()[:12]
    except OSError:
        return "unknown"


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
