"""Hits as the API sends them: video shots carry their time range, paths never leave the roots' names."""

from __future__ import annotations

import os

from mmir.server.hits import PathMapper, hit_json
from mmir.types import Hit, MediaKind, MediaRef, Segment


def _hit(path: str, kind: MediaKind, start: float = 0.0, end: float = 0.0) -> Hit:
    media = MediaRef(7, path, kind, 10, 1.0, "ab")
    return Hit(media, Segment(70, 7, start, end, start), 0.5, (f"similar to {path} (score 0.5)",))


def test_video_shots_carry_start_and_end_and_photos_do_not() -> None:
    paths = PathMapper.for_roots(["/data/clips", "/data"])
    shot = hit_json(1, _hit("/data/clips/trip.mp4", MediaKind.VIDEO, 12.0, 18.5), paths)
    assert (shot["start"], shot["end"], shot["kind"]) == (12.0, 18.5, "video")
    assert shot["path"] == "clips/trip.mp4" and shot["why"] == ["similar to clips/trip.mp4 (score 0.5)"]
    photo = hit_json(2, _hit("/data/a/b.jpg", MediaKind.IMAGE), paths)
    assert photo["start"] is None and photo["end"] is None and photo["path"] == "data/a/b.jpg"


def test_paths_outside_every_root_show_only_their_name() -> None:
    paths = PathMapper.for_roots(["/data"])
    assert paths.relative("/database/secret.jpg") == "secret.jpg"  # a prefix of the name is not a parent
    odd = os.fsdecode(b"/data/caf\xe9.jpg")
    assert paths.relative(odd) == "data/caf\\xe9.jpg"
    assert PathMapper.common_root(["/x/a/1.jpg", "/x/b/2.jpg"]).relative("/x/b/2.jpg") == "x/b/2.jpg"
    assert PathMapper.common_root([]).relative("/x/1.jpg") == "1.jpg"
