"""Where a collection's vectors live: the :class:`VectorStore` protocol and the store addresses.

Two implementations: local FAISS files in the collection directory (the default) and Milvus through
``pymilvus`` — ``milvus:PATH.db`` runs Milvus Lite embedded, ``milvus://host:port`` reaches a server. In
both the SQLite catalog stays the source of truth (paths, segments, concepts, raw descriptors); the vector
store only maps catalog segment ids to vectors, so hits are built the same way whatever the store.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from mmir.errors import CollectionError
from mmir.index.builder import VectorSource
from mmir.index.tuning import IndexPlan

DEFAULT_STORE = "faiss"


class DamagedStoreError(CollectionError):
    """The vector store cannot be read, or holds other vectors than the catalog has segments.

    The catalog is the source of truth, so nothing indexed is lost: the writer (``mmir index``) rebuilds the store
    from the stored descriptors; a reader (search) stops with this one line.

    Attributes:
        store: The store's address (``milvus:/path/v.db``).
        damage: What is wrong, e.g. ``"0 vectors for 5 segments"``.
    """

    def __init__(self, store: str, damage: str) -> None:
        self.store = store
        self.damage = damage
        super().__init__(f"{store}: the vector store is damaged ({damage}); run `mmir index` to rebuild it from "
                         "the catalog (nothing indexed is lost)")  # fmt: skip

    def __reduce__(self) -> tuple[type[DamagedStoreError], tuple[str, str]]:
        return DamagedStoreError, (self.store, self.damage)


class StoreKind(str, enum.Enum):
    """The closed set of vector store implementations."""

    FAISS = "faiss"
    MILVUS_LITE = "milvus-lite"
    MILVUS_SERVER = "milvus-server"


@dataclass(frozen=True)
class StoreAddress:
    """A parsed ``--store`` value.

    Attributes:
        kind: Which implementation.
        location: The Milvus Lite database file (absolute) or the server URI (``http://host:port``); "" for FAISS.
    """

    kind: StoreKind
    location: str = ""

    @property
    def uri(self) -> str:
        """The canonical form recorded in the manifest."""
        if self.kind is StoreKind.FAISS:
            return DEFAULT_STORE
        if self.kind is StoreKind.MILVUS_LITE:
            return f"milvus:{self.location}"
        return "milvus://" + self.location.removeprefix("http://")


def parse_store(value: str, base: Path | None = None) -> StoreAddress:
    """Parse ``faiss``, ``milvus:PATH.db`` (relative to ``base`` or the working directory) or ``milvus://host:port``.

    Raises:
        CollectionError: for anything else, or a ``PATH.db`` in a folder that does not exist.
    """
    value = value.strip()
    if value in ("", DEFAULT_STORE):
        return StoreAddress(StoreKind.FAISS)
    if value.startswith("milvus://"):
        hostport = value.removeprefix("milvus://").rstrip("/")
        host, _, port = hostport.rpartition(":")
        if not host or not port.isdigit():
            raise CollectionError(f"--store {value}: expected milvus://HOST:PORT (e.g. milvus://localhost:19530)")
        return StoreAddress(StoreKind.MILVUS_SERVER, f"http://{hostport}")
    if value.startswith("milvus:"):
        path = Path(value.removeprefix("milvus:")).expanduser()
        if not path.name.endswith(".db"):
            raise CollectionError(f"--store {value}: a Milvus Lite store is a file ending in .db (milvus:./vectors.db)")
        path = path if path.is_absolute() else (base or Path.cwd()) / path
        if not path.parent.is_dir():  # never created silently: a typo in the path would scatter stores around
            raise CollectionError(f"--store {value}: the folder {path.parent} does not exist (create it first)")
        return StoreAddress(StoreKind.MILVUS_LITE, str(path.absolute()))
    raise CollectionError(f"--store {value}: expected faiss, milvus:PATH.db or milvus://HOST:PORT")


@dataclass(frozen=True)
class StoreInfo:
    """What ``mmir info`` says about the vector store.

    Attributes:
        store: The store address (``faiss``, ``milvus:/path/vectors.db``, ``milvus://host:port``).
        index_type: The index structure, e.g. ``Flat`` or ``IVF1024,PCA256,SQ8+rerank200 (nprobe 16)``.
        memory_bytes: Bytes the index keeps in this process (0 when a server holds it).
        expected_recall: Recall@10 against exact search measured when last tuned (1.0 when exact).
        last_tuning: When the index was last chosen/trained (ISO 8601 UTC), "" if never.
    """

    store: str
    index_type: str
    memory_bytes: int
    expected_recall: float
    last_tuning: str


class VectorStore(Protocol):
    """What :class:`~mmir.index.store.SegmentStore` needs from a vector store (ids are catalog segment ids)."""

    @property
    def dim(self) -> int:
        """Vector dimension ``D``."""
        ...

    @property
    def plan(self) -> IndexPlan:
        """The index structure in use and its tuning."""
        ...

    def load(self) -> bool:
        """Open what was saved for the recorded plan; False if there is nothing usable (then :meth:`rebuild`)."""
        ...

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add ``float32[N, D]`` vectors under ``int64[N]`` ids."""
        ...

    def remove(self, ids: np.ndarray) -> None:
        """Remove vectors by id (unknown ids are ignored)."""
        ...

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``float32[Q, D]`` → ``(scores float32[Q, k'], ids int64[Q, k'])``, higher-is-better, best first."""
        ...

    def rebuild(self, source: VectorSource) -> None:
        """Replace the whole contents from ``source``, choosing and tuning the index for its size."""
        ...

    def maintain(self, source: VectorSource) -> bool:
        """Rebuild if the collection's size now calls for another index (or re-training); True if it did."""
        ...

    def save(self) -> None:
        """Make everything added or removed so far durable."""
        ...

    def describe(self) -> StoreInfo:
        """Type, memory, expected recall, last tuning."""
        ...

    def close(self) -> None:
        """Release connections and mappings."""
        ...

    def __len__(self) -> int: ...
