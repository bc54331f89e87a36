"""Opens the vector store a manifest names (FAISS files here, or Milvus), importing Milvus only when used."""

from __future__ import annotations

import hashlib
from pathlib import Path

from mmir.index.builder import VectorSource
from mmir.index.local_store import FaissStore
from mmir.index.manifest import Manifest
from mmir.index.stores import StoreKind, VectorStore, parse_store
from mmir.index.tuning import IndexPlan
from mmir.index.vectors import Metric


def milvus_collection_name(directory: Path) -> str:
    """A Milvus collection name unique to a collection directory (letters, digits and ``_`` only)."""
    digest = hashlib.sha1(str(Path(directory).absolute()).encode()).hexdigest()[:12]
    return f"mmir_{digest}"


def open_vector_store(manifest: Manifest, path: Path, plan: IndexPlan, source: VectorSource) -> VectorStore:
    """The (not yet loaded) vector store of a collection.

    Args:
        manifest: Its ``store``, ``store_collection`` and ``metric`` are used.
        path: The FAISS file for the local store.
        plan: The index plan recorded with what was saved.
        source: The catalog's vectors (dimension and exact re-ranking).
    """
    address = parse_store(manifest.store)
    metric = Metric(manifest.metric)
    if address.kind is StoreKind.FAISS:
        return FaissStore(path, metric, source.dim, plan, source.fetch)
    from mmir.index.milvus_store import MilvusStore

    name = manifest.store_collection or milvus_collection_name(path.parent)
    return MilvusStore(address, name, metric, source.dim, plan, source.fetch, expected=source.count)
