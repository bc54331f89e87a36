"""Vectors in Milvus through ``pymilvus``: Milvus Lite embedded (a ``.db`` file) or a Milvus server.

One Milvus collection per mmir collection, with two fields: the catalog segment id (primary key) and
the vector. Everything else (paths, segments, concepts, raw descriptors) stays in the SQLite catalog, so
hits are built exactly as with the local store. Like the local store, the index is chosen by size:
``FLAT`` (exact) up to :data:`~mmir.index.tuning.EXACT_MAX`, above it ``IVF_SQ8`` whose candidates are
re-ranked exactly from the catalog, with ``nprobe`` tuned for recall on a sample.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from mmir.errors import CollectionError, require
from mmir.index.builder import BATCH, RECALL_AT, StreamingTopK, VectorSource, tune_nprobe
from mmir.index.ivf import Fetch, rerank
from mmir.index.stores import DamagedStoreError, StoreAddress, StoreInfo, StoreKind
from mmir.index.tuning import TUNING_QUERIES, IndexKind, IndexPlan, choose_plan, needs_rebuild
from mmir.index.vectors import Metric

_ID, _VECTOR = "id", "vector"
_INSERT_ROWS = 2_000  # rows per insert call: keeps each gRPC message well under Milvus's 64 MB limit


def connect(address: StoreAddress) -> Any:
    """A ``MilvusClient`` for a Milvus Lite file (started in-process) or a server URI.

    Raises:
        CollectionError: one line: the Lite file's folder does not exist (it is never created silently: a typo
            in ``--store`` would otherwise scatter stores), the Lite file cannot be opened, or the server is
            unreachable.
    """
    pymilvus: Any = require("pymilvus", "scale")
    for library in ("pymilvus", "milvus_lite"):  # they log each failure with a traceback; mmir says it in one line
        logging.getLogger(library).setLevel(logging.CRITICAL)
    if address.kind is StoreKind.MILVUS_LITE:
        folder = os.path.dirname(address.location) or "."
        if not os.path.isdir(folder):
            raise CollectionError(f"{address.uri}: the folder {folder} does not exist (create it first)")
        try:
            return pymilvus.MilvusClient(address.location)
        except pymilvus.exceptions.MilvusException as exc:
            raise CollectionError(
                f"{address.uri}: cannot open the Milvus Lite store ({_message(exc)}); if it is damaged, move it "
                "aside and run `mmir index` to rebuild it from the catalog"
            ) from exc
    try:
        return pymilvus.MilvusClient(uri=address.location)
    except Exception as exc:  # pymilvus raises its own MilvusException for unreachable servers
        raise CollectionError(f"{address.uri}: cannot reach the Milvus server ({_message(exc)})") from exc


def _message(exc: BaseException) -> str:
    """A pymilvus error's message on one line, without the class name and status code around it."""
    text = str(getattr(exc, "message", "") or exc)
    return " ".join(text.split())[:300]


class MilvusStore:
    """A collection's vectors in Milvus.

    Args:
        address: Milvus Lite file or server.
        name: The Milvus collection name.
        metric: How vectors are compared.
        dim: Vector dimension.
        plan: The plan recorded in the manifest.
        fetch: Exact vectors of candidate ids (re-ranking for IVF).
        expected: The number of vectors the catalog says the store holds (its segment count): a loaded
            collection with another count is damaged (a broken Milvus Lite manifest silently emptied it).
    """

    def __init__(
        self, address: StoreAddress, name: str, metric: Metric, dim: int, plan: IndexPlan, fetch: Fetch,
        expected: Callable[[], int] | None = None,
    ) -> None:  # fmt: skip
        self.address = address
        self._expected = expected
        self.name = name
        self.metric = metric
        self._dim = dim
        self._plan = plan
        self.fetch = fetch
        self._client = connect(address)
        self._count: int | None = None  # cached row count; a count(*) query per search would cost a round trip

    @property
    def dim(self) -> int:
        """Vector dimension ``D``."""
        return self._dim

    @property
    def plan(self) -> IndexPlan:
        """The index structure in use and its tuning."""
        return self._plan

    @contextmanager
    def _reading(self, what: str) -> Iterator[None]:
        """Milvus's errors while ``what`` as one :class:`DamagedStoreError` line (its data files are unreadable)."""
        pymilvus: Any = require("pymilvus", "scale")
        try:
            yield
        except pymilvus.exceptions.MilvusException as exc:
            raise DamagedStoreError(self.address.uri, f"{what}: {_message(exc)}") from exc

    def load(self) -> bool:
        """Whether the Milvus collection exists with this dimension (then it is loaded for search).

        Raises:
            DamagedStoreError: Milvus cannot read it, or it holds another number of vectors than ``expected``.
        """
        with self._reading("opening the collection"):
            if not self._client.has_collection(self.name):
                return False
            fields = self._client.describe_collection(self.name).get("fields", [])
            dims = [int(f.get("params", {}).get("dim", 0)) for f in fields if f.get("name") == _VECTOR]
            if dims != [self._dim]:
                return False
            self._client.load_collection(self.name)
            count = len(self)
        expected = self._expected() if self._expected is not None else count
        if count != expected:
            raise DamagedStoreError(self.address.uri, f"{count} vectors for {expected} segments in the catalog")
        return True

    def _create(self, plan: IndexPlan) -> None:
        pymilvus: Any = require("pymilvus", "scale")
        try:
            exists = self._client.has_collection(self.name)
        except pymilvus.exceptions.MilvusException:  # its data files are unreadable: drop it all the same
            exists = True
        if exists:
            with self._reading("dropping the damaged collection"):
                self._client.drop_collection(self.name)
        self._count = None
        schema = self._client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field(_ID, pymilvus.DataType.INT64, is_primary=True)
        schema.add_field(_VECTOR, pymilvus.DataType.FLOAT_VECTOR, dim=self._dim)
        params = self._client.prepare_index_params()
        metric = "IP" if self.metric is Metric.INNER_PRODUCT else "L2"
        if plan.kind is IndexKind.EXACT:
            params.add_index(field_name=_VECTOR, index_type="FLAT", metric_type=metric)
        else:
            params.add_index(field_name=_VECTOR, index_type="IVF_SQ8", metric_type=metric, params={"nlist": plan.nlist})
        self._client.create_collection(self.name, schema=schema, index_params=params)
        self._plan = plan

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Upsert ``float32[N, D]`` vectors under ``int64[N]`` ids (upsert: a resync never duplicates)."""
        if not len(ids):
            return
        if not self._client.has_collection(self.name):
            self._create(self._plan)
        vectors = np.asarray(vectors, np.float32)
        if vectors.shape[1] != self._dim:
            raise CollectionError(f"vector dimension {vectors.shape[1]} does not match the store ({self._dim})")
        self._count = None
        for start in range(0, len(ids), _INSERT_ROWS):
            rows = [{_ID: int(i), _VECTOR: v.tolist()} for i, v in
                    zip(ids[start : start + _INSERT_ROWS], vectors[start : start + _INSERT_ROWS], strict=True)]
            self._client.upsert(self.name, rows)  # fmt: skip

    def remove(self, ids: np.ndarray) -> None:
        """Delete vectors by id (unknown ids are ignored)."""
        if len(ids) and self._client.has_collection(self.name):
            self._count = None
            self._client.delete(self.name, ids=[int(i) for i in ids])

    def search(self, queries: np.ndarray, k: int, nprobe: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``float32[Q, D]`` → ``(scores float32[Q, k'], ids int64[Q, k'])``, higher-is-better, best first."""
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        k = min(k, len(self))
        if k <= 0:
            empty = np.zeros((len(queries), 0))
            return empty.astype(np.float32), empty.astype(np.int64)
        if self._plan.kind is IndexKind.EXACT:
            return self._raw_search(queries, k, {})
        params = {"nprobe": nprobe or max(1, self._plan.nprobe)}
        _, candidates = self._raw_search(queries, max(k, self._plan.candidates), params)
        return rerank(queries, candidates, k, self.fetch, self.metric)

    def _raw_search(self, queries: np.ndarray, k: int, params: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
        metric = "IP" if self.metric is Metric.INNER_PRODUCT else "L2"
        with self._reading("searching"):
            results = self._client.search(
                self.name, data=queries.tolist(), limit=k, output_fields=[_ID],
                search_params={"metric_type": metric, "params": params},
            )  # fmt: skip
        scores = np.full((len(queries), k), -np.inf, np.float32)
        ids = np.full((len(queries), k), -1, np.int64)
        sign = 1.0 if self.metric is Metric.INNER_PRODUCT else -1.0  # Milvus L2 is a distance: negate
        for row, hits in enumerate(results):
            for col, hit in enumerate(hits[:k]):
                scores[row, col] = sign * float(hit["distance"])
                ids[row, col] = int(hit["id"])
        return scores, ids

    def rebuild(self, source: VectorSource) -> None:
        """Recreate the Milvus collection from ``source`` with the index its size calls for, and tune it."""
        size = source.count()
        plan = choose_plan(size, self._dim)
        self._create(plan)
        probe_ids, probes = source.sample(min(TUNING_QUERIES, size // 10), seed=0)
        truth = StreamingTopK(probes, probe_ids, RECALL_AT, self.metric)  # held out until tuned (see builder)
        for ids, vectors in source.batches(BATCH):
            keep = ~np.isin(ids, probe_ids)
            self.add(ids[keep], vectors[keep])
            truth.update(ids[keep], vectors[keep])
        self.save()
        self._wait_for_index()
        self._client.release_collection(self.name)  # reload: searches must see the sealed, indexed segments
        self._client.load_collection(self.name)
        nprobe, recall = tune_nprobe(self, truth) if plan.kind is IndexKind.IVF else (0, 1.0)
        self.add(probe_ids, probes)
        self.save()
        self._plan = plan.tuned(nprobe, recall, size)

    def _wait_for_index(self, timeout_s: float = 600.0) -> None:
        """Block until Milvus has indexed every row (else tuning would measure a brute-force scan)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            state = self._client.describe_index(self.name, _VECTOR)
            if int(state.get("pending_index_rows", 0)) == 0 and state.get("state", "Finished") == "Finished":
                return
            time.sleep(0.2)
        raise CollectionError(f"{self.address.uri}: Milvus did not finish indexing {self.name} in {timeout_s:.0f} s")

    def maintain(self, source: VectorSource) -> bool:
        """Rebuild when the collection crossed the exact threshold or outgrew its training."""
        if needs_rebuild(self._plan, source.count()):
            self.rebuild(source)
            return True
        return False

    def save(self) -> None:
        """Ask Milvus to seal and persist what was written."""
        if self._client.has_collection(self.name):
            self._client.flush(self.name)

    def describe(self) -> StoreInfo:
        """Type, memory (0: Milvus holds it), expected recall, last tuning."""
        plan = self._plan
        kind = "FLAT" if plan.kind is IndexKind.EXACT else (
            f"IVF_SQ8 nlist {plan.nlist}+rerank{plan.candidates} (nprobe {plan.nprobe})"
        )  # fmt: skip
        return StoreInfo(store=self.address.uri, index_type=f"Milvus {kind}", memory_bytes=0,
                         expected_recall=self._plan.expected_recall, last_tuning=self._plan.tuned_at)  # fmt: skip

    def ids(self) -> np.ndarray:
        """All stored ids, ``int64[N]`` (for tests and checks; reads them all)."""
        if not self._client.has_collection(self.name):
            return np.zeros(0, np.int64)
        rows = self._client.query(self.name, filter=f"{_ID} >= 0", output_fields=[_ID], limit=16_384)
        return np.sort(np.asarray([int(r[_ID]) for r in rows], np.int64))

    def close(self) -> None:
        """Close the connection (Milvus Lite stops its in-process server)."""
        self._client.close()

    def __len__(self) -> int:
        if self._count is None:
            rows = []
            with self._reading("counting vectors"):
                if self._client.has_collection(self.name):
                    rows = self._client.query(self.name, filter="", output_fields=["count(*)"])
            self._count = int(rows[0]["count(*)"]) if rows else 0
        return self._count
