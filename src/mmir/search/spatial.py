"""Spatial verification: re-rank near-duplicate candidates by local-feature matches that agree on one geometry.

A global CNN descriptor summarises the whole picture, so a 60 % crop or a heavy rescale may rank a similar-looking
photo above its own original. Local features do not have that problem: ORB keypoints of the query are matched to
those of each of the top candidates (Hamming distance, Lowe's ratio test), and RANSAC fits a similarity transform
(rotation, uniform scale, translation: what crops, rescales and rotations do) to the matches. The number of inlier
matches says how much of the query is a geometric copy of the candidate (Philbin et al. 2007 re-rank the same way).

Re-ranking rule (it only helps): the top match stays first when its global score is at least ``near_exact``
(the descriptors already say it is a copy: an exact original is never demoted, whatever its inliers). Below
it, a candidate with at least ``min_inliers`` inliers moves above every unverified one (ordered among the
verified by inliers, then by the global score); the others keep their global order. The first ``first`` (20)
candidates are verified; while none of them verifies, the next 20, up to ``top`` (50): the CNN ranked the
original of some 40 % crops 21st to 93rd (with 3000 keypoints those originals had 13–315 inliers, wrong photos
at most 4). When the top candidate does not verify, the mirrored query is matched too (``mirror``): ORB
descriptors are not invariant to a mirror image, so a flipped copy verifies only that way (before, a flipped
copy's original verified nothing while another photo of its class reached 11 inliers and went first). Video
shots are verified on their keyframe, decoded from the video at its time. The defaults were chosen on
validation queries (``benchmarks/one_search.py``; ``benchmarks/descriptors.py`` for top / keypoints).

Cost per query: two ORB extractions of the query (it and its mirror), then per verified candidate (20 for most
queries, up to 50) one decode + ORB extraction + match + RANSAC, and a second match when the top candidate does
not verify. ``benchmarks/one_search.py`` measures it through ``Collection.search_image`` (decoding included).
Needs OpenCV (``pip install 'mmir[features]'``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from mmir.errors import require
from mmir.search.cancel import checkpoint

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
        mirror: Also match the mirrored query when the top candidate does not verify directly (finds flipped
            copies; twice the matching cost for those queries).
        scale_range: Plausible scale factors of a copy; a fit outside it is degenerate and counts 0 inliers.
        near_exact: Global score (cosine similarity of the descriptors) from which the top match is a
            near-duplicate of the query that re-ranking never demotes (``> 1``: no such protection).
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
    mirror: bool = True
    scale_range: tuple[float, float] = (0.1, 10.0)
    near_exact: float = 0.9


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
    scores: Sequence[float] | None = None,
) -> list[tuple[T, int]]:
    """Re-rank the first ``config.top`` of ``candidates`` (best first by global score) by spatial verification.

    Args:
        query: The query image.
        candidates: Candidates in global-score order (e.g. search hits).
        load: Decodes a candidate's image (``None`` if it cannot be read: it keeps its place, unverified).
        config: Settings.
        scores: The candidates' global scores (cosine similarities), to keep a near-exact top match first;
            ``None``: unknown, no candidate is protected.

    Returns:
        ``(candidate, inliers)`` for every candidate: see :func:`rerank_by_inliers`.
    """
    from PIL import ImageOps

    views: dict[bool, LocalFeatures] = {}  # the query's features, and its mirror's once needed
    features: dict[int, LocalFeatures | None] = {}  # by id(candidate): each candidate decoded once

    def inliers_with(mirrored: bool) -> Callable[[T], int]:
        def inliers_of(candidate: T) -> int:
            if mirrored not in views:
                views[mirrored] = extract_local(ImageOps.mirror(query) if mirrored else query, config)
            if id(candidate) not in features:
                image = load(candidate)
                features[id(candidate)] = None if image is None else extract_local(image, config)
            found = features[id(candidate)]
            return 0 if found is None else count_inliers(views[mirrored], found, config)

        return inliers_of

    mirrored = inliers_with(True) if config.mirror else None
    return rerank_by_inliers(candidates, inliers_with(False), config, scores, mirrored)


def rerank_by_inliers(
    candidates: Sequence[T],
    inliers_of: Callable[[T], int],
    config: SpatialConfig = SpatialConfig(),
    scores: Sequence[float] | None = None,
    mirrored_of: Callable[[T], int] | None = None,
) -> list[tuple[T, int]]:
    """The re-ranking rule, given how to count a candidate's inliers with the query (and with its mirror).

    The first ``config.first`` candidates are verified; then, while none verified (``inliers ≥
    min_inliers``) and the top match is not a near-exact one, the next ``config.first``, up to ``config.top``.
    Unless the top candidate verifies, the candidates are also matched with the mirrored query (``mirrored_of``;
    each keeps its larger count): a flipped copy verifies only that way, while a query whose copy is first (the
    usual case) costs no second match.

    Args:
        candidates: Candidates in global-score order.
        inliers_of: Inliers of a candidate with the query.
        config: Settings.
        scores: The candidates' global scores: a top match scoring at least ``config.near_exact`` keeps its
            place (``None``: none does).
        mirrored_of: Inliers of a candidate with the mirrored query (``None``: not tried).

    Returns:
        ``(candidate, inliers)`` for every candidate: a near-exact top match first, then the verified ones by
        inliers (ties: global order), then the rest in their original order; candidates never verified count 0.
    """
    kept = 1 if scores is not None and len(candidates) and scores[0] >= config.near_exact else 0
    inliers = [0] * len(candidates)
    limit, start = min(config.top, len(candidates)), 0
    while start < limit:
        checkpoint()  # each round decodes and matches up to config.first candidates
        end = min(start + max(1, config.first), limit)
        _verify(candidates, inliers, range(start, end), inliers_of)
        if mirrored_of is not None and inliers[0] < config.min_inliers:
            _verify(candidates, inliers, range(start, end), mirrored_of)
        if kept or any(count >= config.min_inliers for count in inliers[:end]):
            break  # a copy is first already: deeper candidates would only reorder the tail
        start = end
    scored = list(zip(range(len(candidates)), candidates, inliers, strict=True))
    head, tail = scored[:kept], scored[kept:]
    verified = sorted((s for s in tail if s[2] >= config.min_inliers), key=lambda s: (-s[2], s[0]))
    rest = [s for s in tail if s[2] < config.min_inliers]
    return [(candidate, count) for _, candidate, count in head + verified + rest]


def _verify(candidates: Sequence[T], inliers: list[int], ranks: range, count: Callable[[T], int]) -> None:
    """Raise ``inliers[rank]`` to ``count(candidates[rank])`` for ``ranks`` (in place)."""
    for rank in ranks:
        inliers[rank] = max(inliers[rank], count(candidates[rank]))


def load_segment_image(hit: Hit, side: int) -> Image.Image | None:
    """The picture a hit stands for: a photo, or a video shot's keyframe (``None`` if it cannot be read now).

    Decoded through media/: photos with at least ``side`` pixels on the shorter side (JPEG draft mode), a shot's
    keyframe from the video at its time with shorter side ``side``.
    """
    from mmir.media import MediaError, load_image
    from mmir.types import MediaKind

    try:
        if hit.media.kind is MediaKind.VIDEO:
            from PIL import Image as PILImage

            from mmir.media.video import DecodeOptions, VideoReader

            with VideoReader(hit.media.path, DecodeOptions(threads=1)) as reader:
                return PILImage.fromarray(reader.frame_at(hit.segment.keyframe_s, side))
        return load_image(hit.media.path, min_side=side)
    except MediaError:  # moved or changed since indexing: keep its global rank, unverified
        return None


def rerank_hits(query: Image.Image, hits: Sequence[Hit], config: SpatialConfig = SpatialConfig()) -> list[Hit]:
    """Search hits (best first, scores = cosine similarity) re-ranked by :func:`rerank`; verified hits say so.

    Photos and video shots (their keyframes) are verified, decoded through media/; a near-exact top hit
    (``score ≥ config.near_exact``) stays first.
    """
    ranked = rerank(query, hits, lambda hit: load_segment_image(hit, config.max_side), config, [h.score for h in hits])
    return [
        replace(hit, why=(*hit.why, f"{inliers} matching local features")) if inliers >= config.min_inliers else hit
        for hit, inliers in ranked
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

    from tqdm import tqdm

    keep = []
    # Minutes for a large collection (each verified file is decoded): a bar on a terminal (hidden when not a TTY).
    for p in tqdm(order.tolist(), desc="verifying pairs", unit="pair", disable=None, leave=False):
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
