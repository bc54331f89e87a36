"""Learning on a collection's stored descriptors: PCA-whitening, user concepts, weakly supervised concepts.

These are the bodies of :class:`mmir.api.Collection`'s learning methods, kept here so that the API module stays a
thin facade. Nothing here decodes an indexed file again: stored descriptors are read from the catalog.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mmir.errors import CollectionError
from mmir.media import load_for_model

if TYPE_CHECKING:
    import numpy as np

    from mmir.api import Collection
    from mmir.index.catalog import Catalog
    from mmir.learn.concept_heads import ConceptHeads
    from mmir.learn.labels_csv import LabelledPath
    from mmir.learn.robust_heads import RobustConfig
    from mmir.learn.weak_labels import WeakExample, WeakTraining

USER_CONCEPTS = "user-concepts"  # stem of the .npz/.json pair of learned concept heads
PCA_FILE = "pca.npz"
# PCA(-whitening) is learned on at most this many descriptors (~0.5 GB at 1,280-d): bounded memory at any size,
# and far more samples than a 1,280-d covariance needs to be stable.
PCA_SAMPLE = 100_000
PCA_MIN_RATIO = 10  # fewer vectors than 10x the output dimension: warn (the covariance is poorly estimated)


@dataclass(frozen=True)
class PcaFit:
    """The PCA a collection now applies (``mmir info`` shows it; the ledger records it as the ``pca`` producer).

    Attributes:
        dim: Output dimension.
        whiten: Whitened (else plain PCA).
        fitted_on: Number of descriptors it was learned from.
    """

    dim: int
    whiten: bool
    fitted_on: int

    @property
    def setting(self) -> str:
        """The ledger setting, e.g. ``256-d whitened``."""
        return f"{self.dim}-d {'whitened' if self.whiten else 'plain'}"

    @property
    def warning(self) -> str | None:
        """Why it may be unreliable: fitted on fewer than :data:`PCA_MIN_RATIO` × its dimension vectors."""
        if self.fitted_on < 0 or self.fitted_on >= PCA_MIN_RATIO * self.dim:
            return None
        return (
            f"PCA to {self.dim} dimensions was fitted on only {self.fitted_on} vectors (fewer than "
            f"{PCA_MIN_RATIO}x {self.dim}): its directions are poorly estimated and near-duplicates may be missed; "
            "use a smaller --pca, learn it on a larger collection (--pca-from), or remove it (--pca none)"
        )


def learn_pca(
    collection: Collection, dim: int | None, whiten: bool = True, shrinkage: float = 0.0, training: Path | None = None
) -> PcaFit | None:
    """Learn PCA(-whitening) to ``dim``, re-derive the vector index, and record it in the ledger.

    No CNN pass: the catalog keeps the raw descriptors. ``dim=None`` removes the projection (returns ``None``).

    Args:
        dim: Output dimension, or ``None`` to go back to the raw descriptors.
        whiten: Whiten (else plain PCA).
        shrinkage: Eigenvalue shrinkage of the whitening (see :class:`~mmir.models.pca.PCAWhitening`).
        training: Another collection, built with the same model, whose descriptors the projection is
            learned on (e.g. a large independent set, as Jégou & Chum 2012 advise); default: this one.

    Raises:
        CollectionError: if ``training`` is not a collection of the same model.
    """
    from mmir.index import ledger

    catalog = collection.store.catalog
    if dim is None:
        collection.store.manifest = collection.manifest.with_changes(pca=None)
        collection.store.rebuild_vectors(None)
        ledger.forget_producer(catalog, ledger.PCA)
        collection.invalidate_search()
        return None
    from mmir.models.pca import PCAWhitening

    descriptors = _training_descriptors(collection, training)
    pca = PCAWhitening.fit(descriptors, dim, whiten=whiten, shrinkage=shrinkage)
    pca.save(collection.directory / PCA_FILE)
    collection.store.manifest = collection.manifest.with_changes(pca=PCA_FILE)
    collection.store.rebuild_vectors(pca.transform)
    fit = PcaFit(dim, whiten, len(descriptors))
    detail = {"dim": dim, "whiten": whiten, "fitted_on": fit.fitted_on, "trained_on": str(training or "itself")}
    ledger.record_producer(catalog, ledger.Producer(ledger.PCA, fit.setting, detail))
    collection.invalidate_search()
    return fit


def recorded_pca(collection: Collection) -> PcaFit | None:
    """The PCA the collection applies, from the ledger (a PCA learned before the ledger: from its file)."""
    from mmir.index import ledger

    if collection.manifest.pca is None:
        return None
    found = ledger.producer(collection.store.catalog, ledger.PCA)
    if found is not None:
        detail = found.detail
        return PcaFit(int(str(detail["dim"])), bool(detail["whiten"]), int(str(detail["fitted_on"])))
    from mmir.models.pca import PCAWhitening

    pca = PCAWhitening.load(collection.directory / collection.manifest.pca)
    return PcaFit(pca.dim, pca.whiten, -1)  # -1: how many vectors it was fitted on was not recorded


def _training_descriptors(collection: Collection, training: Path | None) -> np.ndarray:
    """Raw descriptors ``float32[N, D]`` of this collection, or of ``training`` (same model only).

    At most :data:`PCA_SAMPLE` of them, drawn at random, so memory stays bounded on large collections.
    """
    if training is None or Path(training).absolute() == collection.directory:
        return _descriptor_sample(collection.store.catalog, PCA_SAMPLE)
    with type(collection).open(training) as other:  # not `from mmir.api import Collection`: no api ↔ helper cycle
        if other.manifest.fingerprint != collection.manifest.fingerprint:
            raise CollectionError(
                f"{training}: built with {other.manifest.model!r} ({other.manifest.fingerprint}), not this "
                f"collection's {collection.manifest.fingerprint}; PCA must be learned on descriptors of the same model"
            )
        return _descriptor_sample(other.store.catalog, PCA_SAMPLE)


def user_concepts(collection: Collection) -> ConceptHeads | None:
    """The concepts learned for this collection with :meth:`learn_concepts`, if any."""
    path = collection.directory / f"{USER_CONCEPTS}.json"
    if not path.exists():
        return None
    from mmir.learn.concept_heads import ConceptHeads

    return ConceptHeads.load(path)


def learn_concepts(
    collection: Collection, examples: Sequence[LabelledPath], negatives: int = 500, seed: int = 0
) -> ConceptHeads:
    """Learn concepts from labelled files on frozen descriptors and add them to the vocabulary.

    Labelled files already indexed reuse their stored descriptors; others are encoded. Up to
    ``negatives`` random indexed items (not among the examples) are added as negatives for every
    concept. Concepts learned earlier under other names are kept; the same name is replaced. A label fewer
    than two files carry is left out (:func:`mmir.learn.labels_csv.learnable` says which; the CLI prints it).

    Raises:
        DataError: no label is carried by two files.
    """
    import numpy as np

    from mmir.learn.concept_heads import train_concept_heads
    from mmir.learn.labels_csv import MIN_POSITIVES, DataError, learnable

    examples, skipped = learnable(list(examples))
    if not any(example.labels for example in examples):
        too_few = f" (too few files: {', '.join(skipped)})" if skipped else ""
        raise DataError(f"no label is carried by {MIN_POSITIVES} or more files{too_few}")

    descriptors, media_ids = _example_descriptors(collection, [example.path for example in examples])
    all_ids = collection.store.catalog.media_ids()  # ids only (8 bytes a file); descriptors of the chosen alone
    rng = np.random.default_rng(seed)
    pool = np.flatnonzero(~np.isin(all_ids, list(media_ids)))
    chosen = rng.choice(pool, size=min(negatives, len(pool)), replace=False) if len(pool) else pool
    _, negative_descriptors = collection.store.catalog.media_descriptors_by_ids(all_ids[chosen])
    heads = train_concept_heads(
        descriptors, [example.labels for example in examples], negatives=negative_descriptors, seed=seed
    )
    _add_user_concepts(collection, heads)
    return heads


def learn_weak_concepts(
    collection: Collection, examples: Sequence[WeakExample], config: RobustConfig | None = None, min_examples: int = 5
) -> WeakTraining:
    """Learn noise-robust concepts from weak labels (tags, folders, file names) on stored descriptors.

    Only files already in the collection are used, through their stored descriptors: nothing is decoded.
    The learned concepts join the user concepts (same storage as :meth:`learn_concepts`), so keyword search
    finds them at once; see :mod:`mmir.learn.robust_heads` for the method and the suspects report.

    Raises:
        DataError: if no label is left with ``min_examples`` indexed files.
    """
    import numpy as np

    from mmir.learn.robust_heads import RobustConfig, train_robust_heads
    from mmir.learn.weak_labels import WeakTraining, keep_learnable

    catalog = collection.store.catalog
    records = [catalog.lookup(os.path.abspath(example.path)) for example in examples]
    wanted = [record.id for record in records if record is not None]
    found_ids, found = catalog.media_descriptors_by_ids(wanted)  # only the labelled files' descriptors
    row_of = {int(media_id): row for row, media_id in enumerate(found_ids)}
    rows, indexed = [], []
    for example, record in zip(examples, records, strict=True):
        if record is not None and record.id in row_of:
            rows.append(row_of[record.id])
            indexed.append(example)
    kept, dropped = keep_learnable(indexed, min_examples)
    result = train_robust_heads(found[np.asarray(rows, np.int64)], [e.labels for e in kept], config or RobustConfig())
    _add_user_concepts(collection, result.heads)
    return WeakTraining(result, tuple(e.path for e in kept), dropped, len(examples) - len(indexed))


def _add_user_concepts(collection: Collection, heads: ConceptHeads) -> None:
    """Merge ``heads`` into the collection's user concepts (same names replaced) and save them."""
    earlier = user_concepts(collection)
    merged = earlier.merged_with(heads) if earlier is not None else heads
    merged.save(collection.directory / f"{USER_CONCEPTS}.json")
    collection.invalidate_search()


def _example_descriptors(collection: Collection, paths: Sequence[Path]) -> tuple[np.ndarray, set[int]]:
    """``float32[N, D]`` raw descriptors of ``paths`` and the media ids of those already indexed."""
    import numpy as np

    rows, known = [], set()
    for path in paths:
        record = collection.store.catalog.lookup(os.path.abspath(path))
        if record is not None:
            known.add(record.id)
            rows.append(collection.store.catalog.descriptor_of_media(record.id).mean(axis=0))
        else:
            image = load_for_model(path, collection.encoder.input_side)
            rows.append(collection.encoder.encode([image]).descriptors[0])
    return np.stack(rows).astype(np.float32), known


def _descriptor_sample(catalog: Catalog, limit: int, seed: int = 0) -> np.ndarray:
    """Raw descriptors ``float32[min(N, limit), D]`` of a seeded random subset of the catalog's segments."""
    import numpy as np

    ids = catalog.segment_ids()
    if len(ids) > limit:
        ids = np.sort(np.random.default_rng(seed).choice(ids, size=limit, replace=False))
    return catalog.descriptors_by_ids(ids)[1]
