"""Tests of printable/lossless path helpers, the MediaError hierarchy and SHA-1 fingerprints."""

from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path

import pytest

from mmir.errors import MmirError
from mmir.media import (
    CorruptMediaError,
    EmptyMediaError,
    MediaError,
    TooLargeMediaError,
    UnreadableMediaError,
    bytes_to_path,
    display_path,
    path_to_bytes,
    sha1_bytes,
)

NON_UTF8 = os.fsdecode(b"/photos/caf\xe9.jpg")


def test_display_path_shows_non_utf8_bytes_as_hex_escapes() -> None:
    assert display_path(NON_UTF8) == "/photos/caf\\xe9.jpg"
    assert display_path(b"/photos/caf\xe9.jpg") == "/photos/caf\\xe9.jpg"
    display_path(NON_UTF8).encode("utf-8")  # printable anywhere


def test_display_path_keeps_unicode_and_spaces_and_escapes_control_characters() -> None:
    assert display_path(Path("/a b/café 猫.png")) == "/a b/café 猫.png"
    assert display_path("/x/new\nline.jpg") == "/x/new\\nline.jpg"


@pytest.mark.parametrize("odd", ["\ud800.jpg", b"\xff\xfe", "\x00", ""])
def test_display_path_never_raises(odd: str | bytes) -> None:
    shown = display_path(odd)
    assert isinstance(shown, str)
    shown.encode("utf-8")


@pytest.mark.parametrize(
    "raw", [b"/p/caf\xe9.jpg", b"/p/\xff\xfe\x80 x.png", "/p/猫 ü.jpg".encode(), b"rel/a.gif"]
)
def test_path_bytes_round_trip_is_lossless(raw: bytes) -> None:
    path = bytes_to_path(raw)
    assert isinstance(path, str)
    assert path_to_bytes(path) == raw
    assert bytes_to_path(path_to_bytes(path)) == path


def test_path_to_bytes_accepts_pathlike() -> None:
    assert path_to_bytes(Path("/a/b.jpg")) == b"/a/b.jpg"


@pytest.mark.parametrize(
    "cls", [MediaError, UnreadableMediaError, EmptyMediaError, CorruptMediaError, TooLargeMediaError]
)
def test_media_error_message_attributes_and_pickling(cls: type[MediaError]) -> None:
    err = cls(NON_UTF8, "zero-byte file")
    assert isinstance(err, MediaError)
    assert isinstance(err, MmirError)
    assert err.path == NON_UTF8
    assert err.reason == "zero-byte file"
    assert str(err) == "/photos/caf\\xe9.jpg: zero-byte file"
    copy = pickle.loads(pickle.dumps(err))
    assert type(copy) is cls
    assert (copy.path, copy.reason, str(copy)) == (err.path, err.reason, str(err))


def test_media_error_accepts_bytes_and_pathlike_paths() -> None:
    assert MediaError(b"/x/caf\xe9.png", "bad").path == os.fsdecode(b"/x/caf\xe9.png")
    assert MediaError(Path("/x/y.png"), "bad").path == "/x/y.png"


def test_sha1_bytes_matches_known_digest() -> None:
    assert sha1_bytes(b"abc") == "a9993e364706816aba3e25717850c26c9cd0d89d"
    data = bytes(range(256)) * 3
    assert sha1_bytes(data) == hashlib.sha1(data).hexdigest()
    assert sha1_bytes(data) != sha1_bytes(data + b"\0")
