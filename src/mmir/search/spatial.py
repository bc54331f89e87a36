"""Spatial verification: re-rank near-duplicate candidates by local-feature matches that agree on one geometry.

A global CNN descriptor summarises the whole picture, so a 60 % crop or a heavy rescale may rank a similar-looking
photo above its own original. Local features do not have that problem: ORB keypoints of the query are matched to
those of each of the top candidates (Hamming distance, Lowe's ratio test), and RANSAC fits a similarity transform
(rotation, uniform scale, translation: what crops, rescales and rotations do) to the matches. The number of inlier
matches says how much of the query is a geometric copy of the candidate (Philbin et al. 2007 re-rank the same way).

Re-ranking rule: a candidate with at least ``min_inliers`` inliers moves above every unverified one (ordered among
the verified by inliers, then by the global score); the others keep their global order. An edit without
geometric support for any candidate (e.g. a mirror image, which ORB does not match) therefore keeps the CNN
ranking, and the option never makes those edits worse. With ``mirror=True`` the mirrored query is matched too.

Cost per query: one ORB extraction of the query plus one decode + ORB extraction + match + RANSAC per candidate,
about 15–40 ms per candidate at ``max_side=640`` on one CPU core: ``benchmarks/descriptors.py`` measured 0.4–0.65 s
per query for the default 20 candidates (images already in memory; decoding the files adds to it).
Needs OpenCV (``pip install 'mmir[features]'``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from mmir.errors import require

if TYPE_CHECKING:
    from PIL import Image

    from mmir.types import Hit

T = TypeVar("T")


@dataclass(frozen=True)
class SpatialConfig:
    """Settings of spatial verification.

    Attributes:
        top: Candidates (by global score) that are verified.
        min_inliers: Inliers from which a candidate counts as a verified copy.
        features: ORB keypoints per image.
        max_side: Images are shrunk to this longer side before extracting keypoints.
        ratio: Lowe's ratio test threshold.
        reprojection_px: RANSAC inlier distance, in pixels of the shrunk query.
        mirror: Also match the mirrored query (finds flipped copies; twice the matching cost).
        scale_range: Plausible scale factors of a copy; a fit outside it is degenerate and counts 0 inliers.
    """

    top: int = 20
    min_inliers: int = 15
    features: int = 1000
    max_side: int = 640
    ratio: float = 0.8
    reprojection_px: float = 5.0
    mirror: bool = False
    scale_range: tuple[float, float] = (0.1, 10.0)


@dataclass(frozen=True)
class LocalFeatures:
    """ORB keypoints of one image.

    Attributes:
        points: ``float32[N, 2]`` keypoint positions (x, y) in the shrunk image.
        descriptors: ``uint8[N, 32]`` binary ORB descriptors.
    """

    points: np.ndarray
    descriptors: np.ndarray


def _cv2() -> Any:
    return require("cv2", "features")


def grey_array(image: Image.Image, max_side: int) -> np.ndarray:
    """``uint8[H, W]`` grey version of ``image`` with its longer side at most ``max_side``."""
    from PIL import Image as PILImage

    grey = image.convert("L")
    scale = max_side / max(grey.size)
    if scale < 1:
        size = (max(1, round(grey.width * scale)), max(1, round(grey.height * scale)))
        grey = grey.resize(size, PILImage.Resampling.BILINEAR)
    return np.asarray(grey, dtype=np.uint8)


def extract_local(image: Image.Image, config: SpatialConfig = SpatialConfig()) -> LocalFeatures:
    """ORB keypoints and descriptors of an RGB (or grey) PIL image."""
    cv2 = _cv2()
    orb = cv2.ORB_create(nfeatures=config.features)
    keypoints, descriptors = orb.detectAndCompute(grey_array(image, config.max_side), None)
    if descriptors is None or not keypoints:
        return LocalFeatures(np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8))
    return LocalFeatures(np.array([k.pt for k in keypoints], np.float32), descriptors)


def count_inliers(query: LocalFeatures, candidate: LocalFeatures, config: SpatialConfig = SpatialConfig()) -> int:
    """Matches between two images that agree on one similarity transform (RANSAC inliers; 0 if too few)."""
    cv2 = _cv2()
    if len(query.descriptors) < 2 or len(candidate.descriptors) < 2:
        return 0
    pairs = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(query.descriptors, candidate.descriptors, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < config.ratio * p[1].distance]
    if len(good) < 3:
        return 0
    src = query.points[[m.queryIdx for m in good]]
    dst = candidate.points[[m.trainIdx for m in good]]
    # A similarity (4 degrees of freedom) rather than a homography: crops, rescales and rotations of a photo
    # are similarities, and fewer degrees of freedom mean fewer chance agreements among wrong matches.
    model, inliers = cv2.estimateAffinePartial2D(
        src, dst, method=cv2.RANSAC, ransacReprojThreshold=config.reprojection_px, maxIters=2000, confidence=0.99
    )
    if model is None or inliers is None:
        return 0
    # RANSAC can "agree" on a transform that squeezes the query to a point (many matches into one textured
    # spot of an unrelated photo): on our benchmark such fits reached 35 inliers. A copy is never that small.
    scale = float(np.sqrt(abs(np.linalg.det(model[:, :2]))))
    low, high = config.scale_range
    return int(inliers.sum()) if low <= scale <= high else 0


def query_features(image: Image.Image, config: SpatialConfig) -> list[LocalFeatures]:
    """Local features of the query, and of its mirror image when ``config.mirror`` is set."""
    from PIL import ImageOps

    views = [image, ImageOps.mirror(image)] if config.mirror else [image]
    return [extract_local(view, config) for view in views]


def rerank(
    query: Image.Image,
    candidates: Sequence[T],
    load: Callable[[T], Image.Image | None],
    config: SpatialConfig = SpatialConfig(),
) -> list[tuple[T, int]]:
    """Re-rank the first ``config.top`` of ``candidates`` (best first by global score) by spatial verification.

    Args:
        query: The query image.
        candidates: Candidates in global-score order (e.g. search hits).
        load: Decodes a candidate's image (``None`` if it cannot be read: it keeps its place, unverified).
        config: Settings.

    Returns:
        ``(candidate, inliers)`` for every candidate: the verified ones (``inliers ≥ min_inliers``) first by
        inliers, then the rest in their original order; candidates beyond ``top`` are not verified (0).
    """
    views = query_features(query, config)
    scored = []
    for rank, candidate in enumerate(candidates):
        inliers = 0
        if rank < config.top:
            image = load(candidate)
            if image is not None:
                features = extract_local(image, config)
                inliers = max(count_inliers(view, features, config) for view in views)
        scored.append((rank, candidate, inliers))
    verified = sorted((s for s in scored if s[2] >= config.min_inliers), key=lambda s: (-s[2], s[0]))
    rest = [s for s in scored if s[2] < config.min_inliers]
    return [(candidate, inliers) for _, candidate, inliers in verified + rest]


def rerank_hits(query: Image.Image, hits: Sequence[Hit], config: SpatialConfig = SpatialConfig()) -> list[Hit]:
    """Search hits re-ranked by :func:`rerank`; verified hits say so in ``why`` (files decoded through media/)."""
    from mmir.media import MediaError, load_image

    def load(hit: Hit) -> Image.Image | None:
        try:
            return load_image(hit.media.path, min_side=config.max_side)
        except MediaError:  # moved or changed since indexing: keep its global rank, unverified
            return None

    return [
        replace(hit, why=(*hit.why, f"{inliers} matching local features")) if inliers >= config.min_inliers else hit
        for hit, inliers in rerank(query, hits, load, config)
    ]


def verified_pairs(
    vectors: np.ndarray,
    load: Callable[[int], Image.Image | None],
    strict: float,
    loose: float,
    config: SpatialConfig = SpatialConfig(),
) -> tuple[np.ndarray, np.ndarray]:
    """Near-duplicate pairs: cosine ≥ ``strict``, or cosine ≥ ``loose`` and spatially verified.

    Every row's local features are extracted at most once. Each row verifies at most ``config.top`` of its
    loose neighbours (the most similar first), which bounds the cost on large collections.

    Args:
        vectors: ``float32[N, D]`` L2-normalised descriptors.
        load: Decodes row ``i``'s image (``None`` if unreadable: its loose pairs are not verified).
        strict: Cosine similarity that links two rows without verification.
        loose: Cosine similarity from which a pair is verified.
        config: Verification settings.

    Returns:
        ``(i int64[M], j int64[M])`` linked row pairs with ``i < j``.
    """
    from mmir.search.duplicates import similar_pairs

    first, second, similarity = similar_pairs(vectors, min(loose, strict))
    order = np.argsort(-similarity, kind="stable")
    features: dict[int, LocalFeatures | None] = {}
    checked = np.zeros(len(vectors), dtype=np.int64)

    def local(row: int) -> LocalFeatures | None:
        if row not in features:
            image = load(row)
            features[row] = None if image is None else extract_local(image, config)
        return features[row]

    keep = []
    for p in order.tolist():
        a, b = int(first[p]), int(second[p])
        if similarity[p] >= strict:
            keep.append(p)
        elif checked[a] < config.top and checked[b] < config.top:
            checked[a] += 1
            checked[b] += 1
            fa, fb = local(a), local(b)
            if fa is not None and fb is not None and count_inliers(fa, fb, config) >= config.min_inliers:
                keep.append(p)
    kept = np.sort(np.asarray(keep, dtype=np.int64))
    return first[kept], second[kept]
