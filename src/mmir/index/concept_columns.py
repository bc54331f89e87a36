"""Concept probabilities kept column by column on disk, so that keyword search reads only the concepts a query uses.

The catalog stores each segment's ``C`` concept probabilities as one float16 row. Scoring a keyword query from
those rows means reading all of them (``2·C`` bytes a segment: 2 GB at a million segments, 4 GB once
float32). Here they are re-laid out once, in blocks of at most :data:`BLOCK_ROWS` segments in id order:

- ``<collection>/concepts/block-NNNNN.ids``: ``int64[B]`` segment ids;
- ``<collection>/concepts/block-NNNNN.f32``: ``float32[C, B]``, column-major, so one concept of one block is
  ``4·B`` contiguous bytes;
- their state (the catalog generation they match, the block sizes and the last id) is the ledger's artifact
  ``index:concepts`` (:mod:`mmir.index.ledger`), recorded after the files are written; collections written
  before kept it in ``state.json`` here, adopted (and removed) on the next sync.

A query touching ``K`` concepts reads ``K`` short runs per block and holds one block's ``float32[B, K]`` at a
time: memory is bounded by the block, whatever the collection's size. The columns are float32 although the
catalog keeps float16: converting float16 costs ~4.4 ns a value on the development machine, which made a broad
query ("animal": 398 concepts) take 186 ms CPU at 100k segments, against a memory copy for float32; the price
is disk, ``4·C`` bytes a segment (4 GB at a million segments, beside the catalog). The values are the
catalog's float16 ones, exactly. The files are derived data: they are
brought up to date from the catalog when the generation changes (new segments — ids only grow — are appended
to the last block; a removal or a replacement, seen as fewer ids up to the last one, rebuilds all blocks in
bounded chunks), and any missing or unreadable state (or a block file gone) rebuilds them. Every file is written
beside its name and renamed into place, so a reader holding an open block keeps a consistent one.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from mmir.index import ledger

if TYPE_CHECKING:
    from mmir.index.catalog import Catalog

# 128 KB a concept column; one block's K columns in memory: K × 128 KB (at most 128 MB for 1,000 concepts).
BLOCK_ROWS = 32_768
STATE = "state.json"  # the state file of collections written before the ledger held it (read once, then removed)
LAYOUT = "float32 columns, v1"  # recorded in the state: files of another layout are rebuilt


class ConceptBlock(Protocol):
    """``B`` segments' concept probabilities, readable a few columns at a time."""

    @property
    def ids(self) -> np.ndarray:
        """``int64[B]`` segment ids, ascending."""
        ...

    @property
    def width(self) -> int:
        """``C``, the number of concept columns stored."""
        ...

    def columns(self, concepts: np.ndarray) -> np.ndarray:
        """``float32[B, K]`` probabilities of the concept columns ``concepts`` (``int64[K]``)."""
        ...


class ConceptSource(Protocol):
    """Every segment's concepts as a sequence of blocks in id order (bounded memory per block)."""

    def blocks(self) -> Iterator[ConceptBlock]:
        """The blocks, in ascending segment id order."""
        ...


@dataclass(frozen=True)
class RowBlock:
    """A block held as rows: ``ids int64[B]`` and ``rows float16[B, C]`` read from the catalog."""

    ids: np.ndarray
    rows: np.ndarray

    @property
    def width(self) -> int:
        """``C``."""
        return int(self.rows.shape[1])

    def columns(self, concepts: np.ndarray) -> np.ndarray:
        """``float32[B, K]`` probabilities of ``concepts`` (``int64[K]``)."""
        return self.rows[:, concepts].astype(np.float32)


@dataclass(frozen=True)
class CatalogConcepts:
    """Concepts streamed from the catalog's rows, ``batch`` segments at a time (no files; slower per query)."""

    catalog: Catalog
    batch: int = 16_384

    def blocks(self) -> Iterator[ConceptBlock]:
        """Blocks of at most ``batch`` segments, read from SQLite."""
        for ids, rows in self.catalog.iter_concepts(self.batch):
            yield RowBlock(ids, rows)


@dataclass(frozen=True)
class FileBlock:
    """One on-disk block: ``ids int64[B]`` and the path of its ``float32[C, B]`` column file."""

    ids: np.ndarray
    path: Path
    num_concepts: int

    @property
    def width(self) -> int:
        """``C``."""
        return self.num_concepts

    def columns(self, concepts: np.ndarray) -> np.ndarray:
        """``float32[B, K]``: the ``K`` columns, each one contiguous read of ``B`` floats from the block's file.

        One ``pread`` a column, not a memory map: mapping the file and fancy-indexing it cost 6.3 ms for 20 columns
        of a 65,536-segment block (page faults), against 0.45 ms read straight into the output (0.11 against
        0.07 ms at 100 segments), and nothing stays mapped afterwards.
        """
        concepts = np.asarray(concepts, np.int64)
        out = np.empty((len(concepts), len(self.ids)), np.float32)
        if not len(self.ids):
            return out.T
        row_bytes = out.shape[1] * out.itemsize
        descriptor = os.open(self.path, os.O_RDONLY)
        try:
            for n, concept in enumerate(concepts.tolist()):
                if not 0 <= concept < self.num_concepts:
                    raise IndexError(f"concept column {concept} is outside 0..{self.num_concepts - 1}")
                if os.preadv(descriptor, [memoryview(out[n])], concept * row_bytes) != row_bytes:
                    raise ValueError(f"{self.path.name} is shorter than its {len(self.ids)} segments need")
        finally:
            os.close(descriptor)
        return out.T  # a view: [B, K] in Fortran order, which matmul takes as it is (no transposing copy)


class ConceptColumns:
    """The column-major concept files of a collection (see the module docstring).

    Args:
        directory: Where the files live (``<collection>/concepts``); created on first sync.
        block_rows: Segments per block (smaller in tests).
    """

    def __init__(self, directory: Path, block_rows: int = BLOCK_ROWS) -> None:
        self.directory = Path(directory)
        self.block_rows = block_rows
        # Every keyword search reads the state and the blocks' id files: kept while the file on disk is the same
        # one (files are replaced by rename, so a new one has a new inode/mtime).
        self._read_cache: dict[Path, tuple[tuple[int, int, int], object]] = {}
        self._synced: dict | None = None  # the state the last sync left, which blocks() lists

    def sync(self, catalog: Catalog) -> None:
        """Bring the files up to date with ``catalog`` (nothing to do when the generation matches).

        Raises:
            OSError: the directory cannot be written (the caller may fall back to :class:`CatalogConcepts`).
        """
        state = self._state(catalog)
        generation = catalog.generation
        if state is not None and state["generation"] == generation and state["block_rows"] == self.block_rows:
            if state.pop("legacy", False):  # an older collection's state file: the ledger takes it over
                self._record(catalog, state)
            self._synced = state
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        # The files stay valid up to their last id while the catalog holds exactly the rows they hold up to it
        # (ids only grow: fewer means a removal or a replacement). Each COUNT is run once: ~30 ms at a million.
        if state is not None and state["block_rows"] == self.block_rows:
            stored = sum(state["blocks"])
            if catalog.count_segments_up_to(state["last_id"]) != stored:
                state = None
            elif catalog.counts()[1] == stored:  # nothing added either (e.g. a file only touched): no block to write
                state["generation"] = generation
                self._record(catalog, state)
                return
        else:
            state = None
        if state is None:
            state = {
                "layout": LAYOUT, "generation": -1, "block_rows": self.block_rows, "num_concepts": 0, "last_id": -1,
                "blocks": [],
            }  # fmt: skip
        self._append(catalog, state)
        state["generation"] = generation
        self._record(catalog, state)

    def _record(self, catalog: Catalog, state: dict) -> None:
        """The files are in place: the ledger records what they match (and an older collection's state file goes)."""
        detail = {key: value for key, value in state.items() if key not in ("generation", "legacy")}
        setting = ledger.generation_setting(state["generation"])
        ledger.record_artifact(catalog, ledger.CONCEPT_COLUMNS, setting, detail)
        self._synced = state
        with contextlib.suppress(OSError):  # a read-only directory: its blocks could not be written either
            (self.directory / STATE).unlink(missing_ok=True)

    def blocks(self) -> Iterator[ConceptBlock]:
        """The synced blocks in id order (call :meth:`sync` first)."""
        state = self._synced
        if state is None:
            return
        for number in range(len(state["blocks"])):
            path = self._path(number, "ids")
            ids = self._cached(path, lambda p: _read_only(np.fromfile(p, np.int64)))
            yield FileBlock(ids, self._path(number, "f32"), state["num_concepts"])

    def _append(self, catalog: Catalog, state: dict) -> None:
        """Add the catalog's segments after ``state['last_id']``: top up the last block, then new ones."""
        blocks: list[int] = state["blocks"]
        if blocks and blocks[-1] < self.block_rows:  # re-read the partial last block with the new rows after it
            after = int(np.fromfile(self._path(len(blocks) - 1, "ids"), np.int64)[0]) - 1
            blocks.pop()
        else:
            after = state["last_id"]
        for ids, rows in catalog.iter_concepts(self.block_rows, after=after):
            self._write_block(len(blocks), ids, rows)
            blocks.append(len(ids))
            state["num_concepts"] = int(rows.shape[1])
            state["last_id"] = int(ids[-1])
        for kind in ("ids", "f32"):  # blocks left over from a larger set that was rebuilt smaller
            for stale in self.directory.glob(f"block-*.{kind}"):
                if int(stale.name[len("block-") : -len(kind) - 1]) >= len(blocks):
                    stale.unlink(missing_ok=True)

    def _write_block(self, number: int, ids: np.ndarray, rows: np.ndarray) -> None:
        _write_atomic(self._path(number, "ids"), np.ascontiguousarray(ids, np.int64))
        _write_atomic(self._path(number, "f32"), np.ascontiguousarray(rows.T, np.float32))

    def _path(self, number: int, kind: str) -> Path:
        return self.directory / f"block-{number:05d}.{kind}"

    def _cached(self, path: Path, read: Callable[[Path], Any]) -> Any:
        """``read(path)``, reused while ``path`` is the same file (inode, size, mtime)."""
        stat = path.stat()
        key = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
        hit = self._read_cache.get(path)
        if hit is not None and hit[0] == key:
            return hit[1]
        value = read(path)
        self._read_cache[path] = (key, value)
        return value

    def _state(self, catalog: Catalog) -> dict | None:
        """What the saved files hold, as the ledger records it (or an older collection's state file says), when
        every block file it lists is still there; else ``None`` (rebuilt)."""
        recorded = ledger.producer(catalog, ledger.CONCEPT_COLUMNS)
        if recorded is not None and recorded.setting.startswith("generation "):
            state: object = {**recorded.detail, "generation": int(recorded.setting.split()[1])}
        else:
            try:
                state = {**json.loads((self.directory / STATE).read_text()), "legacy": True}
            except (OSError, ValueError, TypeError):
                return None
        keys = {"generation", "block_rows", "num_concepts", "last_id", "blocks"}
        if not (isinstance(state, dict) and keys <= state.keys() and state.get("layout") == LAYOUT):
            return None
        present = all(self._path(n, kind).exists() for n in range(len(state["blocks"])) for kind in ("ids", "f32"))
        return dict(state) if present else None


def _read_only(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False  # shared between searches through the cache
    return array


def _write_atomic(path: Path, data: bytes | np.ndarray) -> None:
    """Write ``data`` beside ``path`` and rename it into place (readers never see half a file).

    An array is written straight from its buffer (``tofile``): no second copy of a block in memory.
    """
    # A name of its own per process and thread: two searches syncing at once never write into one file.
    partial = path.with_name(f"{path.name}.{os.getpid()}-{threading.get_ident()}.partial")
    if isinstance(data, np.ndarray):
        data.tofile(partial)
    else:
        partial.write_bytes(data)
    os.replace(partial, path)
