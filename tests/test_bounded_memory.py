"""Steps over the whole collection read bounded samples or chunks, never every descriptor or concept row at once."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mmir.api import Collection
from mmir.index import tuning
from mmir.index.catalog import Catalog, SegmentEncoding
from mmir.index.manifest import Manifest
from mmir.index.store import SegmentStore
from mmir.types import MediaKind


def test_pca_is_learned_on_a_bounded_random_sample(
    tmp_path: Path, photo_dir: Path, reuse_lite0, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mmir.collection.learning
    from mmir.models.pca import PCAWhitening

    seen: list[tuple[int, ...]] = []
    original = PCAWhitening.fit

    def spy(descriptors, *args, **kwargs):
        seen.append(descriptors.shape)
        return original(descriptors, *args, **kwargs)

    monkeypatch.setattr(PCAWhitening, "fit", staticmethod(spy))
    monkeypatch.setattr(mmir.collection.learning, "PCA_SAMPLE", 4)
    with Collection.open(tmp_path / "c", create=True) as collection:
        collection.index([photo_dir])
        assert collection.info().segments == 6
        collection.learn_pca(3)
        assert seen == [(4, 1280)]
        hit = collection.search_image(photo_dir / "coffee.png", k=1)[0]
        assert Path(hit.media.path).name == "coffee.png"  # the projection still serves search


# --- Whole-collection passes stream the catalog (part 4 of issue 11) --------------------------------------------

DIM = 16


def _store(directory: Path, vectors: np.ndarray) -> SegmentStore:
    """A collection with one file (one segment) per vector, the vector index kept in step."""
    directory.mkdir(parents=True)
    manifest = Manifest(model="synthetic", fingerprint="synthetic:1", dim=vectors.shape[1])
    manifest.save(directory / SegmentStore.MANIFEST)
    store = SegmentStore(directory, manifest)
    for i, vector in enumerate(vectors):
        store.put(f"/d/{i}.jpg", MediaKind.IMAGE, 1, 0.0, f"s{i}",
                  [SegmentEncoding(descriptor=vector, concepts=np.zeros(3, np.float32))])  # fmt: skip
    store.flush()
    return store


def _clusters(n: int, seed: int = 0, spread: float = 0.5) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((12, DIM))[rng.integers(0, 12, n)] + spread * rng.standard_normal((n, DIM))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _no_full_reads(monkeypatch: pytest.MonkeyPatch, batch_limit: int) -> list[int]:
    """Make every whole-catalog read fail and record the size of each chunked read (asserted ≤ ``batch_limit``)."""
    for name in ("all_descriptors", "all_concepts", "all_media_descriptors"):
        monkeypatch.setattr(Catalog, name, lambda self, name=name: pytest.fail(f"{name} read every row at once"))
    sizes: list[int] = []
    iterate, by_ids = Catalog.iter_descriptors, Catalog.descriptors_by_ids

    def iter_descriptors(self: Catalog, batch: int):
        for ids, descriptors in iterate(self, batch):
            sizes.append(len(ids))
            yield ids, descriptors

    def descriptors_by_ids(self: Catalog, ids):
        found = by_ids(self, ids)
        sizes.append(len(found[0]))
        return found

    monkeypatch.setattr(Catalog, "iter_descriptors", iter_descriptors)
    monkeypatch.setattr(Catalog, "descriptors_by_ids", descriptors_by_ids)
    return sizes


@pytest.mark.parametrize("method", ["rocchio", "classifier"])
def test_feedback_streams_descriptors_and_ranks_as_the_full_matrix_did(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, method: str
) -> None:
    from mmir.search.feedback import FeedbackMethod, FeedbackSource, Marks, feedback_scores, to_unit_range
    from mmir.search.grouping import group

    store = _store(tmp_path / "c", _clusters(150))
    chosen = FeedbackMethod(method)
    # The ranking as computed before streaming: every projected descriptor in one matrix.
    ids, descriptors = store.catalog.all_descriptors()

    def media_vectors(media_ids: list[int]) -> np.ndarray:
        rows = [store.project(store.catalog.descriptor_of_media(m)).mean(axis=0) for m in media_ids]
        return np.stack([row / np.linalg.norm(row) for row in rows]).astype(np.float32)

    marks = Marks(media_vectors([3, 7]), media_vectors([40]))
    scores = feedback_scores(chosen, marks, np.ascontiguousarray(store.project(descriptors), np.float32))
    old = np.argsort(-scores, kind="stable")[:10]

    sizes = _no_full_reads(monkeypatch, 7)
    hits = group(FeedbackSource(store, marks, chosen, batch=7), store.catalog, 10)
    assert [h.segment.id for h in hits] == ids[old].tolist()  # one segment a file: files keep the segment order
    np.testing.assert_allclose([h.score for h in hits], to_unit_range(chosen, scores[old]), rtol=1e-5, atol=1e-6)
    streamed = [size for size in sizes if size == 7]
    assert len(streamed) == 150 // 7 and max(sizes) <= (7 if chosen is FeedbackMethod.ROCCHIO else 150)


def test_near_duplicates_ask_the_index_for_neighbours_and_find_the_same_groups(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mmir.collection.duplicates
    from mmir.collection.duplicates import near_duplicates
    from mmir.search import duplicates
    from mmir.search.duplicates import near_duplicate_groups

    original = duplicates.neighbour_pairs
    rng = np.random.default_rng(1)
    base = _clusters(60, seed=2, spread=2.0)
    copies = [base[i] + 0.01 * rng.standard_normal(DIM) for i in (0, 0, 0, 0, 0, 5, 5, 9)]  # a group of six
    vectors = np.vstack([base, np.asarray(copies, np.float32)])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    store = _store(tmp_path / "c", vectors.astype(np.float32))
    ids, descriptors = store.catalog.all_descriptors()
    for threshold in (0.99, 0.9, 0.6):
        old = near_duplicate_groups(ids, store.project(descriptors), threshold)
        with monkeypatch.context() as patch:
            sizes = _no_full_reads(patch, 5)
            patch.setattr(mmir.collection.duplicates, "BATCH", 5)
            patch.setattr(duplicates, "neighbour_pairs", functools.partial(original, first_k=2))
            groups = near_duplicates(store, threshold)
        assert max(sizes) <= 5
        rows = store.catalog.hits_rows([sid for group in old for sid in group])
        expected = [sorted({rows[sid][0].path for sid in group}) for group in old]
        assert sorted([ref.path for ref in group] for group in groups) == sorted(expected)
    assert any(len(group) == 6 for group in groups)  # found through re-asking: the first ask gave 2 neighbours


def test_near_duplicates_through_an_approximate_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mmir.collection.duplicates import near_duplicates
    from mmir.search.duplicates import near_duplicate_groups

    monkeypatch.setattr(tuning, "EXACT_MAX", 300)
    monkeypatch.setattr(tuning, "BACK_TO_EXACT", 150)
    rng = np.random.default_rng(4)
    base = _clusters(380, seed=5, spread=2.0)
    copies = base[:20] + 0.01 * rng.standard_normal((20, DIM))
    vectors = np.vstack([base, copies / np.linalg.norm(copies, axis=1, keepdims=True)]).astype(np.float32)
    store = _store(tmp_path / "c", vectors)
    assert "IVF" in store.describe_vectors().index_type
    ids, descriptors = store.catalog.all_descriptors()
    old = near_duplicate_groups(ids, store.project(descriptors), 0.95)
    assert len(old) >= 20
    groups = near_duplicates(store, 0.95)
    assert len(groups) == len(old)


def test_learning_user_concepts_reads_only_the_files_it_uses(
    tmp_path: Path, photo_dir: Path, reuse_lite0, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mmir.learn.labels_csv import LabelledPath

    with Collection.open(tmp_path / "c", create=True) as collection:
        collection.index([photo_dir])
        all_ids, all_rows = collection.store.catalog.all_media_descriptors()
        some = all_ids[[4, 0, 2]]
        got_ids, got = collection.store.catalog.media_descriptors_by_ids([*some.tolist(), 99_999])
        np.testing.assert_array_equal(got_ids, some)  # the order asked for; unknown files left out
        np.testing.assert_array_equal(got, all_rows[[4, 0, 2]])
        sizes = _no_full_reads(monkeypatch, 4)
        examples = [LabelledPath(photo_dir / name, frozenset({"mine"}), 2) for name in ("horse.png", "coffee.png")]
        collection.learn_concepts(examples, negatives=3)
        collection.engine.block_rows = 4
        hits = collection.search_text("mine", k=2)  # user-concept columns scored block by block
        assert {Path(hit.media.path).name for hit in hits} == {"horse.png", "coffee.png"}
        assert max(sizes, default=0) <= 4


def test_spatial_near_duplicates_take_candidates_from_the_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.conftest import skimage_data_dir

    import mmir.collection.duplicates
    from mmir.collection.duplicates import near_duplicates
    from mmir.search.spatial import SpatialConfig

    photo = Image.open(skimage_data_dir() / "astronaut.png").convert("RGB")
    width, height = photo.size
    crop = photo.crop((width // 5, height // 5, width * 4 // 5, height * 4 // 5))  # a 60 % crop
    vectors = _clusters(40, seed=3, spread=2.0)
    # The crop's descriptor is only loosely like its original's (cosine ~0.7): below the strict threshold.
    twin = 0.7 * vectors[0] + np.sqrt(1 - 0.7**2) * _clusters(1, seed=9)[0]
    vectors = np.vstack([vectors, twin[None] / np.linalg.norm(twin)]).astype(np.float32)
    store = _store(tmp_path / "c", vectors)
    ids = store.catalog.segment_ids()
    images = {int(ids[0]): photo, int(ids[-1]): crop}
    decoded: list[int] = []

    def loader(store_: SegmentStore, rows: np.ndarray, max_side: int):
        def load(row: int) -> Image.Image | None:
            decoded.append(int(rows[row]))
            return images.get(int(rows[row]))

        return load

    monkeypatch.setattr(mmir.collection.duplicates, "_segment_image_loader", loader)
    _no_full_reads(monkeypatch, 64)
    groups = near_duplicates(store, 0.9, spatial=SpatialConfig(), loose=0.5)
    paths = store.catalog.hits_rows([int(ids[0]), int(ids[-1])])
    assert [sorted(ref.path for ref in group) for group in groups] == [
        sorted(paths[int(i)][0].path for i in (ids[0], ids[-1]))
    ]
    assert set(decoded) <= {int(i) for i in ids}  # only files of loose pairs are decoded, never all of them
    assert int(ids[0]) in decoded and len(set(decoded)) < len(ids)
