"""Opening and creating a collection: the checks that a collection's encoder options still match, the int8 backend
it implies, an encoder object saved as the collection's own model directory, and the PCA recorded in its manifest.

The bodies of :meth:`mmir.api.Collection.open` and ``_create``'s helpers, kept out of the facade.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from mmir.errors import CollectionError
from mmir.index.manifest import Manifest
from mmir.index.store import SegmentStore

if TYPE_CHECKING:
    import numpy as np

    from mmir.models.encoder import Encoder

_OPTION_DEFAULTS = {"pooling": "gem", "multiscale": "false"}  # what a manifest without the option was built with


def check_options(directory: Path, manifest: Manifest, given: Mapping[str, str]) -> None:
    """Refuse encoder options (pooling, multiscale, weights) that differ from the ones the collection was built with.

    Raises:
        CollectionError: naming what the collection uses.
    """

    def norm(key: str, value: str | None) -> str | None:
        if value is None:
            return None
        text = str(value).strip().lower()
        return str(text in ("1", "true", "yes")).lower() if key == "multiscale" else text

    built = _built_options(manifest)
    used = {key: manifest.model_options.get(key, built.get(key)) for key in given}
    differing = [key for key, value in given.items() if norm(key, value) != norm(key, used[key])]
    if differing:
        asked = ", ".join(f"{key}={given[key]}" for key in differing)
        uses = ", ".join(f"{key}={used[key]}" for key in differing)
        raise CollectionError(
            f"{directory} was built with {uses} (model {manifest.model}), not {asked}: its vectors would not "
            "compare; leave the option out, or index into another --collection"
        )


def _built_options(manifest: Manifest) -> dict[str, str]:
    """Pooling and multiscale as the fingerprint records them (``<weights>/<pooling>[@scales][+head@…]``).

    Options a manifest does not list (a model directory's, or the defaults) are read back from there.
    """
    options = dict(_OPTION_DEFAULTS)
    _, slash, tail = manifest.fingerprint.rpartition("/")
    if slash:
        pooling, at, _ = tail.split("+", 1)[0].partition("@")
        options.update(pooling=pooling, multiscale=str(bool(at)).lower())
    return options


def backend_for(store: SegmentStore, backend: str) -> str:
    """``auto`` on a collection of int8 vectors means ``onnx-int8`` (its queries must be int8 too)."""
    if backend != "auto":
        return backend
    from mmir.index import encoder_record

    return "onnx-int8" if encoder_record.recorded_precision(store.catalog) == encoder_record.INT8 else backend


def saved_encoder(directory: Path, encoder: Encoder) -> str:
    """Save ``encoder``'s spec as a model directory inside the collection; returns its path (the manifest's model)."""
    from mmir.models.model_dir import save_model_dir

    spec = getattr(encoder, "spec", None)
    if spec is None:
        raise CollectionError("this encoder has no spec to save (built from the ONNX cache); pass a model name")
    return str(save_model_dir(directory / "encoder", spec))


def manifest_projection(directory: Path, manifest: Manifest) -> Callable[[np.ndarray], np.ndarray] | None:
    """The PCA-whitening recorded in the manifest, as a function on raw descriptors."""
    if manifest.pca is None:
        return None
    from mmir.models.pca import PCAWhitening

    return PCAWhitening.load(directory / manifest.pca).transform
