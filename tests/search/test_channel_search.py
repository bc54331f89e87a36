"""Engineered descriptor channels end to end: stored in the indexing pass, searched alone and fused."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, ImageOps

from mmir.indexing.pipeline import IndexOptions


def test_index_with_channels_then_search_each_and_fused(tmp_path: Path, photo_dir: Path, reuse_lite0) -> None:
    pytest.importorskip("cv2")
    from mmir.api import Collection
    from mmir.index.channels import channel_names, channel_vectors

    query = tmp_path / "query.png"
    ImageOps.mirror(Image.open(photo_dir / "coffee.png").convert("RGB")).save(query)
    with Collection.open(tmp_path / "coll", create=True) as coll:
        channels = coll.channel_extractors(["cnn", "colour", "lbp", "hog", "bovw"], [photo_dir])
        report = coll.index([photo_dir], IndexOptions(channels=tuple(channels)), channel_sink=coll.channel_sink())
        assert report.added == 6
        assert (coll.directory / "bovw-vocabulary.npy").exists()
        assert channel_names(coll.store.catalog) == ["bovw", "colour", "hog", "lbp"]
        assert len(channel_vectors(coll.store.catalog, "colour")[0]) == 6

        # A mirror image has exactly the original's colour histogram: colour search finds it first, with 1.0.
        hits = coll.search_image_descriptor(query, k=3, descriptor="colour")
        assert Path(hits[0].media.path).name == "coffee.png"
        assert hits[0].score == pytest.approx(1.0, abs=1e-4)
        for descriptor in ("lbp", "cnn"):
            assert Path(coll.search_image_descriptor(query, 1, descriptor)[0].media.path).name == "coffee.png"
        for fusion in ("late", "early"):
            fused = coll.search_image_descriptor(query, k=6, descriptor="fused", fusion=fusion)
            assert Path(fused[0].media.path).name == "coffee.png"
            assert len(fused) == 6 and "lbp" in fused[0].why[0] and "cnn" in fused[0].why[0]
            assert "bovw" not in fused[0].why[0]  # weight 0 by default (validated): not searched
        everything = {"cnn": 1.0, "colour": 0.5, "lbp": 0.25, "hog": 0.25, "bovw": 0.25}
        fused = coll.search_image_descriptor(query, k=6, descriptor="fused", weights=everything)
        assert Path(fused[0].media.path).name == "coffee.png"
        assert all(name in fused[0].why[0] for name in everything)
        no_colour = coll.search_image_descriptor(query, k=6, descriptor="fused", weights={"colour": 0})
        assert "colour" not in no_colour[0].why[0] and "cnn" in no_colour[0].why[0]  # weight 0: not searched
        with pytest.raises(Exception, match="unknown descriptor"):
            coll.search_image_descriptor(query, 1, "sift")
        saved = sorted(p.name for p in (coll.directory / "channel-indexes").glob("*.faiss"))
        assert saved == ["bovw.faiss", "colour.faiss", "hog.faiss", "lbp.faiss"]  # cnn: the main vector index

    # A deleted file leaves every channel's index (the engineered ones through the catalog's change log).
    (photo_dir / "coffee.png").unlink()
    with Collection.open(tmp_path / "coll") as coll:
        coll.index([photo_dir], IndexOptions(channels=tuple(channels)), channel_sink=coll.channel_sink())
        for descriptor in ("colour", "fused"):
            names = [Path(h.media.path).name for h in coll.search_image_descriptor(query, 6, descriptor)]
            assert len(names) == 5 and "coffee.png" not in names
