"""Joint text–image models (open_clip) as a collection's encoder, with a randomly initialised tiny architecture.

No real checkpoint ships here and a test must never download: the model is a 1-layer ViT / 1-layer text
transformer from an open_clip model-config JSON, its random weights saved to a checkpoint file. What is tested is
the plumbing: shapes, fingerprints, saving and loading the checkpoint, the zero-shot concept head, the text
tower, rank fusion on a collection and the CLI path. Nothing here says anything about retrieval quality.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mmir.errors import ModelError

open_clip = pytest.importorskip("open_clip")
torch = pytest.importorskip("torch")

TINY = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 16, "head_width": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


def _checkpoint(folder: Path, config: Path, seed: int) -> Path:
    open_clip.add_model_config(config)
    torch.manual_seed(seed)
    net = open_clip.create_model(config.stem)
    path = folder / f"tiny-{seed}.pt"
    torch.save(net.state_dict(), path)
    return path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, Path]:
    """``(model name, checkpoint, second checkpoint with other random weights)``."""
    folder = tmp_path_factory.mktemp("tiny-clip")
    config = folder / "mmir-tiny-clip.json"
    config.write_text(json.dumps(TINY))
    return f"open_clip:{config}", _checkpoint(folder, config, 0), _checkpoint(folder, config, 1)


@pytest.fixture(scope="module")
def encoder(tiny: tuple[str, Path, Path]):
    from mmir.models import load_encoder

    name, weights, _ = tiny
    return load_encoder(name, backend="torch", weights_path=str(weights))


def _images(n: int = 6) -> list[Image.Image]:
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)) for _ in range(n)]


def test_image_tower_is_the_descriptor_and_zero_shot_gives_concepts(encoder, tiny) -> None:
    from mmir.models.joint import load_joint

    images = _images(3)
    out = encoder.encode(images)
    assert out.descriptors.shape == (3, 16) and encoder.dim == 16
    np.testing.assert_allclose(np.linalg.norm(out.descriptors, axis=1), 1.0, atol=1e-5)
    assert out.concepts.shape == (3, 1000) and len(encoder.concept_names) == 1000
    np.testing.assert_allclose(out.concepts.sum(axis=1), 1.0, atol=1e-4)
    model = load_joint(tiny[0].partition(":")[2], str(tiny[1]))
    with torch.inference_mode():
        batch = torch.from_numpy(np.stack([encoder.preprocess(image) for image in images]))
        direct = model.net.encode_image(batch, normalize=True).numpy()
    np.testing.assert_allclose(out.descriptors, direct, atol=1e-5)  # the stored descriptor is the image embedding
    head = encoder.runner.net.classifier.classes.numpy()  # the zero-shot head: class prompt embeddings
    logits = model.logit_scale * direct @ head.T
    expected = np.exp(logits - logits.max(axis=1, keepdims=True))
    np.testing.assert_allclose(out.concepts, expected / expected.sum(axis=1, keepdims=True), atol=1e-5)


def test_fingerprint_follows_the_checkpoint_file(encoder, tiny) -> None:
    from mmir.models import load_encoder

    name, weights, other = tiny
    assert encoder.fingerprint.startswith("open_clip:mmir-tiny-clip+cfg") and encoder.fingerprint.endswith("/avg")
    again = load_encoder(name, backend="torch", weights_path=str(weights), fingerprint=encoder.fingerprint)
    np.testing.assert_allclose(again.encode(_images(1)).descriptors, encoder.encode(_images(1)).descriptors)
    changed = load_encoder(name, backend="torch", weights_path=str(other))
    assert changed.fingerprint != encoder.fingerprint
    with pytest.raises(ModelError, match="now loads as"):
        load_encoder(name, backend="torch", weights_path=str(other), fingerprint=encoder.fingerprint)


def test_options_that_do_not_apply_are_refused(tiny, tmp_path: Path) -> None:
    from mmir.models import load_encoder

    name, weights, _ = tiny
    with pytest.raises(ModelError, match="needs --weights"):
        load_encoder(name, backend="torch")
    with pytest.raises(ModelError, match="pooling"):
        load_encoder(name, backend="torch", weights_path=str(weights), pooling="gem")
    with pytest.raises(ModelError, match="unknown open_clip architecture"):
        load_encoder("open_clip:no-such-net", backend="torch", weights_path=str(weights))
    narrower = tmp_path / "mmir-tiny-clip-8.json"
    narrower.write_text(json.dumps(TINY | {"embed_dim": 8}))
    with pytest.raises(ModelError, match="not a checkpoint of open_clip mmir-tiny-clip-8"):
        load_encoder(f"open_clip:{narrower}", backend="torch", weights_path=str(weights))
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError, match="bad.pt"):
        load_encoder(name, backend="torch", weights_path=str(bad))


def test_text_tower_only_for_joint_models_and_only_for_the_same_checkpoint(encoder, tiny) -> None:
    from mmir.models.joint import load_joint, text_tower_for

    name, weights, other = tiny
    assert text_tower_for("efficientnet-lite0", {}, "efficientnet-lite0@x/gem") is None
    tower = text_tower_for(name, {"weights_path": str(weights)}, encoder.fingerprint)
    assert tower is not None and tower.dim == 16
    texts = ["a red square", "a dog on a beach"]
    model = load_joint(name.partition(":")[2], str(weights))
    with torch.inference_mode():
        direct = model.net.encode_text(model.tokenizer(texts), normalize=True).numpy()
    np.testing.assert_allclose(tower.encode(texts), direct, atol=1e-6)
    with pytest.raises(ModelError, match="re-index"):
        text_tower_for(name, {"weights_path": str(other)}, encoder.fingerprint)


def test_collection_fuses_the_text_tower_with_concepts(tiny, tmp_path: Path) -> None:
    from mmir.api import Collection
    from mmir.search.joint_fusion import rank_fusion
    from mmir.search.text_fusion import fuse

    name, weights, _ = tiny
    photos = tmp_path / "photos"
    photos.mkdir()
    for n, image in enumerate(_images()):
        image.save(photos / f"img{n}.png")
    opts = {"weights_path": str(weights)}
    with Collection.open(tmp_path / "c", create=True, model=name, model_options=opts, backend="torch") as coll:
        coll.index([photos])
        tower = coll.engine._text_tower()
        assert tower is not None
        ids, probs = coll.store.catalog.all_concepts()  # the whole matrix: the oracle (no user concepts here)
        desc_ids, descriptors = coll.store.catalog.all_descriptors()
        assert list(desc_ids) == list(ids)
        for query in ("a dog on a beach", "xyzzy"):  # the second maps to no concept: the tower ranks alone
            mapping = coll.map_query(query)
            cosines = descriptors @ tower.encode([query])[0]
            concept = fuse(mapping, probs)
            expected = rank_fusion(cosines, concept.scores if concept.used else None)
            hits = coll.search_text(query, k=6)
            assert len(hits) == 6 and all(hit.why[0].startswith("joint model: text–image cosine") for hit in hits)
            by_path = {
                Path(coll.store.catalog.hits_rows([int(i)])[int(i)][0].path).name: s
                for i, s in zip(ids, expected, strict=True)
            }
            np.testing.assert_allclose([hit.score for hit in hits], sorted(by_path.values(), reverse=True), atol=1e-6)
            assert [by_path[Path(hit.media.path).name] for hit in hits] == sorted(by_path.values(), reverse=True)


@pytest.mark.slow
def test_cli_indexes_and_searches_with_an_open_clip_checkpoint(tiny, tmp_path: Path) -> None:
    """Relative --model/--weights paths still work when later commands run from another folder (found when tried)."""
    name, weights, _ = tiny
    photos = tmp_path / "photos"
    photos.mkdir()
    for n, image in enumerate(_images(3)):
        image.save(photos / f"img{n}.png")
    coll = str(tmp_path / "c")
    env = os.environ | {"HF_HUB_OFFLINE": "1"}

    def mmir(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "mmir", *args]
        return subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd)

    config = Path(name.partition(":")[2])
    relative = ("--model", f"open_clip:{config.name}", "--weights", weights.name, "--backend", "torch")
    made = mmir("index", str(photos), "-c", coll, *relative, "--no-progress", cwd=config.parent)
    assert made.returncode == 0, made.stderr
    found = mmir("search", "xyzzy quux", "-c", coll, "--json", cwd=tmp_path)
    assert found.returncode == 0, found.stderr
    hits = json.loads(found.stdout)
    assert len(hits) == 3 and "joint model" in hits[0]["why"][0]
