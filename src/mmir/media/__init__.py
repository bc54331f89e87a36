"""Everything that touches raw media files: scanning, fingerprints, safe image decoding, errors."""

from __future__ import annotations

from mmir.media.errors import (
    CorruptMediaError,
    EmptyMediaError,
    MediaError,
    TooLargeMediaError,
    UnreadableMediaError,
)
from mmir.media.fingerprint import sha1_bytes, sha1_file
from mmir.media.image import ImageLimits, decode_for_model, decode_image, load_for_model, load_image, read_file
from mmir.media.paths import bytes_to_path, display_path, path_to_bytes
from mmir.media.scan import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, FileEntry, SkipReason, image_extensions, scan

__all__ = [
    "IMAGE_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "CorruptMediaError",
    "EmptyMediaError",
    "FileEntry",
    "ImageLimits",
    "MediaError",
    "SkipReason",
    "TooLargeMediaError",
    "UnreadableMediaError",
    "bytes_to_path",
    "decode_for_model",
    "decode_image",
    "display_path",
    "image_extensions",
    "load_for_model",
    "load_image",
    "path_to_bytes",
    "read_file",
    "scan",
    "sha1_bytes",
    "sha1_file",
]
