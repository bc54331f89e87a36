"""What a collection holds, for ``mmir info``: counts, model, sizes, and every producer of derived data with its
coverage (the ledger), those not run yet included, then what each saved index matches."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mmir.api import Collection


@dataclass(frozen=True)
class CollectionInfo:
    """What a collection holds (``mmir info``)."""

    directory: str
    model: str
    fingerprint: str
    dim: int
    metric: str
    index_type: str
    media: int
    segments: int
    vectors: int
    concepts: int
    bytes_indexed: int
    bytes_on_disk: int
    store: str = "faiss"
    index_memory_bytes: int = 0
    expected_recall: float = 1.0
    last_tuning: str = ""
    pca: str = "none"
    producers: tuple[str, ...] = ()
    failed: int = 0


def collection_info(collection: Collection) -> CollectionInfo:
    """:meth:`mmir.api.Collection.info`."""
    from mmir.collection.learning import recorded_pca
    from mmir.index import ledger, visible_text

    media, segments = collection.store.catalog.counts()
    manifest = collection.manifest
    vectors = collection.store.describe_vectors()
    fit = recorded_pca(collection)
    pca = "none" if fit is None else fit.setting + (f", fitted on {fit.fitted_on} vectors" if fit.fitted_on >= 0
                                                      else "")  # fmt: skip
    catalog = collection.store.catalog  # every producer, those not run yet too, then what the saved indexes match
    ran = ledger.coverage(catalog)
    producers = tuple(f"{c.producer}: {c}" for c in [*ran, *ledger.not_run(catalog, ran)])
    producers += tuple(f"{a.name}: {a.setting}" for a in ledger.artifacts(catalog))
    producers += visible_text.summary(collection.store.catalog)  # how many files show text / have speech
    return CollectionInfo(
        directory=str(collection.directory), model=manifest.model, fingerprint=manifest.fingerprint,
        dim=manifest.dim, metric=manifest.metric, index_type=vectors.index_type, media=media,
        segments=segments, vectors=len(collection.store.vectors), concepts=len(manifest.concept_names),
        bytes_indexed=collection.store.catalog.bytes_indexed(), bytes_on_disk=sum(collection.store.sizes().values()),
        store=vectors.store, index_memory_bytes=vectors.memory_bytes, expected_recall=vectors.expected_recall,
        last_tuning=vectors.last_tuning, pca=pca, producers=producers, failed=ledger.failure_count(catalog),
    )  # fmt: skip
