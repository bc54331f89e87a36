"""The shot detector chosen for indexing (`mmir index --detector`) reaches video analysis, checked up front."""

from __future__ import annotations

import pytest

from mmir.indexing.types import IndexOptions, run_handlers
from mmir.indexing.video import VideoHandler


def test_index_options_shot_detector_reaches_the_video_handler() -> None:
    (handler,) = run_handlers(IndexOptions(handlers=(VideoHandler(),), shot_detector="content"))
    assert isinstance(handler, VideoHandler) and handler.options.detector == "content"
    (default,) = run_handlers(IndexOptions(handlers=(VideoHandler(),)))
    assert default.options.detector == "fast"  # type: ignore[attr-defined]


def test_unknown_shot_detector_fails_before_indexing() -> None:
    with pytest.raises(ValueError, match="unknown shot detector 'nope'"):
        run_handlers(IndexOptions(handlers=(VideoHandler(),), shot_detector="nope"))
