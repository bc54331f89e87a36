"""The collection manifest: which model built the index and how its vectors are compared."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from mmir.errors import CollectionError
from mmir.index.tuning import IndexPlan

MANIFEST_VERSION = 1


@dataclass(frozen=True)
class Manifest:
    """Describes a collection's index.

    Attributes:
        model: Encoder name (registry name, ``torchvision:<arch>``, or a model directory).
        model_options: Keyword arguments the encoder was built with (e.g. pooling, weights path).
        fingerprint: The encoder's fingerprint; an index refuses encoders with another one.
        dim: Dimension of the stored (pre-PCA) descriptors.
        metric: ``"ip"`` or ``"l2"``.
        factory: Legacy FAISS factory string (always ``"Flat"``); kept so that older manifests round-trip.
            The index structure now lives in ``index_plan``.
        concept_names: Names of the encoder's concept columns.
        pca: File name of the PCA-whitening applied before the vector index, if any.
        vectors_generation: Catalog generation the saved vector index matches.
        store: Where the vectors live: ``faiss`` (files here), ``milvus:/abs/path.db`` or ``milvus://host:port``.
        store_collection: The collection name inside a Milvus store ("" for FAISS).
        index_plan: The index structure chosen for the collection's size and its tuning (``None``: exact,
            as in manifests written before it existed).
    """

    model: str
    fingerprint: str
    dim: int
    model_options: dict[str, str] = field(default_factory=dict)
    metric: str = "ip"
    factory: str = "Flat"
    concept_names: tuple[str, ...] = ()
    pca: str | None = None
    vectors_generation: int = -1
    version: int = MANIFEST_VERSION
    store: str = "faiss"
    store_collection: str = ""
    index_plan: IndexPlan | None = None

    def with_changes(self, **changes: object) -> Manifest:
        """A copy with some fields changed."""
        return replace(self, **changes)  # type: ignore[arg-type]

    def save(self, path: Path) -> None:
        """Write atomically as JSON."""
        data = asdict(self)
        data["concept_names"] = list(self.concept_names)
        data["index_plan"] = self.index_plan.to_json() if self.index_plan else None
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(data, indent=1))
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> Manifest:
        """Read a manifest written by :meth:`save`."""
        try:
            data = json.loads(path.read_text())
            data["concept_names"] = tuple(data.get("concept_names", ()))
            plan = data.get("index_plan")
            data["index_plan"] = IndexPlan.from_json(plan) if isinstance(plan, dict) else None
            manifest = cls(**data)
        except (OSError, ValueError, TypeError) as exc:
            raise CollectionError(f"{path}: unreadable collection manifest ({exc})") from exc
        if manifest.version > MANIFEST_VERSION:
            raise CollectionError(f"{path}: manifest version {manifest.version} is newer than this mmir")
        return manifest
