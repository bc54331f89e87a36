"""Engineered descriptors: hand-computed values, invariances, fusion weights and channel storage."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps
from tests.conftest import skimage_data_dir

from mmir.models.engineered import (
    BagOfWordsExtractor,
    ColourExtractor,
    HOGExtractor,
    LBPExtractor,
    extractors,
    hsv_histogram,
    lbp_codes,
    learn_vocabulary,
    tfidf,
)
from mmir.search.fusion import early_fusion, late_fusion, parse_weights, zscore


@pytest.fixture(scope="module")
def cat() -> Image.Image:
    return Image.open(skimage_data_dir() / "chelsea.png").convert("RGB")


def test_hsv_histogram_by_hand() -> None:
    # red, red / blue, white. PIL HSV: red (0, 255, 255), blue (170, 255, 255), white (0, 0, 255).
    pixels = np.array([[[255, 0, 0], [255, 0, 0]], [[0, 0, 255], [255, 255, 255]]], np.uint8)
    hist = hsv_histogram(Image.fromarray(pixels), (8, 3, 3))
    # bin = (h·3 + s)·3 + v with h = H·8//256, s = S·3//256, v = V·3//256:
    # red (0, 2, 2) → 8; blue (5, 2, 2) → 53; white (0, 0, 2) → 2.
    expected = np.zeros(72, np.float32)
    expected[[8, 53, 2]] = [0.5, 0.25, 0.25]
    assert np.array_equal(hist, expected)


def test_lbp_code_by_hand() -> None:
    # Centre 5; neighbours ≥ 5 on the right half only: one run of ones → uniform, code = number of ones.
    patch = np.array([[1, 1, 9], [1, 5, 9], [1, 1, 9]], np.float32)
    assert lbp_codes(patch, 1).tolist() == [[3]]
    # Alternating neighbours: 8 transitions → non-uniform code 9.
    chequer = np.array([[9, 1, 9], [1, 5, 1], [9, 1, 9]], np.float32)
    assert lbp_codes(chequer, 1).tolist() == [[9]]


def test_colour_and_lbp_are_invariant_to_mirroring_and_quarter_turns(cat: Image.Image) -> None:
    for extractor in (ColourExtractor(), LBPExtractor()):
        original = extractor.extract(cat)
        assert original.dtype == np.float32
        assert np.linalg.norm(original) == pytest.approx(1.0, abs=1e-5)
        # LBP interpolates its circle's samples: the mirrored weights differ in their last bits, which flips a
        # handful of near-tie comparisons at radii 2 and 3 (4.5e-5 at most on this photo).
        assert np.allclose(extractor.extract(ImageOps.mirror(cat)), original, atol=1e-4), extractor.name
        # A quarter turn changes the resampling when the photo is shrunk, nothing else.
        turned = extractor.extract(cat.transpose(Image.Transpose.ROTATE_90))
        assert float(turned @ original) > 0.999, extractor.name


def test_lbp_and_hog_are_scikit_images(cat: Image.Image) -> None:
    from skimage.feature import hog, local_binary_pattern

    grey = np.asarray(cat.convert("L"), dtype=np.uint8)
    assert np.array_equal(lbp_codes(grey, 2), local_binary_pattern(grey, 8, 2, method="uniform")[2:-2, 2:-2])
    small = np.asarray(cat.convert("L").resize((64, 64)), dtype=np.float32)
    expected = hog(small, orientations=9, pixels_per_cell=(8, 8), cells_per_block=(2, 2), block_norm="L2-Hys")
    assert np.allclose(HOGExtractor().extract(cat), expected / np.linalg.norm(expected), atol=1e-6)


def test_too_small_for_a_hog_block_is_an_empty_vector() -> None:
    from mmir.models.engineered import hog

    assert hog(np.zeros((12, 40), np.float32)).shape == (0,)


def test_hog_sees_the_mirror_image_as_different(cat: Image.Image) -> None:
    hog = HOGExtractor().extract(cat)
    assert hog.shape == (1764,)
    assert np.linalg.norm(hog) == pytest.approx(1.0, abs=1e-5)
    assert float(hog @ HOGExtractor().extract(ImageOps.mirror(cat))) < 0.95  # gradients have a direction
    assert float(hog @ HOGExtractor().extract(cat.resize((200, 133)))) > 0.95  # but not a resolution


def test_bag_of_words_counts_and_tfidf(cat: Image.Image) -> None:
    pytest.importorskip("cv2")
    coffee = Image.open(skimage_data_dir() / "coffee.png").convert("RGB")
    vocabulary = learn_vocabulary([cat, coffee], words=32)
    assert vocabulary.shape == (32, 256)
    counts = BagOfWordsExtractor(vocabulary).extract(cat)
    assert counts.shape == (32,) and counts.sum() > 100 and np.all(counts == np.round(counts))
    # tf-idf by hand: word 0 is in both documents (idf = log(2/3) + 1), word 1 only in the first (log(2/2) + 1).
    weighted, idf = tfidf(np.array([[2.0, 2.0], [1.0, 0.0]], np.float32))
    assert idf == pytest.approx([np.log(2 / 3) + 1, 1.0])
    first = np.array([0.5 * idf[0], 0.5 * idf[1]])
    assert weighted[0] == pytest.approx(first / np.linalg.norm(first))


def test_extractors_by_name() -> None:
    assert [e.name for e in extractors(["cnn", "colour", "LBP"])] == ["colour", "lbp"]
    with pytest.raises(Exception, match="unknown descriptor 'sift'"):
        extractors(["sift"])
    with pytest.raises(Exception, match="vocabulary"):
        extractors(["bovw"])


def test_early_fusion_weights_give_the_weighted_mean_cosine() -> None:
    a = {"cnn": np.array([[1.0, 0.0]]), "colour": np.array([[0.0, 3.0, 4.0]])}
    b = {"cnn": np.array([[0.6, 0.8]]), "colour": np.array([[0.0, 4.0, 3.0]])}
    weights = {"cnn": 3.0, "colour": 1.0}
    fa, fb = early_fusion(a, weights), early_fusion(b, weights)
    assert np.linalg.norm(fa) == pytest.approx(1.0)
    # cos_cnn = 0.6, cos_colour = 24/25 = 0.96: fused = (3·0.6 + 1·0.96) / 4.
    assert float((fa @ fb.T)[0, 0]) == pytest.approx((3 * 0.6 + 0.96) / 4)
    cnn_only = {"cnn": 1.0, "colour": 0.0}
    assert float((early_fusion(a, cnn_only) @ early_fusion(b, cnn_only).T)[0, 0]) == pytest.approx(0.6)


def test_late_fusion_is_blind_to_each_channels_scale_and_follows_the_weights() -> None:
    cnn = np.array([0.1, 0.5, 0.9])
    colour = np.array([0.97, 0.95, 0.96])  # squeezed near 1, as colour cosines are
    fused = late_fusion({"cnn": cnn, "colour": colour}, {"cnn": 1.0, "colour": 1.0})
    assert np.allclose(fused, (zscore(cnn) + zscore(colour)) / 2)
    assert np.allclose(late_fusion({"cnn": cnn, "colour": colour * 100}, {"cnn": 1, "colour": 1}), fused)
    only_cnn = late_fusion({"cnn": cnn, "colour": colour}, {"cnn": 1.0, "colour": 0.0})
    assert np.argsort(only_cnn).tolist() == [0, 1, 2]
    assert parse_weights("cnn=1, colour=0.5") == {"cnn": 1.0, "colour": 0.5}
    with pytest.raises(Exception, match="NAME=NUMBER"):
        parse_weights("cnn")


def test_channels_are_stored_copied_and_removed_with_their_file(tmp_path: Path) -> None:
    from mmir.index.catalog import Catalog, SegmentEncoding
    from mmir.index.channels import CatalogChannelSink, channel_names, channel_vectors
    from mmir.types import MediaKind

    catalog = Catalog(tmp_path / "catalog.sqlite")
    seg = SegmentEncoding(np.ones(4, np.float32), np.zeros(2, np.float32))
    with catalog.transaction():
        first = catalog.put_media("/a.jpg", MediaKind.IMAGE, 1, 1.0, "aa", [seg])[0]
        second = catalog.put_media("/b.jpg", MediaKind.IMAGE, 1, 1.0, "bb", [seg])[0]
    sink = CatalogChannelSink(catalog)
    sink.store(first, {"colour": np.array([0.6, 0.8], np.float32), "lbp": np.ones(3, np.float32)})
    sink.copy(first, second)
    assert channel_names(catalog) == ["colour", "lbp"]
    ids, vectors = channel_vectors(catalog, "colour")
    assert ids.tolist() == [first, second] and np.allclose(vectors, [[0.6, 0.8], [0.6, 0.8]])
    with catalog.transaction():
        catalog.remove_media(first)
    assert channel_vectors(catalog, "lbp")[0].tolist() == [second]
    catalog.close()


def test_hog_by_hand_on_a_vertical_edge() -> None:
    from mmir.models.engineered import hog

    grey = np.zeros((16, 16), np.float32)
    grey[:, 8:] = 1.0  # a vertical edge: horizontal gradients only, orientation 0°
    h = hog(grey, cell=8, block=2, bins=9).reshape(4, 9)  # one block of 2×2 cells
    # scikit-image's bins are [0°, 20°), [20°, 40°), …: 0° votes into bin 0 only. Each cell holds one column of
    # the edge's gradient, so the block's four equal values L2-Hys-normalise to 1/2 each.
    assert np.allclose(h[:, 1:], 0.0)
    assert np.allclose(h[:, 0], 0.5)
