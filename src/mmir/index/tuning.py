"""Which vector index a collection gets, chosen from its size, and when to re-train it.

The thresholds come from ``benchmarks/search_scale.py`` (one thread, 1,280-d EfficientNet-Lite0
descriptors expanded by covariance-matched draws, on the shared 2-core development machine):

* exact search costs about 0.23 ms of CPU per 1,000 vectors (1.5 ms at 5k, 5.6 ms at 20k, 13.7 ms at 50k,
  22.7 ms at 100k; wall time on the busy machine was 2-4× that). Collections up to :data:`EXACT_MAX` = 20k
  stay exact: under the 10 ms goal with room for a busy machine, and exact needs no training.
* above that an IVF index over an uncentred PCA to :data:`REDUCED_DIM` dimensions with 8-bit scalar codes
  proposes :data:`CANDIDATES` candidates that are re-ranked exactly from the stored raw descriptors; its
  ``nprobe`` is tuned at build time until recall@10 on held-out samples of the collection reaches
  :data:`TARGET_RECALL`. At 100k: 2.6 ms CPU (3.3 ms wall) per query, recall@10 0.98, 82 MB resident.
"""

from __future__ import annotations

import enum
import math
import time
from dataclasses import asdict, dataclass, replace

EXACT_MAX = 20_000
"""Largest collection searched exactly (see the module docstring for the measurement)."""
BACK_TO_EXACT = EXACT_MAX // 2
"""An approximate index shrinking below this goes back to exact (hysteresis around :data:`EXACT_MAX`)."""
RETRAIN_GROWTH = 4.0
"""Re-train the approximate index when the collection grew (or shrank) by this factor since training."""
REDUCED_DIM = 128
"""Dimension of the candidate index (uncentred PCA); 1M vectors × 128 one-byte codes ≈ 130 MB. Measured at 100k:
the same recall@10 after re-ranking as 256 dimensions at about half the scan time."""
TARGET_RECALL = 0.97
"""Recall@10 the tuning aims for on its sample (the goal is 0.95; the margin covers unseen queries)."""
CANDIDATES = 100
"""Candidates the approximate index proposes per query before exact re-ranking (at least ``k``); 200 gave no
better recall@10 than 100 in the benchmark, and each candidate costs a catalog read."""
TRAIN_POINTS_PER_LIST = 40
"""k-means training sample per inverted list (FAISS warns below 39)."""
MAX_TRAIN_SAMPLE = 100_000
"""Training never reads more descriptors than this at once, whatever the collection size."""
TUNING_QUERIES = 100
"""Sample descriptors used as queries to measure recall while tuning ``nprobe``."""


class IndexKind(str, enum.Enum):
    """The closed set of vector index structures."""

    EXACT = "exact"
    IVF = "ivf"


@dataclass(frozen=True)
class IndexPlan:
    """The vector index a collection uses, and how it was tuned.

    Attributes:
        kind: Exact scan or IVF candidates + exact re-ranking.
        nlist: Inverted lists (IVF only).
        reduced_dim: Dimension of the candidate vectors after uncentred PCA (0: none).
        nprobe: Inverted lists visited per query (tuned).
        candidates: Candidates re-ranked exactly per query.
        trained_size: Number of vectors when the index was (re)built.
        expected_recall: Recall@10 against exact search measured on a sample when tuned (1.0 for exact).
        tuned_at: When it was (re)built, ISO 8601 UTC ("" if never).
    """

    kind: IndexKind = IndexKind.EXACT
    nlist: int = 0
    reduced_dim: int = 0
    nprobe: int = 0
    candidates: int = 0
    trained_size: int = 0
    expected_recall: float = 1.0
    tuned_at: str = ""

    @property
    def description(self) -> str:
        """A short human-readable name, e.g. ``IVF1024,PCA256,SQ8+rerank200`` or ``Flat``."""
        if self.kind is IndexKind.EXACT:
            return "Flat"
        pca = f",PCA{self.reduced_dim}" if self.reduced_dim else ""
        return f"IVF{self.nlist}{pca},SQ8+rerank{self.candidates} (nprobe {self.nprobe})"

    def tuned(self, nprobe: int, recall: float, size: int) -> IndexPlan:
        """A copy recording the outcome of tuning."""
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        return replace(self, nprobe=nprobe, expected_recall=recall, trained_size=size, tuned_at=stamp)

    def to_json(self) -> dict[str, object]:
        """A JSON-ready mapping (for the manifest)."""
        return asdict(self) | {"kind": self.kind.value}

    @classmethod
    def from_json(cls, data: dict[str, object]) -> IndexPlan:
        """Inverse of :meth:`to_json`; unknown keys are ignored so newer fields do not break older readers."""
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        known["kind"] = IndexKind(str(known.get("kind", IndexKind.EXACT.value)))
        return cls(**known)  # type: ignore[arg-type]


def choose_plan(size: int, dim: int) -> IndexPlan:
    """The (untuned) index for ``size`` vectors of dimension ``dim``."""
    if size <= EXACT_MAX:
        return IndexPlan(IndexKind.EXACT, trained_size=size)
    # About 2·√N lists, a power of two: lists of ~√N/2 vectors keep both the coarse and the list scans short.
    nlist = int(min(4096, max(64, 2 ** round(math.log2(2 * math.sqrt(size))))))
    reduced = REDUCED_DIM if dim > REDUCED_DIM else 0
    return IndexPlan(IndexKind.IVF, nlist=nlist, reduced_dim=reduced, nprobe=1, candidates=CANDIDATES,
                     trained_size=size, expected_recall=0.0)  # fmt: skip


def needs_rebuild(plan: IndexPlan, size: int) -> bool:
    """Whether a collection now holding ``size`` vectors should get a freshly chosen and trained index."""
    if plan.kind is IndexKind.EXACT:
        return size > EXACT_MAX
    if size < BACK_TO_EXACT:
        return True
    trained = max(plan.trained_size, 1)
    return size > trained * RETRAIN_GROWTH or size * RETRAIN_GROWTH < trained


def training_size(plan: IndexPlan, size: int) -> int:
    """How many descriptors to sample for training (bounded, whatever ``size``)."""
    return int(min(size, MAX_TRAIN_SAMPLE, max(plan.nlist * TRAIN_POINTS_PER_LIST, 10_000)))
