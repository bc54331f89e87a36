"""Steps over the whole collection read bounded samples, not every descriptor."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmir.api import Collection


def test_pca_is_learned_on_a_bounded_random_sample(
    tmp_path: Path, photo_dir: Path, reuse_lite0, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mmir.collection_learning
    from mmir.models.pca import PCAWhitening

    seen: list[tuple[int, ...]] = []
    original = PCAWhitening.fit

    def spy(descriptors, *args, **kwargs):
        seen.append(descriptors.shape)
        return original(descriptors, *args, **kwargs)

    monkeypatch.setattr(PCAWhitening, "fit", staticmethod(spy))
    monkeypatch.setattr(mmir.collection_learning, "PCA_SAMPLE", 4)
    with Collection.open(tmp_path / "c", create=True) as collection:
        collection.index([photo_dir])
        assert collection.info().segments == 6
        collection.learn_pca(3)
        assert seen == [(4, 1280)]
        hit = collection.search_image(photo_dir / "coffee.png", k=1)[0]
        assert Path(hit.media.path).name == "coffee.png"  # the projection still serves search
