"""Weak labels: label sources, the noise simulator, noise-robust heads, suspects, and the collection round trip."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageEnhance, ImageOps

from mmir.learn.labels_csv import DataError
from mmir.learn.noise import NoiseKind, corrupt_labels, transition_matrix
from mmir.learn.robust_heads import RobustConfig, RobustLoss, find_suspects, train_robust_heads
from mmir.learn.weak_labels import (
    WeakExample,
    from_folders,
    from_names,
    from_sidecars,
    from_tags_csv,
    keep_learnable,
)


# --- noise simulator -------------------------------------------------------------------------------------------
def test_symmetric_noise_flips_the_requested_share_to_other_classes_uniformly() -> None:
    clean = np.repeat(np.arange(10), 5000)
    noisy = corrupt_labels(clean, 0.4, 10, NoiseKind.SYMMETRIC, seed=1)
    assert abs(noisy.actual_rate - 0.4) < 0.01
    assert np.array_equal(noisy.flipped, noisy.labels != clean)
    t = transition_matrix(clean, noisy.labels, 10)
    assert np.allclose(np.diag(t), 0.6, atol=0.03)
    off = t[~np.eye(10, dtype=bool)]
    assert np.allclose(off, 0.4 / 9, atol=0.015)  # every wrong class equally likely


def test_pair_noise_sends_each_class_to_its_partner_only() -> None:
    clean = np.repeat(np.arange(4), 1000)
    pairs = np.array([1, 0, 3, 2])
    noisy = corrupt_labels(clean, 0.3, 4, NoiseKind.PAIR, seed=0, pairs=pairs)
    t = transition_matrix(clean, noisy.labels, 4)
    for c in range(4):
        assert t[c, pairs[c]] == pytest.approx(0.3, abs=0.05)
        assert t[c, c] + t[c, pairs[c]] == pytest.approx(1.0)
    default = corrupt_labels(clean, 1.0, 4, NoiseKind.PAIR)
    assert np.array_equal(default.labels, (clean + 1) % 4)


def test_noise_is_seeded_and_rejects_bad_arguments() -> None:
    clean = np.arange(100) % 5
    a, b = corrupt_labels(clean, 0.5, 5, seed=3), corrupt_labels(clean, 0.5, 5, seed=3)
    assert np.array_equal(a.labels, b.labels)
    assert corrupt_labels(clean, 0.0, 5).actual_rate == 0.0
    with pytest.raises(Exception, match="rate"):
        corrupt_labels(clean, 1.5, 5)
    with pytest.raises(Exception, match="lie in"):
        corrupt_labels(clean, 0.1, 3)
    with pytest.raises(Exception, match="another class"):
        corrupt_labels(clean, 0.1, 5, NoiseKind.PAIR, pairs=np.arange(5))


# --- label sources ---------------------------------------------------------------------------------------------
def test_folder_and_name_sources() -> None:
    folders = from_folders(["/p/Beach/0001.jpg", "/p/dogs/x.png"])
    assert [e.labels for e in folders] == [frozenset({"beach"}), frozenset({"dogs"})]
    names = from_names(["/p/IMG_2041_golden-dog.jpg", "/p/beachSunset2.png", "/p/DSC0001.JPG"])
    assert [e.labels for e in names] == [frozenset({"golden", "dog"}), frozenset({"beach", "sunset"}), frozenset()]


def test_sidecars_and_tags_csv(tmp_path: Path) -> None:
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "a.jpg.txt").write_text("Dog, Golden  Retriever\nbeach")
    (tmp_path / "b.tags").write_text("")  # an empty sidecar: a pure negative
    found = from_sidecars([str(tmp_path / n) for n in ("a.jpg", "b.jpg", "c.jpg")])
    assert [(Path(e.path).name, e.labels) for e in found] == [
        ("a.jpg", frozenset({"dog", "golden retriever", "beach"})),
        ("b.jpg", frozenset()),
    ]
    csv = tmp_path / "tags.csv"
    csv.write_text("path,labels\na.jpg,Cat;cat \nmissing.jpg,\n")
    rows = from_tags_csv(csv)
    assert rows[0] == WeakExample(str(tmp_path / "a.jpg"), frozenset({"cat"}))
    assert rows[1].labels == frozenset()


def test_keep_learnable_drops_rare_and_ubiquitous_labels() -> None:
    examples = [WeakExample(f"/{i}.jpg", frozenset({"all", "half" if i % 2 else "other", *(["rare"] * (i == 0))}))
                for i in range(10)]  # fmt: skip
    kept, dropped = keep_learnable(examples, min_examples=3, max_share=0.9)
    assert set(dropped) == {"all", "rare"}
    assert {label for e in kept for label in e.labels} == {"half", "other"}
    with pytest.raises(DataError, match="no learnable label"):
        keep_learnable(examples[:2], min_examples=3)


# --- robust heads and suspects ---------------------------------------------------------------------------------
def _blobs(n_per: int, classes: int, dim: int, seed: int, sample_seed: int = 100) -> tuple[np.ndarray, np.ndarray]:
    centres = np.random.default_rng(seed).normal(size=(classes, dim))
    rng = np.random.default_rng(sample_seed)
    labels = np.repeat(np.arange(classes), n_per)
    return (centres[labels] + 1.2 * rng.normal(size=(len(labels), dim))).astype(np.float32), labels


def test_suspects_are_mostly_the_flipped_labels() -> None:
    x, clean = _blobs(60, 4, 32, seed=0)
    noisy = corrupt_labels(clean, 0.2, 4, seed=0)
    labels = [frozenset({f"c{k}"}) for k in noisy.labels]
    result = train_robust_heads(x, labels, RobustConfig(epochs=30))
    assert result.exclusive
    flagged = np.array([s.index for s in result.suspects])
    precision = noisy.flipped[flagged].mean()
    recall = np.isin(np.flatnonzero(noisy.flipped), flagged).mean()
    assert precision > 0.8 and recall > 0.6, (precision, recall)
    # The suggestion is the true class for most flagged examples.
    suggested = np.array([int(s.suggested[1:]) for s in result.suspects if s.suggested])
    assert (suggested == clean[flagged]).mean() > 0.8


def test_find_suspects_by_hand() -> None:
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]], np.float32)
    given = np.array([[1, 0], [1, 0], [1, 0], [0, 1]], dtype=bool)
    # t_a = mean(0.9, 0.8, 0.3) = 0.667, t_b = 0.4. Row 2 (a: 0.3 < t_a; b: 0.7 ≥ t_b) is a suspect;
    # row 3 (b: 0.4 is not below t_b) is not.
    suspects = find_suspects(probs, given, ("a", "b"))
    assert [(s.index, s.label, s.suggested) for s in suspects] == [(2, "a", "b")]


def test_gce_resists_noise_better_than_plain_cross_entropy() -> None:
    x, clean = _blobs(50, 5, 256, seed=2)  # few examples in many dimensions: plain CE can memorise the noise
    test_x, test_y = _blobs(200, 5, 256, seed=2, sample_seed=101)  # same classes, new samples
    noisy = corrupt_labels(clean, 0.5, 5, seed=2)
    labels = [frozenset({str(k)}) for k in noisy.labels]

    def accuracy(loss: RobustLoss) -> float:
        heads = train_robust_heads(x, labels, RobustConfig(loss=loss, epochs=80, weight_decay=0.0)).heads
        return float((np.array(heads.names, int)[heads.decision(test_x).argmax(1)] == test_y).mean())

    assert accuracy(RobustLoss.GCE) > accuracy(RobustLoss.CROSS_ENTROPY) + 0.03


# --- collection round trip -------------------------------------------------------------------------------------
@pytest.fixture()
def folder_tree(tmp_path: Path) -> Path:
    """Three folders of real-photo variants; one rocket photo is misfiled among the cats."""
    from tests.conftest import skimage_data_dir

    root = tmp_path / "tree"
    for folder, photo in (("zorbs", "horse.png"), ("quixes", "rocket.jpg"), ("flums", "chelsea.png")):
        (root / folder).mkdir(parents=True)
        image = Image.open(skimage_data_dir() / photo).convert("RGB")
        w, h = image.size
        variants = [
            image,
            ImageOps.mirror(image),
            image.crop((w // 8, h // 8, w, h)),
            ImageEnhance.Brightness(image).enhance(0.7),
            image.crop((0, 0, w * 7 // 8, h * 7 // 8)),
        ]
        for n, variant in enumerate(variants):
            variant.save(root / folder / f"{n}.jpg", quality=90)
    shutil.move(root / "quixes" / "4.jpg", root / "flums" / "misfiled.jpg")
    return root


def test_weak_folder_labels_learn_searchable_concepts_without_decoding(
    tmp_path: Path, folder_tree: Path, reuse_lite0, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mmir.api import Collection

    with Collection.open(tmp_path / "coll", create=True) as coll:
        assert coll.index([folder_tree]).added == 15

    def no_decoding(*args: object, **kwargs: object) -> None:
        raise AssertionError("weak-label training must not decode media")

    import mmir.media.image

    monkeypatch.setattr(mmir.media.image, "decode_image", no_decoding)
    with Collection.open(tmp_path / "coll") as coll:
        report = coll.learn_weak_concepts(from_folders(coll.indexed_paths()), min_examples=3)
        assert coll._encoder is None  # stored descriptors only: the CNN was never built
    assert report.result.heads.names == ("flums", "quixes", "zorbs")
    assert [Path(report.paths[s.index]).name for s in report.result.suspects] == ["misfiled.jpg"]
    assert report.result.suspects[0].suggested == "quixes"

    with Collection.open(tmp_path / "coll") as coll:
        hits = coll.search_text("zorbs", k=5)
        assert coll._encoder is None
        assert sorted(Path(h.media.path).parent.name for h in hits) == ["zorbs"] * 5


def test_a_sidecar_that_is_not_text_is_a_clear_error_naming_it(tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(b"")
    (tmp_path / "a.jpg.txt").write_bytes(b"\xff\xfe\x00 not utf-8 \x80")
    with pytest.raises(DataError, match=r"a\.jpg\.txt: cannot read tags"):
        from_sidecars([str(tmp_path / "a.jpg")])
