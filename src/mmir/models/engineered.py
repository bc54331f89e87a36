"""Engineered (hand-crafted) image descriptors: colour, texture, gradients and a bag of visual words.

Each extractor is a :class:`~mmir.indexing.types.ChannelExtractor`: it has a ``name`` and turns a decoded RGB PIL
image into ``float32[K]`` in the indexing pipeline's decode pass (no second decode). Every vector is ready for
cosine similarity (non-negative histograms are square-rooted, i.e. Hellinger-mapped, and rows are L2-normalised)
except the bag of words, which stores raw visual-word counts so that the idf weights can follow the collection
(see :func:`tfidf`).

- ``colour``: HSV histogram (8 hue × 3 saturation × 3 value bins) plus the 9 colour moments (mean, standard
  deviation, cube root of the third central moment of H, S and V), moments weighted 1/3.
- ``lbp``: rotation-invariant uniform local binary patterns (8 neighbours at radius 1, 2 and 3; 10 codes each).
- ``hog``: histograms of oriented gradients on the image resized to 64×64 (9 bins, 8-px cells, 16-px blocks):
  1764 numbers.
- ``bovw``: ORB descriptors assigned to a k-means vocabulary learned on the collection.

``pip install 'mmir[features]'`` is needed for ``lbp`` and ``hog`` (scikit-image's ``local_binary_pattern`` and
``hog``) and for ``bovw`` (OpenCV's ORB keypoints). Changing how a channel is extracted means bumping
:data:`mmir.index.ledger.CHANNEL_VERSION` (stored vectors of the old kind are then re-extracted).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import numpy as np

from mmir.errors import ModelError, require

if TYPE_CHECKING:
    from PIL import Image


class Descriptor(StrEnum):
    """The descriptor channels an index can hold (``cnn`` is the encoder's own)."""

    CNN = "cnn"
    COLOUR = "colour"
    LBP = "lbp"
    HOG = "hog"
    BOVW = "bovw"


def _cv2() -> Any:
    return require("cv2", "features")


def l2_rows(x: np.ndarray) -> np.ndarray:
    """Rows of ``float[N, K]`` (or one ``float[K]``) scaled to unit length (zero rows stay zero)."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def _shrink(image: Image.Image, side: int) -> Image.Image:
    """``image`` with its longer side at most ``side`` (engineered features need no more detail)."""
    scale = side / max(image.size)
    if scale >= 1:
        return image
    return image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))))


def hsv_histogram(image: Image.Image, bins: tuple[int, int, int] = (8, 3, 3)) -> np.ndarray:
    """Joint HSV histogram ``float32[h·s·v]`` summing to 1 (PIL's HSV: each channel 0–255, bin = value·n // 256).

    Bin ``(i, j, k)`` is at ``(i · s + j) · v + k``.
    """
    hsv = np.asarray(image.convert("RGB").convert("HSV"), dtype=np.int64).reshape(-1, 3)
    n = np.array(bins, dtype=np.int64)
    q = hsv * n // 256
    index = (q[:, 0] * n[1] + q[:, 1]) * n[2] + q[:, 2]
    counts = np.bincount(index, minlength=int(n.prod())).astype(np.float32)
    return counts / max(float(counts.sum()), 1.0)


def colour_moments(image: Image.Image) -> np.ndarray:
    """``float32[9]``: mean, standard deviation and cube root of the third central moment of H, S, V (in [0, 1])."""
    hsv = np.asarray(image.convert("RGB").convert("HSV"), dtype=np.float64).reshape(-1, 3) / 255.0
    mean = hsv.mean(axis=0)
    centred = hsv - mean
    return np.concatenate([mean, centred.std(axis=0), np.cbrt((centred**3).mean(axis=0))]).astype(np.float32)


@dataclass(frozen=True)
class ColourExtractor:
    """HSV histogram (Hellinger-mapped) + colour moments, L2-normalised: ``float32[h·s·v + 9]``."""

    name: str = Descriptor.COLOUR.value
    bins: tuple[int, int, int] = (8, 3, 3)
    side: int = 256

    def extract(self, image: Image.Image) -> np.ndarray:
        small = _shrink(image, self.side)
        hist = np.sqrt(hsv_histogram(small, self.bins))  # unit length already: Σ (√p)² = 1
        return l2_rows(np.concatenate([hist, colour_moments(small) / 3.0]))


def _skimage_feature() -> Any:
    return require("skimage.feature", "features")


def lbp_codes(grey: np.ndarray, radius: int, points: int = 8) -> np.ndarray:
    """Rotation-invariant uniform LBP codes ``int64[H-2r, W-2r]`` in ``[0, points + 1]`` (Ojala et al. 2002).

    scikit-image's ``local_binary_pattern(method="uniform")``: neighbours are bilinearly interpolated on a circle
    of ``radius``; a pattern with at most two 0/1 transitions around the circle gets its number of ones, every
    other pattern gets ``points + 1``. The ``radius``-wide border (neighbours outside the image) is cut off.

    Args:
        grey: ``[H, W]`` grey levels 0–255, compared as ``uint8`` (scikit-image warns that float comparisons of
            nearly equal neighbours are unstable).
    """
    g = np.asarray(grey)
    g = g if g.dtype == np.uint8 else np.clip(np.rint(g), 0, 255).astype(np.uint8)
    codes = _skimage_feature().local_binary_pattern(g, points, radius, method="uniform")
    h, w = g.shape
    return codes[radius : h - radius, radius : w - radius].astype(np.int64)


@dataclass(frozen=True)
class LBPExtractor:
    """Histograms of rotation-invariant uniform LBP codes at several radii, Hellinger-mapped and L2-normalised."""

    name: str = Descriptor.LBP.value
    radii: tuple[int, ...] = (1, 2, 3)
    side: int = 256

    def extract(self, image: Image.Image) -> np.ndarray:
        grey = np.asarray(_shrink(image, self.side).convert("L"), dtype=np.uint8)
        parts = []
        for radius in self.radii:
            if min(grey.shape) <= 2 * radius:
                parts.append(np.zeros(10, np.float32))
                continue
            counts = np.bincount(lbp_codes(grey, radius).ravel(), minlength=10).astype(np.float32)
            parts.append(np.sqrt(counts / counts.sum()))
        return l2_rows(np.concatenate(parts))


def hog(grey: np.ndarray, cell: int = 8, block: int = 2, bins: int = 9) -> np.ndarray:
    """Histograms of oriented gradients (Dalal & Triggs 2005) of ``float[H, W]``: ``float32[blocks · block² · bins]``.

    scikit-image's ``hog``: central-difference gradients, unsigned orientations (0–180°) voted into ``bins`` by
    magnitude, ``block × block`` cells per block, blocks one cell apart, each block L2-Hys normalised.
    """
    g = np.asarray(grey, dtype=np.float32)
    if min(g.shape) < cell * block:
        return np.zeros(0, np.float32)
    vector = _skimage_feature().hog(
        g, orientations=bins, pixels_per_cell=(cell, cell), cells_per_block=(block, block), block_norm="L2-Hys"
    )
    return np.asarray(vector, dtype=np.float32)


@dataclass(frozen=True)
class HOGExtractor:
    """HOG of the grey image resized to ``side × side``, L2-normalised: ``float32[1764]`` at 64 px.

    scikit-image (OpenCV 5 dropped ``HOGDescriptor``); 8-px cells, 2×2-cell blocks, 9 orientation bins.
    """

    name: str = Descriptor.HOG.value
    side: int = 64

    def extract(self, image: Image.Image) -> np.ndarray:
        grey = np.asarray(image.convert("L").resize((self.side, self.side)), dtype=np.float32)
        return l2_rows(hog(grey))


def orb_bits(image: Image.Image, features: int = 500, side: int = 512) -> np.ndarray:
    """ORB descriptors of ``image`` as ``float32[N, 256]`` bits (0/1), so squared L2 distance = Hamming distance."""
    cv2 = _cv2()
    small = _shrink(image, side)
    if max(small.size) < 128:
        # ORB ignores a 31-px border and needs a patch around each keypoint: a thumbnail (CIFAR's 32 px) would
        # give no keypoints at all, so it is enlarged first.
        factor = 128 / max(small.size)
        small = small.resize((max(1, round(small.width * factor)), max(1, round(small.height * factor))))
    grey = np.asarray(small.convert("L"), dtype=np.uint8)
    _, descriptors = cv2.ORB_create(nfeatures=features, edgeThreshold=15, patchSize=15).detectAndCompute(grey, None)
    if descriptors is None:
        return np.zeros((0, 256), np.float32)
    return np.unpackbits(descriptors, axis=1).astype(np.float32)


def learn_vocabulary(images: Sequence[Image.Image], words: int = 256, seed: int = 0) -> np.ndarray:
    """A visual vocabulary ``float32[words, 256]``: k-means (FAISS) of the ORB bits of ``images``.

    Raises:
        ModelError: if the images give fewer local features than ``words``.
    """
    import faiss

    sample = np.concatenate([orb_bits(image) for image in images]) if images else np.zeros((0, 256), np.float32)
    if len(sample) < words:
        raise ModelError(f"a {words}-word vocabulary needs at least {words} local features, found {len(sample)}")
    kmeans = faiss.Kmeans(256, words, niter=20, seed=seed, verbose=False)
    kmeans.train(np.ascontiguousarray(sample))
    return np.asarray(kmeans.centroids, dtype=np.float32)


@dataclass(frozen=True)
class BagOfWordsExtractor:
    """Visual-word counts ``float32[words]`` of an image's ORB descriptors (raw term frequencies).

    Attributes:
        vocabulary: ``float32[words, 256]`` centres from :func:`learn_vocabulary`.
    """

    vocabulary: np.ndarray
    name: str = Descriptor.BOVW.value

    def extract(self, image: Image.Image) -> np.ndarray:
        bits = orb_bits(image)
        if not len(bits):
            return np.zeros(len(self.vocabulary), np.float32)
        # Nearest centre by squared distance: |c|² - 2 b·c (|b|² is the same for every centre).
        distance = (self.vocabulary**2).sum(axis=1) - 2.0 * bits @ self.vocabulary.T
        return np.bincount(distance.argmin(axis=1), minlength=len(self.vocabulary)).astype(np.float32)


def tfidf(counts: np.ndarray, idf: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """tf-idf weighting of visual-word counts, L2-normalised rows (Sivic & Zisserman 2003).

    Args:
        counts: ``float32[N, K]`` word counts.
        idf: ``float32[K]`` weights to use (e.g. the collection's, for a query); learned from ``counts`` if None.

    Returns:
        ``(float32[N, K] weighted unit rows, idf float32[K])`` with ``idf_k = log(N / (1 + df_k)) + 1``
        (smoothed so that no weight is negative).
    """
    x = np.atleast_2d(np.asarray(counts, dtype=np.float32))
    if idf is None:
        df = (x > 0).sum(axis=0)
        idf = (np.log(len(x) / (1.0 + df)) + 1.0).clip(min=0.0).astype(np.float32)
    tf = x / np.maximum(x.sum(axis=1, keepdims=True), 1.0)
    return l2_rows(tf * idf), idf


def extractors(names: Sequence[str], vocabulary: np.ndarray | None = None) -> list[Any]:
    """Channel extractors for descriptor names (``cnn`` is skipped: the encoder computes it).

    Raises:
        ModelError: for an unknown name, or ``bovw`` without a vocabulary.
    """
    built: list[Any] = []
    for raw in names:
        try:
            kind = Descriptor(raw.strip().lower())
        except ValueError as exc:
            known = ", ".join(d.value for d in Descriptor)
            raise ModelError(f"unknown descriptor {raw!r}; known: {known}") from exc
        if kind is Descriptor.BOVW:
            if vocabulary is None:
                raise ModelError("the bovw descriptor needs a vocabulary learned on the collection")
            built.append(BagOfWordsExtractor(vocabulary))
        elif kind is not Descriptor.CNN:
            built.append({Descriptor.COLOUR: ColourExtractor, Descriptor.LBP: LBPExtractor,
                          Descriptor.HOG: HOGExtractor}[kind]())  # fmt: skip
    return built
