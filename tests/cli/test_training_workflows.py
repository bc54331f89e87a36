"""Issue 24 part 2, the CLI half: training workflows live in mmir.learn (the CLI parses flags, calls, prints), and the
CLI reads collections only through the API."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, cast

import pytest

CLI = Path(__file__).parents[2] / "src" / "mmir" / "cli"


def test_the_cli_never_reaches_into_the_catalog_or_the_store() -> None:
    for path in CLI.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"index\.catalog|\.store\.catalog|\.store\b\.", text), path.name


def test_training_workflows_are_library_functions() -> None:
    """`train metric` encoded, trained and wrote its model folder inside cli/metric.py (~150 lines)."""
    metric = (CLI / "metric.py").read_text(encoding="utf-8")
    for helper in ("def read_groups", "def _train_head", "def _finetune", "def _image_batches", "write_projection_dir"):
        assert helper not in metric
    learn_imports = sum(len(re.findall(r"from mmir\.learn\.", p.read_text(encoding="utf-8"))) for p in CLI.glob("*.py"))
    assert learn_imports <= 13  # was 20; the rest go through one workflow module each (classify keeps its own)


def test_weak_label_sources_come_from_one_library_call(tmp_path: Path) -> None:
    from mmir.learn.weak_labels import LabelSource, read_weak_labels

    photos = tmp_path / "photos"
    (photos / "dogs").mkdir(parents=True)
    indexed = [str(photos / "dogs" / "beach_walk.jpg"), str(tmp_path / "other" / "cat.jpg")]
    (photos / "dogs" / "beach_walk.txt").write_text("Dog, Sand\n")
    folders = read_weak_labels(LabelSource.FOLDERS, indexed)
    assert [sorted(e.labels) for e in folders] == [["dogs"], ["other"]]
    names = read_weak_labels(LabelSource.NAMES, indexed)
    assert [sorted(e.labels) for e in names] == [["beach", "walk"], ["cat"]]
    sidecars = read_weak_labels(LabelSource.SIDECARS, indexed, photos)  # only files under the folder
    assert [(Path(e.path).name, sorted(e.labels)) for e in sidecars] == [("beach_walk.jpg", ["dog", "sand"])]
    csv_file = tmp_path / "tags.csv"
    csv_file.write_text("photos/dogs/beach_walk.jpg,dog;beach\n")
    tags = read_weak_labels(LabelSource.TAGS, indexed, csv_file)
    assert [sorted(e.labels) for e in tags] == [["beach", "dog"]]


def test_metric_config_from_flags_refuses_unknown_names_in_one_line() -> None:
    from mmir.errors import MmirError
    from mmir.learn.metric import MetricLoss
    from mmir.learn.metric_workflow import metric_config

    config = metric_config("arcface", "hard", margin=0.2, epochs=1, p=3, k=2, lr=1e-3, seed=0)
    assert config.loss is MetricLoss.ARCFACE and config.p == 3 and config.k == 2
    with pytest.raises(MmirError, match="arcfase"):
        metric_config("arcfase", "hard", margin=0.2, epochs=1, p=3, k=2, lr=1e-3, seed=0)


def test_config_changes_name_each_differing_setting() -> None:
    from mmir.learn.config_diff import config_changes
    from mmir.learn.recipe import TrainConfig
    from mmir.learn.schedule import Schedule

    old = TrainConfig()
    new = TrainConfig(lr=old.lr / 2, schedule=Schedule.STEP if old.schedule is not Schedule.STEP else Schedule.COSINE)
    schedules = f"schedule: {old.schedule.value} → {new.schedule.value}"
    assert config_changes(old, new) == f"lr: {old.lr} → {old.lr / 2}, {schedules}"
    assert config_changes(old, old) == "nothing"


def test_the_first_onnx_export_says_so_before_it_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The first ONNX export took ~25 s before any progress bar, in silence."""
    from mmir.errors import ModelError
    from mmir.models import onnx_cache
    from mmir.models.weights import Preprocessing

    monkeypatch.setattr(onnx_cache, "cache_root", lambda: tmp_path)

    def export_graph(*args: object, **kwargs: object) -> None:
        assert "exporting Tiny to ONNX (once)" in caplog.text  # said before the slow step starts
        raise ModelError("stop here")

    monkeypatch.setattr(onnx_cache, "_export_graph", export_graph)
    with caplog.at_level("INFO", logger="mmir.status"), pytest.raises(ModelError, match="stop here"):
        onnx_cache.export(
            cast(Any, object()), fingerprint="tiny@0", name="Tiny", concept_names=(), dim=4,
            preprocessing=Preprocessing(resize=8, crop=8, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0)),
        )  # fmt: skip
