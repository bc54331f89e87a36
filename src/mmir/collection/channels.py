"""Engineered descriptor channels of a collection: their extractors (with the learned visual vocabulary).

Query by example in one channel or fused is a :class:`mmir.search.queries.ChannelQuery` of ``Collection.search``."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


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
    from tqdm import tqdm

    images = []
    sample = np.linspace(0, len(files) - 1, num=min(200, len(files)), dtype=int).tolist() if files else []
    # ~45 s for 200 photos (decode, ORB, k-means); a bar on a terminal (disable=None: hidden when not a TTY).
    for index in tqdm(sample, desc="BoVW vocabulary (once): reading photos", unit="photo", disable=None):
        try:
            images.append(load_image(files[index], min_side=512))
        except MediaError:
            continue  # the indexing pass reports it
    vocabulary = learn_vocabulary(images)
    np.save(path, vocabulary)
    return vocabulary
