"""``mmir eval retrieval`` and ``mmir train metric`` as a user runs them, and the model entry they write."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mmir.evaluate.trec import write_qrels, write_run


def mmir(*args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-m", "mmir", *args], capture_output=True, text=True, env=env)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def test_eval_retrieval_of_a_run_file(tmp_path: Path) -> None:
    write_qrels(tmp_path / "qrels.txt", {"q1": {"a": 1, "b": 0, "c": 1}, "q2": {"d": 1}})
    write_run(tmp_path / "run.txt", {"q1": [("a", 3.0), ("b", 2.0), ("c", 1.0)], "q2": [("x", 2.0), ("d", 1.0)]})
    result = mmir(
        "eval",
        "retrieval",
        "--qrels",
        str(tmp_path / "qrels.txt"),
        "--run",
        str(tmp_path / "run.txt"),
        "--k",
        "1",
        "--k",
        "2",
        "--per-query",
        "--out",
        str(tmp_path / "figures.json"),
    )
    assert result.returncode == 0, result.stderr
    expected_map = ((1 + 2 / 3) / 2 + 0.5) / 2
    assert f"map       {expected_map:.4f}" in result.stdout
    assert "P@1       0.5000" in result.stdout
    assert "q1" in result.stdout
    assert '"map"' in (tmp_path / "figures.json").read_text()


def test_eval_retrieval_errors_are_one_line(tmp_path: Path) -> None:
    (tmp_path / "qrels.txt").write_text("q1 0 a\n")
    (tmp_path / "run.txt").write_text("q1 Q0 a 1 1.0 t\n")
    result = mmir("eval", "retrieval", "--qrels", str(tmp_path / "qrels.txt"), "--run", str(tmp_path / "run.txt"))
    assert result.returncode == 2
    assert "qrels.txt:1:" in result.stderr
    neither = mmir("eval", "retrieval", "--qrels", str(tmp_path / "qrels.txt"))
    assert neither.returncode == 2 and "exactly one of --run" in neither.stderr


def _group_folder(root: Path) -> Path:
    # Three groups of small images: a colour per group with per-image noise.
    rng = np.random.default_rng(0)
    for name, colour in {"red": (200, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 200)}.items():
        (root / name).mkdir(parents=True)
        for i in range(4):
            pixels = np.clip(np.array(colour) + rng.normal(0, 40, (48, 48, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    return root


@pytest.mark.slow
def test_train_metric_writes_a_model_entry_the_registry_loads(tmp_path: Path) -> None:
    groups = _group_folder(tmp_path / "groups")
    out = tmp_path / "runs" / "metric"
    result = mmir(
        "train",
        "metric",
        str(groups),
        "--out",
        str(out),
        "--epochs",
        "2",
        "--dim",
        "16",
        "--groups-per-batch",
        "3",
        "--per-group",
        "2",
        "--loss",
        "triplet",
        "--miner",
        "semihard",
    )
    assert result.returncode == 0, result.stderr
    assert (out / "modules.json").is_file() and (out / "metrics.json").is_file()
    assert (out / "2_ProjectionHead" / "model.safetensors").is_file()

    from mmir.models import load_encoder

    encoder = load_encoder(str(out))
    assert encoder.dim == 16
    assert "+head@" in encoder.fingerprint
    with Image.open(groups / "red" / "0.png") as image:
        encoded = encoder.encode([image.convert("RGB")])
    assert encoded.descriptors.shape == (1, 16)
    np.testing.assert_allclose(np.linalg.norm(encoded.descriptors, axis=1), 1.0, rtol=1e-5)
    assert encoded.concepts.shape == (1, 1000)

    bad = mmir("train", "metric", str(groups), "--out", str(out), "--loss", "nonsense")
    assert bad.returncode == 2 and "nonsense" in bad.stderr


def test_malformed_model_entries_are_clear_errors(tmp_path: Path) -> None:
    import torch

    from mmir.errors import ModelError
    from mmir.models import load_encoder
    from mmir.models.heads import ProjectionHead
    from mmir.models.model_dir import write_projection_dir

    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "model.json").write_text("{not json")
    with pytest.raises(ModelError, match="cannot read model entry"):
        load_encoder(tmp_path / "junk")
    torch.manual_seed(0)
    write_projection_dir(tmp_path / "entry", ProjectionHead(1280, 8), "efficientnet-lite0", {"pooling": "gem"})
    with pytest.raises(ModelError, match="trained with pooling='gem'"):
        load_encoder(tmp_path / "entry", pooling="avg")
    weights = tmp_path / "entry" / "2_ProjectionHead" / "model.safetensors"
    ProjectionHead(1280, 8).save(weights)  # another head behind the entry's back
    with pytest.raises(ModelError, match="does not match the hash"):
        load_encoder(tmp_path / "entry")
    weights.unlink()
    with pytest.raises(ModelError, match="head file missing"):
        load_encoder(tmp_path / "entry")


@pytest.mark.slow
def test_train_metric_fine_tunes_the_last_blocks_and_the_index_uses_them(tmp_path: Path) -> None:
    groups = _group_folder(tmp_path / "groups")
    out = tmp_path / "runs" / "ft"
    batches = ["--groups-per-batch", "3", "--per-group", "2"]
    common = ["--out", str(out), "--epochs", "1", *batches, "--loss", "multisimilarity"]
    result = mmir("train", "metric", str(groups), "--train-blocks", "1", "--alpha", "0.5", *common)
    assert result.returncode == 0, result.stderr
    meta = json.loads((out / "encoder.json").read_text())
    assert meta["train_blocks"] == 1 and meta["alpha"] == 0.5
    assert (out / "2_FineTunedTail" / "model.safetensors").is_file()

    collection = tmp_path / "coll"
    indexed = mmir("index", str(groups), "--collection", str(collection), "--model", str(out), "--no-progress")
    assert indexed.returncode == 0, indexed.stderr
    found = mmir("similar", str(groups / "red" / "0.png"), "--collection", str(collection), "--json")
    assert found.returncode == 0, found.stderr
    hits = json.loads(found.stdout)
    assert [Path(hit["path"]).parent.name for hit in hits[:3]] == ["red"] * 3  # its own group first

    wrong = mmir("train", "metric", str(groups), "--train-blocks", "40", *common)
    assert wrong.returncode == 2 and "between 0 and 16" in wrong.stderr
    other = mmir("train", "metric", str(groups), "--train-blocks", "2", "--model", "timm:resnet18", *common)
    assert other.returncode == 2 and "bundled models" in other.stderr


def test_groups_come_from_the_training_data_readers(tmp_path: Path) -> None:
    from mmir.errors import MmirError
    from mmir.learn.metric_workflow import read_groups

    folder = _group_folder(tmp_path / "groups")
    (folder / "red" / "notes.txt").write_text("not an image")  # the shared image suffixes leave it out
    paths, labels, names = read_groups(folder)
    assert names == ["blue", "green", "red"] and len(paths) == len(labels)
    assert all(p.suffix == ".png" for p in paths) and [names[i] for i in labels] == [p.parent.name for p in paths]
    csv_file = tmp_path / "groups.csv"
    csv_file.write_text("path,group\ngroups/red/0.png,a\ngroups/blue/0.png,b\n")
    paths, labels, names = read_groups(csv_file)
    assert paths == [folder / "red" / "0.png", folder / "blue" / "0.png"] and labels == [0, 1] and names == ["a", "b"]
    csv_file.write_text("groups/red/0.png,a;b\n")
    with pytest.raises(MmirError, match=r"groups.csv:1: expected 'path,group' with one group"):
        read_groups(csv_file)
    csv_file.write_text("groups/red/missing.png,a\n")
    with pytest.raises(MmirError, match=r"groups.csv:1: file not found"):
        read_groups(csv_file)
