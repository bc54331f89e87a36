"""Distributed extraction with Ray Data: an actor pool reads, decodes and encodes; this process stores.

Ray Data turns the list of pending files into a dataset and runs ``map_batches`` with :class:`EncodeActor`,
a class, so each actor loads the model once. Results stream back (as actors finish batches) to the one
catalog writer — this process — which stores each file in its own committed transaction, exactly as the
in-process pipeline does. A run stopped at any point keeps every stored file and resumes like any run; an
actor that dies is restarted by Ray and its batch retried, so nothing is lost.

Files must be reachable by every Ray worker at the same path (one machine, or a shared mount): the run checks
a sample of paths on the workers first and refuses clearly when they cannot read them. Other media kinds
(video) are analysed in this process, by their handlers, as usual.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np

from mmir.errors import CollectionError, MmirError, require
from mmir.index.catalog import MediaRecord, SegmentEncoding
from mmir.indexing.batches import Prepared
from mmir.indexing.pipeline import Indexer
from mmir.indexing.types import IndexOptions, IndexProblem
from mmir.media import (
    FileEntry,
    ImageLimits,
    MediaError,
    UnreadableMediaError,
    decode_for_model,
    display_path,
    read_file,
    sha1_bytes,
)
from mmir.types import MediaKind

if TYPE_CHECKING:
    from mmir.index.store import SegmentStore
    from mmir.models.encoder import Encoder

REACHABILITY_SAMPLE = 20
CONNECT_TIMEOUT_S = 5.0  # a ray:// address is probed this long before Ray's own client retries (~30 s) start


class EncodeActor:
    """A Ray Data actor: loads the collection's encoder once, then reads, decodes and encodes batches.

    Args:
        model: The manifest's model name; ``options`` its options; ``fingerprint`` the collection's (checked).
        limits: Size limits, as in the in-process pipeline.
    """

    def __init__(self, model: str, options: dict[str, str], fingerprint: str, limits: ImageLimits) -> None:
        from mmir.models import load_encoder

        self.encoder: Encoder = load_encoder(model, fingerprint=fingerprint, **options)
        self.limits = limits

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``{"path": str[B]}`` → path, sha1, problem, remember, descriptor ``float32[B, D]``, concepts ``[B, C]``."""
        paths = [str(p) for p in batch["path"]]
        sha1s, problems, remember, arrays = [""] * len(paths), [""] * len(paths), [False] * len(paths), {}
        for row, path in enumerate(paths):
            try:
                data = read_file(path, limits=self.limits)
                sha1s[row] = sha1_bytes(data)
                image = decode_for_model(data, path, self.encoder.input_side, limits=self.limits)
                arrays[row] = self.encoder.preprocess(image)
            except MediaError as error:
                problems[row], remember[row] = error.reason, not isinstance(error, UnreadableMediaError)
        descriptors = np.zeros((len(paths), self.encoder.dim), np.float32)
        concepts = np.zeros((len(paths), len(self.encoder.concept_names)), np.float32)
        if arrays:
            rows = sorted(arrays)
            encoded = self.encoder.encode_batch(np.stack([arrays[r] for r in rows]))
            descriptors[rows], concepts[rows] = encoded.descriptors, encoded.concepts
        return {"path": np.asarray(paths), "sha1": np.asarray(sha1s), "problem": np.asarray(problems),
                "remember": np.asarray(remember), "descriptor": descriptors, "concepts": concepts}  # fmt: skip


def connect(address: str | None, workers: int) -> Any:
    """``ray.init`` a local cluster with ``workers`` CPUs, or join ``ray://host:port``; returns the module.

    Raises:
        CollectionError: one line, within :data:`CONNECT_TIMEOUT_S`, when nothing answers at ``host:port``, or
            when Ray cannot start or join the cluster.
    """
    ray: Any = require("ray", "distributed")
    if ray.is_initialized():
        return ray
    if address is not None:
        probe(address)
    try:
        if address is None:
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
        else:
            ray.init(address=address, log_to_driver=False)
    except Exception as exc:  # Ray raises ConnectionError, RuntimeError, ValueError, its own errors, ...
        where = f"join the Ray cluster at {address}" if address else "start a local Ray cluster"
        raise CollectionError(f"--executor {address or 'ray'}: cannot {where} ({_one_line(exc)})") from exc
    return ray


def probe(address: str, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """Refuse ``ray://host:port`` in one line when nothing accepts a TCP connection there (Ray would retry ~30 s).

    Raises:
        CollectionError: naming the address and the reason.
    """
    from mmir.index.reachable import unreachable

    failed = unreachable(address, 10001, timeout_s)  # 10001: the Ray client's default port
    if failed is not None:
        host, port, reason = failed
        raise CollectionError(
            f"--executor {address}: no Ray cluster answers at {host}:{port} ({reason}); start one (ray start "
            "--head) or index without --executor"
        )


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300] or type(exc).__name__


def check_reachable(ray: Any, paths: Sequence[str]) -> None:
    """Refuse (one line) when the Ray workers cannot read the files at these paths."""
    sample = list(paths[:: max(1, len(paths) // REACHABILITY_SAMPLE)])[:REACHABILITY_SAMPLE]
    readable = ray.get(ray.remote(num_cpus=0)(_readable).remote(sample))
    missing = [path for path, ok in zip(sample, readable, strict=True) if not ok]
    if missing:
        raise CollectionError(
            f"{display_path(missing[0])}: not readable from the Ray workers ({len(missing)} of {len(sample)} sampled "
            "files); every worker must see the files at the same path (one machine or a shared mount)"
        )


def _readable(paths: list[str]) -> list[bool]:
    return [os.access(path, os.R_OK) for path in paths]


class RayIndexer(Indexer):
    """The indexing pipeline with images read, decoded and encoded by a Ray Data actor pool.

    Args:
        store: The collection's store (its writer lock should be held); its manifest names the model.
        encoder: Returns the encoder (used only by media handlers that run in this process).
        options: As for :class:`~mmir.indexing.pipeline.Indexer` (``batch_size``: images per actor call).
        address: ``None`` for a local Ray cluster, or ``ray://host:port``.
        workers: Actors (and CPUs of a local cluster).
        actor: The actor class that reads, decodes and encodes (constructed with :class:`EncodeActor`'s arguments).
    """

    def __init__(self, store: SegmentStore, encoder: Callable[[], Encoder], options: IndexOptions,
                 address: str | None = None, workers: int = 2,
                 actor: type[EncodeActor] = EncodeActor) -> None:  # fmt: skip
        if options.channels:
            raise MmirError("the Ray executor does not compute extra descriptor channels; index without --executor")
        super().__init__(store, encoder, options)
        self.address = address
        self.workers = workers
        self.actor = actor
        self._remote_encoded: set[str] = set()  # paths whose stored segments an actor encoded

    def _take(self, item: Prepared, batch: Any, counts: Any, report: Callable[[IndexProblem], None]) -> None:
        if item.entry.path in self._remote_encoded:
            counts.encoded += 1  # the in-process path counts in its encode step, which actors replace
        super()._take(item, batch, counts, report)

    def _prepared(
        self, pool: ThreadPoolExecutor, pending: list[tuple[FileEntry, MediaRecord | None]]
    ) -> Iterator[list[Prepared]]:
        images = [item for item in pending if item[0].kind is MediaKind.IMAGE]
        others = [item for item in pending if item[0].kind is not MediaKind.IMAGE]
        if others:  # video and other handlers keep running here, in the usual worker threads
            yield from super()._prepared(pool, others)
        if images:
            yield from self._remote(images)

    def _remote(self, items: list[tuple[FileEntry, MediaRecord | None]]) -> Iterator[list[Prepared]]:
        ray = connect(self.address, self.workers)
        by_path = {entry.path: (entry, record) for entry, record in items}
        entries = dict(by_path)
        check_reachable(ray, list(by_path))
        manifest = self.store.manifest
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = self.options.progress  # otherwise Ray Data logs progress lines to stderr
        context.print_on_execution_start = self.options.progress
        dataset = ray.data.from_items([{"path": path} for path in by_path]).map_batches(
            self.actor, batch_size=self.options.batch_size or 16, num_cpus=1,
            compute=ray.data.ActorPoolStrategy(size=self.workers),
            fn_constructor_kwargs={"model": manifest.model, "options": dict(manifest.model_options),
                                   "fingerprint": manifest.fingerprint, "limits": self.options.limits},
            max_restarts=-1, max_task_retries=-1,  # a dead actor is restarted and its batch retried
        )  # fmt: skip
        for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
            for row in range(len(batch["path"])):
                # A batch retried after a worker died can come back twice (Ray delivers at least once).
                if by_path.pop(str(batch["path"][row]), None) is not None:
                    yield [self._result(entries, batch, row)]  # one at a time: a copy sees its twin stored

    def _result(self, by_path: dict[str, tuple[FileEntry, MediaRecord | None]], batch: dict[str, np.ndarray],
                row: int) -> Prepared:  # fmt: skip
        entry, record = by_path[str(batch["path"][row])]
        if batch["problem"][row]:
            problem = IndexProblem(display_path(entry.path), str(batch["problem"][row]))
            return Prepared(entry, record, problem=problem, remember=bool(batch["remember"][row]))
        sha1 = str(batch["sha1"][row])
        if self._known(record, sha1):  # unchanged content or a copy: reuse what is stored, as in-process
            return Prepared(entry, record, sha1)
        segment = SegmentEncoding(np.asarray(batch["descriptor"][row]), np.asarray(batch["concepts"][row]))
        self._remote_encoded.add(entry.path)
        return Prepared(entry, record, sha1, segments=(segment,))


def ray_indexer(executor: str, store: SegmentStore, encoder: Callable[[], Encoder], options: IndexOptions,
                workers: int | None = None) -> RayIndexer:  # fmt: skip
    """A :class:`RayIndexer` for ``--executor ray`` or ``ray://host:port``.

    ``workers`` defaults to the CPUs of this machine for a local cluster, and to the cluster's CPUs otherwise.

    Raises:
        MmirError: for an executor string that is not Ray's.
    """
    from mmir.executors import ExecutorKind, parse_executor

    try:
        kind, address = parse_executor(executor)
    except ValueError as exc:
        raise MmirError(str(exc)) from exc
    if kind is not ExecutorKind.RAY:
        raise MmirError(f"--executor {executor}: not a Ray executor")
    if workers is None and address is not None:
        workers = max(1, int(connect(address, 0).cluster_resources().get("CPU", 1)))
    return RayIndexer(store, encoder, options, address=address, workers=workers or os.cpu_count() or 2)
