"""Spatial verification: re-rank near-duplicate candidates by local-feature matches that agree on one geometry.

A global CNN descriptor summarises the whole picture, so a 60 % crop or a heavy rescale may rank a similar-looking
photo above its own original. Local features do not have that problem: ORB keypoints of the query are matched to
those of each of the top candidates (Hamming distance, Lowe's ratio test), and RANSAC fits a similarity transform
(rotation, uniform scale, translation: what crops, rescales and rotations do) to the matches. The number of inlier
matches says how much of the query is a geometric copy of the candidate (Philbin et al. 2007 re-rank the same way).

Re-ranking rule: a candidate with at least ``min_inliers`` inliers moves above every unverified one (ordered among
the verified by inliers, then by the global score); the others keep their global order. The first ``first`` (20)
candidates are verified; while none of them verifies, the next 20, up to ``top`` (50): the CNN ranked the
original of some 40 % crops 21st to 93rd, and no number of keypoints helps a candidate that is never verified
(with 3000 keypoints those originals had 13–315 inliers, wrong photos at most 4). A query whose copy is near the
top costs no more than before. An edit without geometric support for any candidate (e.g. a mirror image, which
ORB does not match) keeps the CNN ranking unless a wrong candidate reaches ``min_inliers`` by chance (on the
benchmark's validation queries: never at depth 50, one flip in 20 at depth 100). With ``mirror=True`` the
mirrored query is matched too. The defaults were chosen on validation queries (``benchmarks/descriptors.py``).

Cost per query: one ORB extraction of the query plus one decode + ORB extraction + match + RANSAC per verified
candidate (20 for most queries, up to 50); ``benchmarks/descriptors.py`` measures it per query on its test
queries (images already in memory; decoding the files adds to it).
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
        top: Candidates (by global score) that may be verified: the first ``first`` always, the next ones
            ``first`` at a time only while none of those before verified (a copy the global descriptor ranked
            low, e.g. a small crop, is still found; a query with a copy near the top costs no more).
        first: Candidates verified in every case; also the most loose neighbours each file verifies when
            :func:`verified_pairs` groups a collection.
        min_inliers: Inliers from which a candidate counts as a verified copy when re-ranking.
        pair_min_inliers: Inliers that link two files in :func:`verified_pairs`: stricter, since a false link
            merges two groups, while a false re-rank moves one hit (not validated separately).
        features: ORB keypoints per image.
        max_side: Images are shrunk to this longer side before extracting keypoints.
        ratio: Lowe's ratio test threshold.
        reprojection_px: RANSAC inlier distance, in pixels of the shrunk query.
        mirror: Also match the mirrored query (finds flipped copies; twice the matching cost).
        scale_range: Plausible scale factors of a copy; a fit outside it is degenerate and counts 0 inliers.
    """

    # Chosen on validation queries by benchmarks/descriptors.py (R@1 over 10 edits of COCO-mini photos):
    # top 50 / 3000 keypoints / 10 inliers found every validation 40 % crop; top 20 and 1000 keypoints, 90 %.
    top: int = 50
    first: int = 20
    min_inliers: int = 10
    pair_min_inliers: int = 15
    features: int = 3000
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
        ``(candidate, inliers)`` for every candidate: see :func:`rerank_by_inliers`.
    """
    views = query_features(query, config)

    def inliers_of(candidate: T) -> int:
        image = load(candidate)
        if image is None:
            return 0
        features = extract_local(image, config)
        return max(count_inliers(view, features, config) for view in views)

    return rerank_by_inliers(candidates, inliers_of, config)


def rerank_by_inliers(
    candidates: Sequence[T], inliers_of: Callable[[T], int], config: SpatialConfig = SpatialConfig()
) -> list[tuple[T, int]]:
    """The re-ranking rule, given how to count a candidate's inliers with the query.

    The first ``config.first`` candidates are verified; then, while none verified (``inliers ≥
    min_inliers``), the next ``config.first``, up to ``config.top`` in all.

    Returns:
        ``(candidate, inliers)`` for every candidate: the verified ones first by inliers (ties: global order),
        then the rest in their original order; candidates never verified count 0.
    """
    inliers = [0] * len(candidates)
    limit, start = min(config.top, len(candidates)), 0
    while start < limit:
        end = min(start + max(1, config.first), limit)
        for rank in range(start, end):
            inliers[rank] = inliers_of(candidates[rank])
        if any(count >= config.min_inliers for count in inliers[:end]):
            break
        start = end
    scored = list(zip(range(len(candidates)), candidates, inliers, strict=True))
    verified = sorted((s for s in scored if s[2] >= config.min_inliers), key=lambda s: (-s[2], s[0]))
    rest = [s for s in scored if s[2] < config.min_inliers]
    return [(candidate, count) for _, candidate, count in verified + rest]


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

    Every row's local features are extracted at most once. Each row verifies at most ``config.first`` of its
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

    return verify_pairs(similar_pairs(vectors, min(loose, strict)), len(vectors), load, strict, config)


def verify_pairs(
    candidates: tuple[np.ndarray, np.ndarray, np.ndarray],
    rows: int,
    load: Callable[[int], Image.Image | None],
    strict: float,
    config: SpatialConfig = SpatialConfig(),
) -> tuple[np.ndarray, np.ndarray]:
    """The linked pairs among ``candidates``: similarity ≥ ``strict``, or spatially verified.

    Args:
        candidates: ``(i int64[M], j int64[M], similarity float32[M])`` row pairs, e.g. from a vector index
            (:func:`mmir.search.duplicates.neighbour_pairs`), so no ``[N, D]`` matrix is needed.
        rows: ``N``, the number of rows the pairs index into.
        load: Decodes row ``i``'s image (``None`` if unreadable: its pairs are not verified).
        strict: Similarity that links two rows without verification.
        config: Verification settings (each row verifies at most ``config.first`` pairs, most similar first).

    Returns:
        ``(i int64[K], j int64[K])`` linked pairs, in the order of ``candidates``.
    """
    first, second, similarity = candidates
    order = np.argsort(-similarity, kind="stable")
    features: dict[int, LocalFeatures | None] = {}
    checked = np.zeros(rows, dtype=np.int64)

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
        elif checked[a] < config.first and checked[b] < config.first:
            checked[a] += 1
            checked[b] += 1
            fa, fb = local(a), local(b)
            if fa is not None and fb is not None and count_inliers(fa, fb, config) >= config.pair_min_inliers:
                keep.append(p)
    kept = np.sort(np.asarray(keep, dtype=np.int64))
    return first[kept], second[kept]
