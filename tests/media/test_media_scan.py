"""Tests of walking a collection root: order, filtering, symlinks, hidden entries and problems."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mmir.media import (
    IMAGE_EXTENSIONS,
    VIDEO_EXTENSIONS,
    FileEntry,
    MediaError,
    UnreadableMediaError,
    scan,
)
from mmir.media.scan import SkipReason, image_extensions
from mmir.types import MediaKind

CAFE = os.fsdecode(b"caf\xe9.jpg")


def _touch(path: Path | str, content: bytes = b"x") -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_bytes(content)


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    """A root holding images, non-images, hidden entries, symlinks and a loop."""
    root = tmp_path / "root"
    for name in ["b.jpg", "a.png", "A2.JPG", "z.Tiff", "with space é.jpeg", "a.jpg", "a/z.png"]:
        _touch(root / name)
    _touch(root / "sub" / "d.gif", b"12345")
    _touch(root / "sub" / "deep" / "e.webp")
    _touch(root / "x.jpg" / "inner.bmp")  # a directory with an image extension is walked, not listed
    _touch(root / "notes.txt")
    _touch(root / "clip.mp4")
    _touch(root / ".hidden" / "h.jpg")
    _touch(root / ".mmir" / "thumb.png")
    _touch(root / ".h.jpg")
    _touch(os.path.join(os.fsdecode(bytes(root)), CAFE))
    _touch(tmp_path / "outside.png")
    os.symlink(root / "b.jpg", root / "link_b.jpg")
    os.symlink(tmp_path / "outside.png", root / "link_out.png")
    os.symlink(root / "missing.png", root / "dangling.jpg")
    os.symlink(root, root / "loop")  # a symlinked directory: must not be followed
    os.symlink(root / "sub", root / "sublink.jpg")  # symlinked directory with an image name
    return root


def _rel(entries: list[FileEntry], root: Path) -> list[str]:
    return [os.path.relpath(e.path, root) for e in entries]


def test_scan_lists_images_in_sorted_order_skipping_hidden_and_symlinked_dirs(tree: Path) -> None:
    entries = list(scan(tree))
    assert _rel(entries, tree) == [
        "A2.JPG",
        "a.jpg",
        "a.png",
        "a/z.png",
        "b.jpg",
        CAFE,
        "clip.mp4",
        "link_b.jpg",
        "sub/d.gif",
        "sub/deep/e.webp",
        "with space é.jpeg",
        "x.jpg/inner.bmp",
        "z.Tiff",
    ]
    paths = [e.path for e in entries]
    assert paths == sorted(paths)
    assert all(os.path.isabs(p) and os.path.normpath(p) == p for p in paths)
    assert all(e.kind is (MediaKind.VIDEO if e.path.endswith(".mp4") else MediaKind.IMAGE) for e in entries)


def test_scan_is_deterministic(tree: Path) -> None:
    assert list(scan(tree)) == list(scan(tree))


def test_scan_entry_size_and_mtime_come_from_stat(tree: Path) -> None:
    os.utime(tree / "sub" / "d.gif", (1_000_000.5, 1_000_000.5))
    (entry,) = [e for e in scan(tree) if e.path.endswith("d.gif")]
    assert entry == FileEntry(str(tree / "sub" / "d.gif"), 5, 1_000_000.5, MediaKind.IMAGE)


def test_scan_keeps_symlink_name_with_target_metadata(tree: Path) -> None:
    by_name = {os.path.basename(e.path): e for e in scan(tree)}
    assert by_name["link_b.jpg"].path == str(tree / "link_b.jpg")
    assert by_name["link_b.jpg"].size == (tree / "b.jpg").stat().st_size
    assert "link_out.png" not in by_name  # its target is outside the root: never followed (issue 22)


def test_scan_says_what_it_skipped(tree: Path) -> None:
    skipped: dict[str, SkipReason] = {}
    list(scan(tree, on_skip=lambda path, reason: skipped.__setitem__(os.path.relpath(path, tree), reason)))
    assert skipped == {"link_out.png": SkipReason.LINK_OUTSIDE_ROOT}  # notes.txt is a sidecar, not skipped media


def test_scan_reports_dangling_symlink_and_goes_on(tree: Path) -> None:
    problems: list[MediaError] = []
    entries = list(scan(tree, on_problem=problems.append))
    assert len(entries) == 13  # 12 images and clip.mp4
    assert len(problems) == 1
    (problem,) = problems
    assert isinstance(problem, UnreadableMediaError)
    assert problem.path == str(tree / "dangling.jpg")
    assert "dangling" in problem.reason
    assert "dangling.jpg" in str(problem)
    assert len(list(scan(tree))) == 13  # without a handler the problem is skipped silently


def test_scan_reports_unlistable_subdirectory(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_scandir = os.scandir
    blocked = str(tree / "sub")

    def scandir(path: str) -> object:
        if os.fspath(path) == blocked:
            raise PermissionError(13, "Permission denied", path)
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    problems: list[MediaError] = []
    names = _rel(list(scan(tree, on_problem=problems.append)), tree)
    assert not any(n.startswith("sub/") for n in names)
    assert "z.Tiff" in names  # the walk went on after the problem
    assert [(p.path, p.reason) for p in problems if p.path == blocked] == [(blocked, "permission denied")]


@pytest.mark.skipif(os.geteuid() == 0, reason="root can list a chmod-000 directory")
def test_scan_reports_chmod_000_subdirectory(tree: Path) -> None:
    locked = tree / "sub"
    locked.chmod(0)
    try:
        problems: list[MediaError] = []
        names = _rel(list(scan(tree, on_problem=problems.append)), tree)
    finally:
        locked.chmod(0o755)
    assert "sub/d.gif" not in names
    assert any(p.path == str(locked) and p.reason == "permission denied" for p in problems)


def test_scan_single_file_root(tree: Path) -> None:
    assert [e.path for e in scan(tree / "A2.JPG")] == [str(tree / "A2.JPG")]
    assert [e.path for e in scan(os.fsencode(tree / CAFE))] == [str(tree / CAFE)]


def test_scan_single_symlinked_file_root_keeps_link_path(tree: Path) -> None:
    (entry,) = scan(tree / "link_out.png")
    assert entry.path == str(tree / "link_out.png")


def test_scan_normalises_relative_root(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tree / "sub")
    assert [e.path for e in scan("./deep/../deep")] == [str(tree / "sub" / "deep" / "e.webp")]


def test_scan_explicit_hidden_root_is_walked(tree: Path) -> None:
    assert _rel(list(scan(tree / ".hidden")), tree / ".hidden") == ["h.jpg"]


def test_scan_missing_root_raises_at_call(tmp_path: Path) -> None:
    with pytest.raises(UnreadableMediaError) as info:
        scan(tmp_path / "nope")  # not lazily, on first next()
    assert "nope" in str(info.value)
    assert "no such file" in info.value.reason


def test_scan_dangling_symlink_root(tree: Path) -> None:
    with pytest.raises(UnreadableMediaError, match="dangling"):
        scan(tree / "dangling.jpg")


@pytest.mark.parametrize("name", ["notes.txt"])
def test_scan_non_image_file_root_raises(tree: Path, name: str) -> None:
    with pytest.raises(MediaError) as info:
        scan(tree / name)
    assert name in str(info.value)
    assert "not an image or video file" in info.value.reason


def test_extension_sets() -> None:
    assert {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff"} <= IMAGE_EXTENSIONS
    assert {".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".3gp", ".mpg", ".mts", ".wmv"} <= VIDEO_EXTENSIONS
    assert image_extensions() >= IMAGE_EXTENSIONS and {".avif", ".qoi", ".tga"} <= image_extensions()
    assert not image_extensions() & VIDEO_EXTENSIONS and ".eps" not in image_extensions()  # needs Ghostscript
    assert all(e == e.lower() and e.startswith(".") for e in IMAGE_EXTENSIONS | VIDEO_EXTENSIONS)


def test_scan_lists_a_video_root_as_video(tree: Path) -> None:
    assert [e.kind for e in scan(tree / "clip.mp4")] == [MediaKind.VIDEO]
