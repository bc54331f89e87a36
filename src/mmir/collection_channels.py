"""Engineered descriptor channels of a collection: their extractors (with the learned visual vocabulary) and
query by example in one channel or fused (:meth:`mmir.api.Collection.search_image_descriptor`)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from mmir.media import load_for_model

if TYPE_CHECKING:
    import numpy as np

    from mmir.index.store import SegmentStore
    from mmir.models.encoder import Encoder
    from mmir.types import Hit

BOVW_VOCABULARY = "bovw-vocabulary.npy"  # visual words of the bovw descriptor channel


def channel_extractors(directory: Path, names: Sequence[str], roots: Sequence[str | os.PathLike[str]] = ()) -> list:
    """Extractors of the engineered descriptors ``names`` (``cnn`` is the encoder's own, so it is skipped).

    ``bovw`` uses the collection's visual vocabulary, learned on first use from up to 200 image files under
    ``roots`` (evenly spread over the sorted list; those files are decoded once more for it).
    """
    from mmir.models.engineered import Descriptor, extractors

    vocabulary = None
    if Descriptor.BOVW.value in [n.strip().lower() for n in names]:
        vocabulary = _bovw_vocabulary(directory, roots)
    return extractors(names, vocabulary)


def _bovw_vocabulary(directory: Path, roots: Sequence[str | os.PathLike[str]]) -> np.ndarray:
    import numpy as np

    from mmir.media import IMAGE_EXTENSIONS, MediaError, load_image, scan
    from mmir.models.engineered import learn_vocabulary

    path = directory / BOVW_VOCABULARY
    if path.exists():
        return np.load(path)
    files = [e.path for root in roots for e in scan(os.fspath(root)) if Path(e.path).suffix.lower() in
             IMAGE_EXTENSIONS]  # fmt: skip
    images = []
    for index in np.linspace(0, len(files) - 1, num=min(200, len(files)), dtype=int) if files else []:
        try:
            images.append(load_image(files[index], min_side=512))
        except MediaError:
            continue  # the indexing pass reports it
    vocabulary = learn_vocabulary(images)
    np.save(path, vocabulary)
    return vocabulary


def search_image(
    store: SegmentStore, encoder: Encoder, directory: Path, path: str | os.PathLike[str], k: int = 10,
    descriptor: str = "cnn", weights: Mapping[str, float] | None = None, fusion: str = "late",
) -> list[Hit]:  # fmt: skip
    """Query by example in one descriptor channel (``cnn``, ``colour``, ``lbp``, ``hog``, ``bovw``) or fused.

    ``descriptor="fused"`` combines the CNN and every stored engineered channel (``fusion`` ``late``: z-scored
    scores, ``early``: weighted concatenation; missing ``weights`` default to the validated
    :data:`mmir.search.fusion.DEFAULT_WEIGHTS` / ``DEFAULT_EARLY_WEIGHTS``; channels of weight 0 are skipped).
    The query image is decoded once; see :mod:`mmir.search.channel_search`.
    """
    from mmir.index.channels import channel_names
    from mmir.search.channel_search import Fusion, channels_for, search_channels

    names = channels_for(descriptor, channel_names(store.catalog))
    image = load_for_model(path, encoder.input_side)

    def query_vectors(wanted: Sequence[str]) -> dict[str, np.ndarray]:
        engineered = [n for n in wanted if n != "cnn"]
        vectors = {e.name: e.extract(image) for e in channel_extractors(directory, engineered)}
        if "cnn" in wanted:
            vectors["cnn"] = encoder.encode([image]).descriptors[0]
        return vectors

    why = f"similar to {Path(path).name}"
    return search_channels(store, names, query_vectors, k, weights or {}, Fusion(fusion), why)
