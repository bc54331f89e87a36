"""The index: SQLite catalog + FAISS vectors sharing one integer id per segment, and the manifest.

Only this package knows SQL and FAISS ids; the rest of mmir talks to :class:`SegmentStore`.
"""

from __future__ import annotations

from mmir.index.catalog import Catalog, MediaRecord
from mmir.index.manifest import Manifest
from mmir.index.store import SegmentStore
from mmir.index.vectors import FaissIndex, Metric, VectorIndex

__all__ = ["Catalog", "FaissIndex", "Manifest", "MediaRecord", "Metric", "SegmentStore", "VectorIndex"]
