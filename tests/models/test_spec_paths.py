"""A model reference's local files are recorded absolute, so a collection reopens from any folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmir.models.spec import with_absolute_paths


def test_local_files_named_by_a_model_and_its_options_become_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "run").mkdir()
    (tmp_path / "cfg.json").write_text("{}")
    assert with_absolute_paths("run", None) == (str(tmp_path / "run"), None)
    assert with_absolute_paths("open_clip:cfg.json", None)[0] == f"open_clip:{tmp_path / 'cfg.json'}"
    model, options = with_absolute_paths("timm:resnet18", {"weights_path": "w.pt", "pooling": "gem"})
    assert (model, options) == ("timm:resnet18", {"weights_path": str(tmp_path / "w.pt"), "pooling": "gem"})
    # Names that are not local files stay as they are.
    assert with_absolute_paths("efficientnet-lite0", {}) == ("efficientnet-lite0", {})
    assert with_absolute_paths("open_clip:ViT-B-32", None) == ("open_clip:ViT-B-32", None)
